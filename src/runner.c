/*
 * The runner of ack receipt (stripehook(8) ACK ON RECEIPT): `stripehook
 * run`, and the one serve starts.  It keeps a table of the queue entries,
 * filled at start and kept current by inotify on the queue directory
 * (queue_watch), so a newly queued event is seen at once and the only
 * timer is the next due retry.  Each attempt runs in a child process of
 * its own (at most `runners` at once), under the event's lock; the child
 * dies with the runner (PR_SET_PDEATHSIG) and its hooks with it, so a
 * killed runner leaves no hook running and no record, and the event is
 * due again at once.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stripehook.h"

#define RUNNER_RESCAN		60	/* seconds between full rescans */
#define RUNNER_BUSY_RETRY	1	/* seconds before a held event again */
#define RUNNER_EXIT_BUSY	3	/* an attempt found the lock held */
#define RUNNER_ERROR_RETRY	10	/* seconds before an event whose attempt
					 * failed on the records again */

struct entry {
	char	 id[SH_ID_MAX + 1];
	time_t	 first;
	time_t	 next;
	time_t	 busy_until;	/* another process held its lock */
	int	 dead;
	pid_t	 pid;		/* the attempt running now, or 0 */
};

struct runner {
	struct sh_config *cfg;
	const char	*cfgpath;
	struct entry	*v;
	size_t		 n, cap;
	int		 active;
	int		 ifd;		/* inotify on the queue */
	int		 stopping;
};

static int	 runner_pipe[2] = { -1, -1 };

/* In an attempt's process: SIGTERM lets the running hook finish and
 * starts no other. */
static void
attempt_signal(int sig)
{
	(void)sig;
	deliver_stopping = 1;
}

static void
runner_signal(int sig)
{
	unsigned char	 c = (unsigned char)sig;
	int		 save = errno;

	if (write(runner_pipe[1], &c, 1) == -1) {
		/* full: a wake-up is pending anyway */
	}
	errno = save;
}

static struct entry *
find(struct runner *r, const char *id)
{
	size_t	 i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->v[i].id, id) == 0)
			return &r->v[i];
	return NULL;
}

/* Puts the entry in the table (or updates it). */
static int
put(void *arg, const char *id, const struct sh_queued *q)
{
	struct runner	*r = arg;
	struct entry	*e, *nv;

	if ((e = find(r, id)) == NULL) {
		if (r->n == r->cap) {
			if ((nv = reallocarray(r->v, r->cap ? r->cap * 2 : 64,
			    sizeof(*nv))) == NULL) {
				log_warn("runner: out of memory");
				return -1;
			}
			r->v = nv;
			r->cap = r->cap ? r->cap * 2 : 64;
		}
		e = &r->v[r->n++];
		memset(e, 0, sizeof(*e));
		(void)snprintf(e->id, sizeof(e->id), "%s", id);
	}
	e->first = q->first;
	e->next = q->next;
	e->dead = q->dead;
	return 0;
}

/* The entry changed on disk: read it again (gone: out of the table,
 * unless an attempt still runs). */
static void
changed(void *arg, const char *id)
{
	struct runner	*r = arg;
	struct sh_queued q;
	struct entry	*e;
	int		 rc;

	if ((rc = queue_get(r->cfg, id, &q)) == 1) {
		(void)put(r, id, &q);
		return;
	}
	if (rc == 0 && (e = find(r, id)) != NULL && e->pid == 0)
		*e = r->v[--r->n];
}

static void
rescan(struct runner *r)
{
	size_t	 i, k;

	/* Keep the running ones; the rest comes back from the queue. */
	for (i = k = 0; i < r->n; i++)
		if (r->v[i].pid != 0)
			r->v[k++] = r->v[i];
	r->n = k;
	if (queue_each(r->cfg, put, r) == -1)
		log_warnx("runner: cannot read the whole queue");
}

/* The attempt's process: dies with the runner, runs, says how it went. */
static pid_t
start(struct runner *r, struct entry *e)
{
	struct sigaction sa;
	pid_t		 pid, parent = getpid();
	enum sh_err	 err;

	if ((pid = fork()) == -1) {
		log_warn("runner: fork");
		return -1;
	}
	if (pid > 0)
		return pid;
	signals_default();
	memset(&sa, 0, sizeof(sa));
	/* SIGHUP is the runner's; SIGTERM (from the runner, or from a
	 * service manager to every process) ends the attempt after the
	 * running hook. */
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGHUP, &sa, NULL);
	(void)sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = attempt_signal;
	sa.sa_flags = SA_RESTART;
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(2);
	(void)close(runner_pipe[0]);
	(void)close(runner_pipe[1]);
	(void)close(r->ifd);
	err = deliver_attempt(r->cfg, e->id, 0);
	_exit(err == SH_OK ? 0 : err == SH_E_HOOK ? 1 :
	    err == SH_E_IN_PROGRESS ? RUNNER_EXIT_BUSY : 2);
}

/* Starts due events, oldest first, while fewer than `runners` run. */
static void
start_due(struct runner *r, time_t now)
{
	struct entry	*e, *best;
	size_t		 i;

	while (!r->stopping && r->active < r->cfg->runners) {
		best = NULL;
		for (i = 0; i < r->n; i++) {
			e = &r->v[i];
			if (e->pid != 0 || e->dead || e->next > now ||
			    e->busy_until > now)
				continue;
			if (best == NULL || e->first < best->first ||
			    (e->first == best->first &&
			    strcmp(e->id, best->id) < 0))
				best = e;
		}
		if (best == NULL)
			return;
		if ((best->pid = start(r, best)) == -1) {
			best->pid = 0;
			best->busy_until = now + RUNNER_BUSY_RETRY;
			return;
		}
		r->active++;
	}
}

/* Milliseconds until the next due entry (at most RUNNER_RESCAN s). */
static int
next_timeout(const struct runner *r, time_t now)
{
	time_t	 t, soonest = now + RUNNER_RESCAN;
	size_t	 i;

	if (r->stopping)
		return 1000;
	for (i = 0; i < r->n; i++) {
		if (r->v[i].pid != 0 || r->v[i].dead)
			continue;
		t = r->v[i].next > r->v[i].busy_until ? r->v[i].next :
		    r->v[i].busy_until;
		if (t < soonest)
			soonest = t;
	}
	if (soonest <= now)
		return r->active < r->cfg->runners ? 0 : 1000;
	return (int)(soonest - now) * 1000;
}

static void
reap(struct runner *r)
{
	struct entry	*e;
	pid_t		 pid;
	size_t		 i;
	int		 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0, e = NULL; i < r->n; i++)
			if (r->v[i].pid == pid)
				e = &r->v[i];
		if (e == NULL)
			continue;
		e->pid = 0;
		r->active--;
		if (WIFEXITED(status) &&
		    WEXITSTATUS(status) == RUNNER_EXIT_BUSY)
			e->busy_until = time(NULL) + RUNNER_BUSY_RETRY;
		else if (!WIFEXITED(status) || WEXITSTATUS(status) == 2)
			/* An error (logged): not again at once. */
			e->busy_until = time(NULL) + RUNNER_ERROR_RETRY;
		changed(r, e->id);
	}
}

/* The records the runner watches stay where they are. */
static int
same_store(const struct sh_config *a, const struct sh_config *b)
{
	if (a->database != NULL || b->database != NULL)
		return a->database != NULL && b->database != NULL &&
		    strcmp(a->database, b->database) == 0;
	return a->state_dir != NULL && b->state_dir != NULL &&
	    strcmp(a->state_dir, b->state_dir) == 0;
}

static void
reload(struct runner *r)
{
	struct sh_config *ncfg;

	if ((ncfg = config_load_report(r->cfgpath, SH_LOAD_LOG, NULL)) ==
	    NULL)
		log_warnx("runner: reload failed, keeping the old "
		    "configuration");
	else if (ncfg->ack != SH_ACK_RECEIPT || !same_store(ncfg, r->cfg)) {
		log_warnx("runner: reload failed: ack receipt and the same "
		    "state_dir (or database) are needed while running; keeping "
		    "the old configuration");
		config_free(ncfg);
	} else {
		config_free(r->cfg);
		r->cfg = ncfg;
		log_use_syslog(ncfg->log_syslog);
		log_info("runner: configuration reloaded");
	}
}

/* Each running attempt finishes its hook and starts no other. */
static void
stop_attempts(const struct runner *r)
{
	size_t	 i;

	for (i = 0; i < r->n; i++)
		if (r->v[i].pid > 0)
			(void)kill(r->v[i].pid, SIGTERM);
}

/* Reads the signals the pipe holds. */
static void
signals(struct runner *r)
{
	unsigned char	 sigs[64];
	ssize_t		 n, k;

	while ((n = read(runner_pipe[0], sigs, sizeof(sigs))) > 0)
		for (k = 0; k < n; k++) {
			if (sigs[k] == SIGTERM || sigs[k] == SIGINT) {
				if (!r->stopping)
					log_info("runner: stopping after %d "
					    "running events", r->active);
				r->stopping = 1;
				stop_attempts(r);
			} else if (sigs[k] == SIGHUP)
				reload(r);
		}
}

static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = runner_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	(void)sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
}

/* The loop, until SIGTERM and every attempt ended. */
static void
run_loop(struct runner *r)
{
	struct pollfd	 pfd[2];
	time_t		 now;

	rescan(r);
	while (!r->stopping || r->active > 0) {
		now = time(NULL);
		start_due(r, now);
		pfd[0].fd = runner_pipe[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = r->ifd;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, next_timeout(r, now)) == -1 &&
		    errno != EINTR)
			fatal("runner: poll");
		signals(r);
		reap(r);
		if (pfd[1].revents != 0) {
			if (queue_changed(r->ifd, changed, r) != 0)
				rescan(r);
		} else if (time(NULL) >= now + RUNNER_RESCAN)
			rescan(r);
	}
}

/*
 * The runner until SIGTERM; serve's child and `stripehook run`.  1 when
 * ack receipt is not set or the queue cannot be watched, else 0.
 */
int
runner_main(const char *cfgpath)
{
	struct runner	 r;

	memset(&r, 0, sizeof(r));
	r.cfgpath = cfgpath;
	r.ifd = -1;
	if ((r.cfg = config_load_report(cfgpath, SH_LOAD_LOG, NULL)) == NULL)
		return 1;
	log_use_syslog(r.cfg->log_syslog);
	if (r.cfg->ack != SH_ACK_RECEIPT) {
		log_warnx("run: %s: ack receipt is not set: there is no queue "
		    "to run", cfgpath);
		config_free(r.cfg);
		return 1;
	}
	if (pipe2(runner_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe2");
	install_signals();
	if ((r.ifd = queue_watch(r.cfg)) == -1) {
		config_free(r.cfg);
		return 1;
	}
	log_info("runner: running the queue of %s with %d at once",
	    r.cfg->database != NULL ? "the database" : r.cfg->state_dir,
	    r.cfg->runners);
	run_loop(&r);
	log_info("runner: stopped");
	(void)close(r.ifd);
	(void)close(runner_pipe[0]);
	(void)close(runner_pipe[1]);
	free(r.v);
	config_free(r.cfg);
	return 0;
}

/* Switches to the configured user for good when started as root (run,
 * replay of queued events).  0, or -1 after saying why. */
int
runner_drop_root(const struct sh_config *cfg)
{
	if (geteuid() != 0)
		return 0;
	if (cfg->user == NULL) {
		log_warnx("running as root: set user, or run the runner as "
		    "an unprivileged user");
		return 0;
	}
	return become_user_named(cfg->user);
}

/* stripehook run [-c file]: the runner in the foreground. */
int
tool_run(int argc, char **argv, const char *cfgpath)
{
	struct sh_config *cfg;
	int		 ch, rc;

	optind = 0;
	while ((ch = getopt(argc, argv, "+c:")) != -1) {
		if (ch != 'c') {
			fprintf(stderr, "usage: stripehook run [-c file]\n");
			return 2;
		}
		cfgpath = optarg;
	}
	if (optind != argc) {
		fprintf(stderr, "usage: stripehook run [-c file]\n");
		return 2;
	}
	if (cfgpath == NULL)
		cfgpath = config_default_path();
	if ((cfg = config_load_report(cfgpath, 0, NULL)) == NULL)
		return 1;
	if (cfg->ack != SH_ACK_RECEIPT) {
		fprintf(stderr, "stripehook run: %s: ack receipt is not set: "
		    "hooks run inside the requests\n", cfgpath);
		config_free(cfg);
		return 1;
	}
	rc = runner_drop_root(cfg);
	config_free(cfg);
	if (rc == -1)
		return 1;
	return runner_main(cfgpath);
}

/* ---- The runner serve starts (serve.c), restarted like a worker ---- */

void
runner_slot_init(struct runner_slot *rs, const struct sh_config *cfg)
{
	memset(rs, 0, sizeof(*rs));
	rs->on = cfg->ack == SH_ACK_RECEIPT;
	rs->backoff = 1;
}

/* Starts the runner when it is due; returns 1 while it is alive.  The
 * child closes closefds (serve's socket and pipe) and dies with serve. */
int
runner_slot_tick(struct runner_slot *rs, const char *cfgpath,
    const int *closefds, int nclose, int stopping, time_t now, int *timeout)
{
	struct sigaction sa;
	pid_t		 pid, parent = getpid();
	int		 i, ms;

	if (rs->pid > 0)
		return 1;
	if (!rs->on || stopping)
		return 0;
	if (rs->respawn_at > now) {
		ms = (int)(rs->respawn_at - now) * 1000;
		if (*timeout == -1 || ms < *timeout)
			*timeout = ms;
		return 0;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork");
		rs->respawn_at = now + 1;
		return 0;
	}
	if (pid > 0) {
		rs->pid = pid;
		rs->started = now;
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 1; i < NSIG; i++)
		(void)sigaction(i, &sa, NULL);
	for (i = 0; i < nclose; i++)
		if (closefds[i] != -1)
			(void)close(closefds[i]);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
		_exit(1);
	_exit(runner_main(cfgpath));
}

void
runner_slot_kill(const struct runner_slot *rs, int sig)
{
	if (rs->pid > 0)
		(void)kill(rs->pid, sig);
}

/* 1 when pid was the runner (then restarted later, with a back-off when
 * it died within a second of starting). */
int
runner_slot_reaped(struct runner_slot *rs, pid_t pid, int status,
    int stopping, time_t now)
{
	if (rs->pid <= 0 || pid != rs->pid)
		return 0;
	rs->pid = 0;
	if (stopping)
		return 1;
	if (now - rs->started <= 1) {
		rs->respawn_at = now + rs->backoff;
		if (rs->backoff < 30)
			rs->backoff *= 2;
	} else {
		rs->respawn_at = now;
		rs->backoff = 1;
	}
	if (WIFSIGNALED(status))
		log_warnx("runner %ld killed by signal %d", (long)pid,
		    WTERMSIG(status));
	else
		log_warnx("runner %ld exited with %d", (long)pid,
		    WEXITSTATUS(status));
	return 1;
}
