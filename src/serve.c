/*
 * stripehook serve: a prefork FastCGI server (stripehook(8) serve).  The
 * master opens the socket (or takes systemd's), switches to the
 * configured user when started as root, forks the workers that each run
 * the FastCGI loop of fcgi.c, replaces a worker that dies (with a
 * back-off when it dies within a second of starting), and on SIGTERM
 * stops accepting, lets requests in flight finish and exits with no
 * child left.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stripehook.h"

#define SERVE_MAX_WORKERS	256
#define SERVE_BACKLOG		128
#define SERVE_QUICK_DEATH	1	/* seconds: a worker dying sooner backs off */
#define SERVE_BACKOFF_MAX	30	/* seconds */
#define SERVE_SOCKET_MODE	0660	/* stripehook(8) serve */
#define SERVE_SOCKET_UMASK	0117	/* makes a socket 0660 at bind */
#define SERVE_TMP_SUFFIX	11	/* ".PID" of the temporary name */

struct worker {
	pid_t	 pid;		/* 0: not running */
	time_t	 started;
	time_t	 respawn_at;	/* when pid is 0 */
	int	 backoff;
};

/* The master's state. */
struct serve {
	const char	*path;		/* the configuration file */
	const char	*listen_addr;	/* NULL: systemd's socket */
	char		*unix_path;	/* ours to remove at exit */
	struct passwd	*pw;		/* the user to switch to, or NULL */
	gid_t		 gid;		/* the socket's group, or -1 */
	int		 fd;		/* the listening socket */
	int		 nworkers;
	struct worker	 w[SERVE_MAX_WORKERS];
	long		 grace;		/* seconds a stop waits for workers */
	int		 stopping;
	time_t		 stop_deadline;
	struct runner_slot rs;		/* ack receipt: the runner (runner.c) */
};

static int	 sigpipe_fds[2] = { -1, -1 };

static void
on_signal(int sig)
{
	unsigned char	 c = (unsigned char)sig;
	int		 save = errno;

	/* A full pipe means a wake-up is pending anyway. */
	if (write(sigpipe_fds[1], &c, 1) == -1) {
	}
	errno = save;
}

static int
parse_workers(const char *s, int *out)
{
	long long	 v;

	if (parse_decimal(s, 1, SERVE_MAX_WORKERS, &v) != 0)
		return -1;
	*out = (int)v;
	return 0;
}

static int
is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return 0;
}

/*
 * The directory of the socket must be one nobody else can change: owned
 * by us or by root, and writable by group or others only with the sticky
 * bit (then nobody else can rename or remove our names).  Otherwise a
 * user who can write there could swap the names we create for links.
 */
static int
socket_dir_safe(const char *path)
{
	struct stat	 st;
	char		 dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char	*slash = strrchr(path, '/');
	size_t		 len = (size_t)(slash - path);

	if (len == 0)
		len = 1;		/* the root directory */
	if (len >= sizeof(dir))
		return -1;
	memcpy(dir, path, len);
	dir[len] = '\0';
	if (stat(dir, &st) == -1) {
		log_warn("--listen unix:%s: %s", path, dir);
		return -1;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
	    ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
	    (st.st_mode & S_ISVTX) == 0)) {
		log_warnx("--listen unix:%s: the directory %s can be written "
		    "by others (it must belong to root or to us, and be "
		    "writable by group or others only with the sticky bit)",
		    path, dir);
		return -1;
	}
	return 0;
}

/*
 * Binds fd to name with mode 0660 (by the umask) and group gid (by our
 * effective group while binding, when root), so that no path-based chmod
 * or chown ever runs on a name someone might have replaced.  Then checks,
 * through an O_PATH descriptor of the name (never following a link),
 * that it is our socket; a directory with the set-group-ID bit imposes
 * its own group, which is changed through that descriptor.
 */
static int
bind_owned(int fd, const char *name, size_t namelen, gid_t gid)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	mode_t			 mask;
	gid_t			 egid = getegid();
	int			 rc, pfd, save;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, name, namelen + 1);
	if (gid != (gid_t)-1 && geteuid() == 0 && setegid(gid) == -1)
		return -1;
	mask = umask(SERVE_SOCKET_UMASK);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	save = errno;
	umask(mask);
	if (gid != (gid_t)-1 && geteuid() == 0 && setegid(egid) == -1)
		fatal("setegid");
	errno = save;
	if (rc == -1)
		return -1;
	if ((pfd = open(name, O_PATH | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	rc = -1;
	if (fstat(pfd, &st) == -1)
		goto done;
	if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 07777) != SERVE_SOCKET_MODE) {
		errno = EPERM;
		goto done;
	}
	if (gid != (gid_t)-1 && st.st_gid != gid &&
	    fchownat(pfd, "", (uid_t)-1, gid, AT_EMPTY_PATH) == -1)
		goto done;
	rc = 0;
done:
	save = errno;
	close(pfd);
	errno = save;
	return rc;
}

/*
 * unix:/path: a socket of our own, mode 0660, group gid (when not -1), in
 * a directory nobody else can write (socket_dir_safe).  An existing path
 * is replaced only when it is a socket.  The socket is bound under a
 * temporary name in the same directory with its final mode and group,
 * listening, then renamed into place: it never shows up at path with
 * other permissions or refusing connections, and a socket already there
 * is replaced atomically.
 */
static int
listen_unix(const char *path, gid_t gid)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	char			 tmp[sizeof(sun.sun_path)];
	int			 fd, n;

	n = snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	if (path[0] != '/' || n < 0 || (size_t)n >= sizeof(tmp)) {
		log_warnx("--listen unix:%s: need an absolute path of at most "
		    "%zu bytes", path, sizeof(tmp) - 1 - SERVE_TMP_SUFFIX);
		return -1;
	}
	if (socket_dir_safe(path) == -1)
		return -1;
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		log_warnx("%s exists and is not a socket", path);
		return -1;
	}
	/* A leftover of a process that had our pid. */
	if (lstat(tmp, &st) == 0 && (!S_ISSOCK(st.st_mode) ||
	    unlink(tmp) == -1)) {
		log_warnx("%s is in the way", tmp);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		return -1;
	}
	if (bind_owned(fd, tmp, (size_t)n, gid) == -1 ||
	    listen(fd, SERVE_BACKLOG) == -1 || rename(tmp, path) == -1) {
		log_warn("cannot put the socket in place at %s", path);
		close(fd);
		unlink(tmp);
		return -1;
	}
	return fd;
}

/* HOST:PORT or [V6]:PORT. */
static int
listen_inet(const char *addr)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	char		 host[256];
	const char	*port, *h, *colon;
	size_t		 hl;
	int		 fd = -1, on = 1, rc;

	if (addr[0] == '[') {
		if ((colon = strstr(addr, "]:")) == NULL)
			goto bad;
		h = addr + 1;
		hl = (size_t)(colon - h);
		port = colon + 2;
	} else {
		if ((colon = strrchr(addr, ':')) == NULL)
			goto bad;
		h = addr;
		hl = (size_t)(colon - addr);
		port = colon + 1;
	}
	if (hl == 0 || hl >= sizeof(host) || *port == '\0')
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));	/* ai_family 0: IPv4 or IPv6 */
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		log_warnx("--listen %s: %s", addr, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			if (!is_loopback(ai->ai_addr))
				log_warnx("listening on %s, which is not a "
				    "loopback address: FastCGI has no "
				    "authentication", addr);
			break;
		}
		log_warn("bind %s", addr);
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
bad:
	log_warnx("--listen %s: want unix:/path, HOST:PORT or [V6]:PORT",
	    addr);
	return -1;
}

/* A decimal number from the environment, or -1. */
static long long
env_number(const char *name)
{
	long long	 v;

	if (parse_decimal(getenv(name), 0, LLONG_MAX, &v) != 0)
		return -1;
	return v;
}

/* systemd socket activation: LISTEN_PID is us, LISTEN_FDS >= 1, fd 3. */
static int
listen_systemd(void)
{
	if (env_number("LISTEN_PID") != (long long)getpid() ||
	    env_number("LISTEN_FDS") < 1)
		return -1;
	if (fcntl(3, F_SETFD, FD_CLOEXEC) == -1)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return 3;
}

static pid_t
spawn_worker(int listenfd, const char *cfgpath)
{
	pid_t	 pid, master = getpid();

	if ((pid = fork()) == -1) {
		log_warn("fork");
		return -1;
	}
	if (pid > 0)
		return pid;
	/* The worker: default signals, no master's pipe, FastCGI loop. */
	signals_default();
	close(sigpipe_fds[0]);
	close(sigpipe_fds[1]);
	/* A worker outliving its master finishes its request and stops. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != master)
		_exit(1);
	/* The listening socket must reach accept() but no hook. */
	_exit(fcgi_main(listenfd, cfgpath));
}

/*
 * The longest a request in flight can still take: its header and body
 * (stripehook(8) REQUESTS), then every hook up to its timeout and kill
 * grace.
 */
static long
serve_grace(const struct sh_config *cfg)
{
	return (cfg->hook_timeout + SH_HOOK_KILL_GRACE) *
	    (long)(cfg->nhooks ? cfg->nhooks : 1) + SH_FCGI_HEADER_TIMEOUT +
	    SH_FCGI_BODY_DEADLINE + 5;
}

/* Options; 0, or the exit status for a usage error. */
static int
serve_options(struct serve *sv, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen",	required_argument, NULL, 'l' },
		{ "workers",	required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+c:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			sv->path = optarg;
			break;
		case 'l':
			sv->listen_addr = optarg;
			break;
		case 'w':
			if (parse_workers(optarg, &sv->nworkers) == -1) {
				fprintf(stderr, "stripehook serve: --workers "
				    "wants 1-%d\n", SERVE_MAX_WORKERS);
				return 2;
			}
			break;
		default:
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "stripehook serve: unexpected operand %s\n",
		    argv[optind]);
		return 2;
	}
	return 0;
}

/* The configuration as the starting user sees it: valid, and naming a
 * user to switch to when we are root.  0, or -1 once said why on stderr. */
static int
serve_precheck(struct serve *sv)
{
	struct sh_config	*cfg;
	int			 rc = -1;

	if ((cfg = config_load_report(sv->path, 0, NULL)) == NULL)
		return -1;
	if (geteuid() == 0) {
		if (cfg->user == NULL) {
			fprintf(stderr, "%s: started as root without a user "
			    "to switch to (set user)\n", sv->path);
			goto done;
		}
		if ((sv->pw = getpwnam(cfg->user)) == NULL) {
			fprintf(stderr, "%s: user %s does not exist\n",
			    sv->path, cfg->user);
			goto done;
		}
		if (sv->pw->pw_uid == 0) {
			fprintf(stderr, "%s: user must not be root\n",
			    sv->path);
			goto done;
		}
		sv->gid = sv->pw->pw_gid;
	}
	log_use_syslog(cfg->log_syslog);
	sv->grace = serve_grace(cfg);
	runner_slot_init(&sv->rs, cfg);
	rc = 0;
done:
	config_free(cfg);
	return rc;
}

/* The listening socket: ours (unix or TCP) or systemd's.  0, or the exit
 * status. */
static int
serve_bind(struct serve *sv)
{
	const char	*a = sv->listen_addr;

	if (a == NULL) {
		if ((sv->fd = listen_systemd()) == -1) {
			fprintf(stderr, "stripehook serve: no --listen and no "
			    "socket from systemd (LISTEN_FDS)\n");
			return 2;
		}
	} else if (strncmp(a, "unix:", 5) == 0) {
		if ((sv->fd = listen_unix(a + 5, sv->gid)) == -1)
			return 1;
		if ((sv->unix_path = strdup(a + 5)) == NULL)
			fatal("strdup");
		return 0;
	} else if ((sv->fd = listen_inet(a)) == -1)
		return 1;
	if (listen(sv->fd, SERVE_BACKLOG) == -1) {
		log_warn("listen");
		return 1;
	}
	return 0;
}

/* Root: becomes the configured user for good. */
static void
serve_drop(const struct serve *sv)
{
	const char	*step;

	if (sv->pw == NULL)
		return;
	if (become_user(sv->pw, &step) == -1)
		fatal("cannot switch to user %s (%s)", sv->pw->pw_name, step);
}

/* As the user hooks run as: the full load, secrets included.  0, or -1
 * once said why on stderr. */
static int
serve_fullcheck(struct serve *sv)
{
	struct sh_config	*cfg;

	if ((cfg = config_load_report(sv->path, SH_LOAD_SECRETS,
	    NULL)) == NULL)
		return -1;
	config_free(cfg);
	return 0;
}

/*
 * SIGHUP: the workers reload themselves; the master reloads only to
 * learn the stop grace of the configuration now in force (stripehook(8)
 * serve).  Requests in flight may still run under the old one, so the
 * grace never shrinks below it.
 */
static void
serve_reload(struct serve *sv)
{
	struct sh_config	*cfg;
	struct sh_diag		 diag;
	long			 g;
	int			 i;

	for (i = 0; i < sv->nworkers; i++)
		if (sv->w[i].pid > 0)
			kill(sv->w[i].pid, SIGHUP);
	runner_slot_kill(&sv->rs, SIGHUP);
	memset(&diag, 0, sizeof(diag));
	if ((cfg = config_load(sv->path, &diag)) != NULL &&
	    config_load_secrets(cfg, &diag) == 0) {
		g = serve_grace(cfg);
		if (g > sv->grace)
			sv->grace = g;
	}
	config_free(cfg);
	diag_free(&diag);
}

/* SIGTERM, SIGINT: stop accepting; workers finish what they hold. */
static void
serve_stop(struct serve *sv)
{
	int	 i;

	if (sv->stopping)
		return;
	sv->stopping = 1;
	sv->stop_deadline = time(NULL) + sv->grace;
	close(sv->fd);
	sv->fd = -1;
	for (i = 0; i < sv->nworkers; i++)
		if (sv->w[i].pid > 0)
			kill(sv->w[i].pid, SIGTERM);
	runner_slot_kill(&sv->rs, SIGTERM);
	log_info("stopping: requests in flight have up to %ld s", sv->grace);
}

static void
serve_signals(void)
{
	struct sigaction sa;

	if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe2");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* Starts the workers that are due; returns the ms until the next is
 * (-1: none waiting). */
static int
serve_spawn_due(struct serve *sv, time_t now)
{
	struct worker	*w;
	int		 i, timeout = -1;
	pid_t		 pid;

	for (i = 0; i < sv->nworkers; i++) {
		w = &sv->w[i];
		if (w->pid > 0 || sv->stopping)
			continue;
		if (w->respawn_at <= now) {
			if ((pid = spawn_worker(sv->fd, sv->path)) > 0) {
				w->pid = pid;
				w->started = now;
				continue;
			}
			w->respawn_at = now + 1;
		}
		if (timeout == -1 || (w->respawn_at - now) * 1000 < timeout)
			timeout = (int)(w->respawn_at - now) * 1000;
	}
	return timeout;
}

/* While stopping: SIGTERM again each second (one that came just before
 * a worker entered accept() is not lost), SIGKILL after the grace.
 * Returns the number of workers alive. */
static int
serve_stopping(struct serve *sv, time_t now)
{
	int	 i, alive = 0;

	for (i = 0; i < sv->nworkers; i++)
		if (sv->w[i].pid > 0)
			alive++;
	alive += sv->rs.pid > 0;
	if (alive > 0 && now >= sv->stop_deadline) {
		log_warnx("workers still busy after %ld s: killing them",
		    sv->grace);
		for (i = 0; i < sv->nworkers; i++)
			if (sv->w[i].pid > 0)
				kill(sv->w[i].pid, SIGKILL);
		runner_slot_kill(&sv->rs, SIGKILL);
		sv->stop_deadline = now + 3600;
	}
	for (i = 0; i < sv->nworkers; i++)
		if (sv->w[i].pid > 0)
			kill(sv->w[i].pid, SIGTERM);
	runner_slot_kill(&sv->rs, SIGTERM);
	return alive;
}

/* Reaps every child that has ended; schedules its replacement. */
static void
serve_reap(struct serve *sv)
{
	struct worker	*w;
	time_t		 now;
	pid_t		 pid;
	int		 i, status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		now = time(NULL);
		if (runner_slot_reaped(&sv->rs, pid, status, sv->stopping, now))
			continue;
		for (i = 0; i < sv->nworkers; i++) {
			w = &sv->w[i];
			if (w->pid != pid)
				continue;
			w->pid = 0;
			if (sv->stopping)
				break;
			if (now - w->started <= SERVE_QUICK_DEATH) {
				w->respawn_at = now + w->backoff;
				if (w->backoff < SERVE_BACKOFF_MAX)
					w->backoff *= 2;
			} else {
				w->respawn_at = now;
				w->backoff = 1;
			}
			if (WIFSIGNALED(status))
				log_warnx("worker %ld killed by signal %d",
				    (long)pid, WTERMSIG(status));
			else
				log_warnx("worker %ld exited with %d",
				    (long)pid, WEXITSTATUS(status));
			break;
		}
	}
}

/* Supervise: keep the workers running, act on signals, reap; until a
 * stop has no worker left. */
static void
serve_supervise(struct serve *sv)
{
	struct pollfd	 pfd;
	unsigned char	 sigs[64];
	ssize_t		 n, k;
	int		 timeout;

	for (;;) {
		timeout = serve_spawn_due(sv, time(NULL));
		(void)runner_slot_tick(&sv->rs, sv->path, (int[]){ sv->fd,
		    sigpipe_fds[0], sigpipe_fds[1] }, 3, sv->stopping,
		    time(NULL), &timeout);
		if (sv->stopping) {
			if (serve_stopping(sv, time(NULL)) == 0)
				break;
			timeout = 1000;
		}
		pfd.fd = sigpipe_fds[0];
		pfd.events = POLLIN;
		if (poll(&pfd, 1, timeout) == -1 && errno != EINTR)
			fatal("poll");
		while ((n = read(sigpipe_fds[0], sigs, sizeof(sigs))) > 0)
			for (k = 0; k < n; k++) {
				if (sigs[k] == SIGTERM || sigs[k] == SIGINT)
					serve_stop(sv);
				else if (sigs[k] == SIGHUP)
					serve_reload(sv);
			}
		serve_reap(sv);
	}
}

/*
 * stripehook serve (stripehook(8)): check the configuration, bind, drop
 * privileges, check it again as the user hooks run as, supervise the
 * workers, drain on SIGTERM.
 */
int
serve_main(int argc, char **argv, const char *cfgpath)
{
	struct serve	 sv;
	int		 i, rc;

	memset(&sv, 0, sizeof(sv));
	sv.path = cfgpath;
	sv.gid = (gid_t)-1;
	sv.fd = -1;
	sv.nworkers = SH_DEFAULT_WORKERS;
	if ((rc = serve_options(&sv, argc, argv)) != 0)
		return rc;
	if (sv.path == NULL)
		sv.path = config_default_path();
	if (serve_precheck(&sv) == -1)
		return 1;
	if ((rc = serve_bind(&sv)) != 0)
		goto done;
	serve_drop(&sv);
	if (serve_fullcheck(&sv) == -1) {
		rc = 1;
		goto done;
	}
	serve_signals();
	for (i = 0; i < sv.nworkers; i++)
		sv.w[i].backoff = 1;
	log_info("serving on %s with %d workers", sv.listen_addr ?
	    sv.listen_addr : "the socket from systemd", sv.nworkers);
	serve_supervise(&sv);
	log_info("stopped");
	rc = 0;
done:
	if (sv.fd != -1)
		close(sv.fd);
	if (sv.unix_path != NULL) {
		unlink(sv.unix_path);
		free(sv.unix_path);
	}
	return rc;
}
