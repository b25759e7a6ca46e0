/*
 * Running one hook (stripehook(8) HOOKS): pattern matching, then the
 * operator's program started with execve and the raw body on stdin, its
 * output drained into the log, a timeout that ends in a kill, and a reap
 * of every process the run made.
 *
 * Two processes per run: a supervisor, forked by the handler, which stays
 * until every process of the run is gone (see sup_main), and the hook,
 * which the supervisor starts with clone(2) rather than posix_spawn: the
 * hook needs setrlimit and PR_SET_PDEATHSIG, which posix_spawn cannot
 * do.  Everything the hook uses is built before the clone; its side calls
 * only async-signal-safe functions.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "stripehook.h"

#define HOOK_READ_CHUNK		65536	/* bytes per read(2) of hook output */
#define HOOK_FINAL_DRAIN_MAX	1048576	/* bytes read per stream after exit;
					 * the largest pipe Linux allows by
					 * default (fs.pipe-max-size) */
#define HOOK_POLL_TICK_MS	20	/* exit polling without a pidfd */
#define HOOK_CHILD_STACK	(64 * 1024)	/* the hook's stack until execve */
#define HOOK_ENV_STRIPE_MAX	9	/* STRIPE_* variables (ENVIRONMENT) */
#define HOOK_CLOSE_LOOP_MAX	65536	/* fds closed one by one where
					 * close_range is missing and the
					 * limit is unbounded */

/* Steps of the child's set-up, reported to the parent on failure. */
enum hk_step {
	HK_SETSID, HK_PDEATHSIG, HK_SIGMASK, HK_DUP2, HK_CHDIR, HK_RLIMIT,
	HK_EXECVE, HK_CLONE, HK_NSTEPS
};
static const char *const hk_step_name[] = {
	[HK_SETSID] = "setsid", [HK_PDEATHSIG] = "prctl",
	[HK_SIGMASK] = "sigprocmask", [HK_DUP2] = "dup2",
	[HK_CHDIR] = "chdir", [HK_RLIMIT] = "setrlimit",
	[HK_EXECVE] = "execve", [HK_CLONE] = "clone"
};

/* What the hook writes to the exec-error pipe when it cannot exec. */
struct hk_spawn_err {
	int	step;
	int	err;
};

/* Everything the hook needs, prepared before the clone. */
struct hk_child {
	char *const	*argv;
	char *const	*envp;
	pid_t		 ppid;
	int		 stdio[3];	/* child ends for fds 0, 1, 2 */
	int		 errfd;		/* exec-error pipe, write end */
	int		 maxfd;		/* bound of the close loop fallback */
	long		 cpu;		/* -1: unset */
	long		 files;
	long long	 fsize;
};

/* One output stream of the hook as the parent reads it. */
struct hk_stream {
	int		 fd;		/* -1 once at EOF */
	const char	*name;		/* "stdout", "stderr" */
	int		 prio;
	struct sh_buf	 line;		/* the current line, never > LINE_MAX */
	int		 skipping;	/* after a cut line: discard to newline */
};

struct hk_log {
	const char	*tag;		/* "hook event=ID hook=\"IDENTITY\"" */
	size_t		 logged;	/* bytes of output logged this run */
	int		 cut;		/* SH_HOOK_OUTPUT_MAX reached */
};

/* Commands from the handler to the supervisor, one byte each. */
#define HK_CMD_TERM	'T'	/* SIGTERM to the hook's process group */
#define HK_CMD_KILL	'K'	/* SIGKILL to every process of the run */

/* Messages from the supervisor to the handler. */
enum hk_msg_kind { HK_MSG_STARTED = 1, HK_MSG_FAILED, HK_MSG_DONE };
struct hk_msg {
	int	 kind;		/* 0: the supervisor is gone */
	int	 step;		/* HK_MSG_FAILED: enum hk_step, or -1 */
	int	 err;		/* HK_MSG_FAILED: errno */
	int	 status;	/* the hook's wait status */
};

/* One run of a hook. */
struct hk_run {
	const struct sh_config	*cfg;
	const struct sh_hook	*hook;
	struct hk_child		 c;
	struct hk_stream	 out, err;
	struct hk_log		 lg;
	struct sh_buf		 tag;
	char			**envp;
	size_t			 nown;	/* strings of envp we allocated */
	/* Pipes named after the hook's side: its stdin, stdout, stderr and
	 * exec-error pipe (read by the supervisor); then the supervisor's:
	 * commands to it, messages from it. */
	int			 pin[2], pout[2], perr[2], pexec[2];
	int			 pctl[2], pres[2];
	pid_t			 sup;	/* the supervisor, -1 once reaped */
	const unsigned char	*body;
	size_t			 len, off;
	sigset_t		 oldmask;
	int			 blocked, pipe_pending;
	int			 term_sent, kill_sent;
	struct hk_msg		 msg;	/* the supervisor's last message */
	double			 start;
};

/*
 * stripehook(8) HOOKS: PATTERN matches the whole type; '*' matches any run of
 * characters, dots included, possibly empty; every other byte (also '['
 * and ']') is literal.  Greedy with one saved star position: when a later
 * literal fails, the last star absorbs one more character.  That is
 * enough for '*' (no other wildcards), and never recurses.
 */
int
hook_match(const char *pattern, const char *type)
{
	const char	*p = pattern, *s = type;
	const char	*star = NULL, *resume = NULL;

	while (*s != '\0') {
		if (*p == '*') {
			star = ++p;
			resume = s;
		} else if (*p == *s) {
			p++;
			s++;
		} else if (star != NULL) {
			p = star;
			s = ++resume;
		} else
			return 0;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

/* The guard of hook_guard: a lock that must outlive the hook. */
static int	(*guard_fn)(void *);
static void	*guard_arg;
static double	 guard_every, guard_next;

void
hook_guard(int (*fn)(void *), void *arg, int interval_ms)
{
	guard_fn = fn;
	guard_arg = arg;
	guard_every = interval_ms / 1000.0;
	guard_next = 0;
}

/* 1 when the guard says the lock is lost (checked once per interval). */
static int
guard_lost(double now)
{
	if (guard_fn == NULL)
		return 0;
	if (guard_next == 0)
		guard_next = now + guard_every;
	if (now < guard_next)
		return 0;
	guard_next = now + guard_every;
	return guard_fn(guard_arg) == -1;
}

/* Poll no longer than until the guard's next check (ms -1: no bound). */
static int
guard_bound(double now, int ms)
{
	int	 g;

	if (guard_fn == NULL || guard_next == 0)
		return ms;
	g = guard_next > now ? (int)((guard_next - now) * 1000) + 1 : 0;
	return ms < 0 || g < ms ? g : ms;
}

const char *
hook_result_word(const struct sh_hook_result *r, char *buf, size_t len)
{
	if (!r->spawned)
		snprintf(buf, len, "spawn-failed");
	else if (r->lost)
		snprintf(buf, len, "session-lost");
	else if (r->timed_out)
		snprintf(buf, len, "timeout");
	else if (r->ok)
		snprintf(buf, len, "ok");
	else if (WIFEXITED(r->status))
		snprintf(buf, len, "exit=%d", WEXITSTATUS(r->status));
	else if (WIFSIGNALED(r->status))
		snprintf(buf, len, "signal=%d", WTERMSIG(r->status));
	else
		snprintf(buf, len, "status=%d", r->status);
	return buf;
}

static void
close_fd(int *fd)
{
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

/* Moves fd out of 0-2, so that the child's dup2 onto 0-2 never overwrites
 * another pipe end (possible when the process runs with 0-2 closed). */
static int
fd_above_stdio(int *fd)
{
	int	 nfd;

	if (*fd > STDERR_FILENO)
		return 0;
	if ((nfd = fcntl(*fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1)) == -1)
		return -1;
	close(*fd);
	*fd = nfd;
	return 0;
}

/* Adds "NAME=value" to envp when value is set. */
static int
env_add(char **envp, size_t *n, const char *name, const char *value)
{
	if (value == NULL)
		return 0;
	if (asprintf(&envp[*n], "%s=%s", name, value) == -1) {
		envp[*n] = NULL;
		return -1;
	}
	(*n)++;
	envp[*n] = NULL;
	return 0;
}

/*
 * stripehook(8) ENVIRONMENT: the configured variables (PATH included, already in
 * cfg->env) plus STRIPE_* from the event, each only when present.
 * Nothing from our own environment.  *nown counts the strings at the end
 * that this function allocated.  Returns a new array or NULL.
 */
static char **
env_build(const struct sh_config *cfg, const struct sh_event *ev,
    size_t *nown)
{
	char	**envp;
	size_t	  ncfg = 0, n, i;

	*nown = 0;
	while (cfg->env != NULL && cfg->env[ncfg] != NULL)
		ncfg++;
	if ((envp = calloc(ncfg + HOOK_ENV_STRIPE_MAX + 1,
	    sizeof(*envp))) == NULL)
		return NULL;
	for (i = 0; i < ncfg; i++)
		envp[i] = cfg->env[i];
	n = ncfg;
	if (env_add(envp, &n, "STRIPE_EVENT_ID", ev->id) == -1 ||
	    env_add(envp, &n, "STRIPE_EVENT_TYPE", ev->type) == -1 ||
	    env_add(envp, &n, "STRIPE_EVENT_OBJECT", ev->object) == -1 ||
	    env_add(envp, &n, "STRIPE_LIVEMODE", ev->livemode < 0 ? NULL :
	    ev->livemode ? "true" : "false") == -1 ||
	    env_add(envp, &n, "STRIPE_CREATED", ev->created) == -1 ||
	    env_add(envp, &n, "STRIPE_API_VERSION", ev->api_version) == -1 ||
	    env_add(envp, &n, "STRIPE_ACCOUNT", ev->account) == -1 ||
	    env_add(envp, &n, "STRIPE_OBJECT_ID", ev->object_id) == -1 ||
	    env_add(envp, &n, "STRIPE_OBJECT_TYPE", ev->object_type) == -1) {
		for (i = ncfg; i < n; i++)
			free(envp[i]);
		free(envp);
		return NULL;
	}
	*nown = n - ncfg;
	return envp;
}

static void
env_free(char **envp, size_t nown)
{
	size_t	 n = 0, i;

	if (envp == NULL)
		return;
	while (envp[n] != NULL)
		n++;
	for (i = n - nown; i < n; i++)
		free(envp[i]);
	free(envp);
}

/* Child side: async-signal-safe only.  Reports errno and the step on the
 * exec-error pipe, then exits 127. */
__attribute__((noreturn)) static void
child_fail(int errfd, int step)
{
	struct hk_spawn_err	 e;
	ssize_t			 n;

	e.step = step;
	e.err = errno;
	do
		n = write(errfd, &e, sizeof(e));
	while (n == -1 && errno == EINTR);
	_exit(127);
}

/* Sets both limits, so the hook cannot raise them again.  Where the hard
 * limit may not be changed (some sandboxes and valgrind refuse it for
 * RLIMIT_NOFILE), the soft limit alone, which is the one enforced. */
static int
child_limit(int resource, long long value)
{
	struct rlimit	 rl, old;

	if (value < 0)
		return 0;
	rl.rlim_cur = rl.rlim_max = (rlim_t)value;
	if (setrlimit(resource, &rl) == 0)
		return 0;
	if (errno != EPERM || getrlimit(resource, &old) == -1 ||
	    (old.rlim_max != RLIM_INFINITY && old.rlim_max < (rlim_t)value)) {
		errno = EPERM;
		return -1;
	}
	rl.rlim_max = old.rlim_max;
	return setrlimit(resource, &rl);
}

/*
 * stripehook(8) HOOKS: own process group, dies with its supervisor, signal dispositions
 * and mask reset, body on 0, output on 1 and 2, every other fd closed,
 * working directory "/", hook_limits applied, execve of the path as
 * written (no PATH search, no shell).  Signals arrive blocked (see
 * run_spawn) so no handler of the handler runs here.
 */
__attribute__((noreturn)) static void
child_run(const struct hk_child *c)
{
	struct sigaction sa;
	sigset_t	 none;
	int		 sig, fd, i, errfd = c->errfd;

	if (setsid() == -1)
		child_fail(errfd, HK_SETSID);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		child_fail(errfd, HK_PDEATHSIG);
	if (getppid() != c->ppid)
		_exit(127);	/* the handler died before prctl */

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < _NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);	/* KILL, STOP: EINVAL */
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) == -1)
		child_fail(errfd, HK_SIGMASK);

	/* Every pipe end is above 2 (fd_above_stdio), so this order is safe;
	 * dup2 clears close-on-exec on the copies. */
	for (i = 0; i < 3; i++)
		if (dup2(c->stdio[i], i) == -1)
			child_fail(errfd, HK_DUP2);
	/* Keep the exec-error pipe as fd 3 (close-on-exec), close the rest. */
	if (errfd != 3) {
		if (dup2(errfd, 3) == -1)
			child_fail(errfd, HK_DUP2);
		errfd = 3;
	}
	if (fcntl(errfd, F_SETFD, FD_CLOEXEC) == -1)
		child_fail(errfd, HK_DUP2);
	fd = 4;
#ifdef HAVE_CLOSE_RANGE
	if (close_range((unsigned int)fd, ~0U, 0) == 0)
		fd = c->maxfd;		/* nothing left for the loop */
#endif
	for (; fd < c->maxfd; fd++)
		(void)close(fd);

	if (chdir("/") == -1)
		child_fail(errfd, HK_CHDIR);
	if (child_limit(RLIMIT_CPU, c->cpu) == -1 ||
	    child_limit(RLIMIT_NOFILE, c->files) == -1 ||
	    child_limit(RLIMIT_FSIZE, c->fsize) == -1)
		child_fail(errfd, HK_RLIMIT);
	execve(c->argv[0], c->argv, c->envp);
	child_fail(errfd, HK_EXECVE);
}

/*
 * The hook starts the way posix_spawn(3) starts a child: clone(2) with
 * CLONE_VM | CLONE_VFORK, so no page table is copied and the supervisor
 * sleeps until the hook's execve, but on a stack of its own, so nothing
 * the hook does before execve can touch the supervisor's.  The handler
 * maps that stack once (hk_stack), and each supervisor inherits it.
 * Builds configured with --enable-asan use fork(2) instead
 * (STRIPEHOOK_SPAWN_FORK): the sanitizer cannot follow a child that
 * shares its memory.
 */
#ifndef STRIPEHOOK_SPAWN_FORK
static char	*hk_stack_base;

static int
child_entry(void *arg)
{
	child_run(arg);
}
#endif

/* Maps the hook's stack, once per process; -1 when that fails. */
static int
hk_stack(void)
{
#ifndef STRIPEHOOK_SPAWN_FORK
	char	*p;

	if (hk_stack_base != NULL)
		return 0;
	/* An anonymous mapping takes fd -1 (mmap(2)). */
	p = mmap(NULL, HOOK_CHILD_STACK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
	    // cppcheck-suppress invalidFunctionArg
	    -1, 0);
	if (p == MAP_FAILED)
		return -1;
	hk_stack_base = p;
#endif
	return 0;
}

static pid_t
spawn_child(const struct hk_child *c)
{
#ifdef STRIPEHOOK_SPAWN_FORK
	pid_t	 pid;

	if ((pid = fork()) == 0)
		child_run(c);
	return pid;
#else
	/* The stack grows down: hand clone its top. */
	return clone(child_entry, hk_stack_base + HOOK_CHILD_STACK,
	    CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)c);
#endif
}

/* Logs one line of hook output, escaped and tagged, within the run's
 * budget of stripehook(8) HOOKS (a line counts with its end). */
static void
out_log(struct hk_log *lg, const struct hk_stream *s, const char *p,
    size_t n, int truncated)
{
	struct sh_buf	 b;

	if (lg->cut)
		return;
	buf_init(&b);
	if (lg->logged + n + 1 > SH_HOOK_OUTPUT_MAX) {
		lg->cut = 1;
		if (buf_printf(&b, "%s output=cut limit=%d", lg->tag,
		    SH_HOOK_OUTPUT_MAX) == 0)
			log_line(LOG_WARNING, b.p);
		buf_free(&b);
		return;
	}
	lg->logged += n + 1;
	if (buf_printf(&b, "%s stream=%s line=\"", lg->tag, s->name) == 0 &&
	    buf_qescape(&b, p, n) == 0 && buf_puts(&b, "\"") == 0 &&
	    (!truncated || buf_puts(&b, " truncated=1") == 0))
		log_line(s->prio, b.p);
	buf_free(&b);
}

/* Splits output into lines; a line longer than SH_HOOK_LINE_MAX is logged
 * cut (truncated=1) and the rest of it discarded. */
static void
out_feed(struct hk_log *lg, struct hk_stream *s, const char *p, size_t n)
{
	const char	*nl;
	size_t		 take, room;

	while (n > 0 && !lg->cut) {
		nl = memchr(p, '\n', n);
		take = nl != NULL ? (size_t)(nl - p) : n;
		if (s->skipping) {
			if (nl != NULL) {
				s->skipping = 0;
				take++;
			}
		} else if (s->line.len + take > SH_HOOK_LINE_MAX) {
			room = SH_HOOK_LINE_MAX - s->line.len;
			(void)buf_append(&s->line, p, room);
			out_log(lg, s, s->line.p, s->line.len, 1);
			buf_reset(&s->line);
			s->skipping = 1;
			take = room;
		} else {
			(void)buf_append(&s->line, p, take);
			if (nl != NULL) {
				out_log(lg, s, s->line.p != NULL ?
				    s->line.p : "", s->line.len, 0);
				buf_reset(&s->line);
				take++;
			}
		}
		p += take;
		n -= take;
	}
}

/* A last line without a newline, at EOF or when we stop reading. */
static void
out_flush(struct hk_log *lg, struct hk_stream *s)
{
	if (s->line.len > 0 && !s->skipping)
		out_log(lg, s, s->line.p, s->line.len, 0);
	buf_reset(&s->line);
	s->skipping = 0;
}

/* Reads once (or, with drain, until nothing is buffered, bounded).
 * Closes the stream at EOF or on error. */
static void
out_read(struct hk_log *lg, struct hk_stream *s, int drain)
{
	char	 chunk[HOOK_READ_CHUNK];
	size_t	 total = 0;
	ssize_t	 n;

	while (s->fd != -1) {
		n = read(s->fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			out_flush(lg, s);
			close_fd(&s->fd);
			return;
		}
		out_feed(lg, s, chunk, (size_t)n);
		total += (size_t)n;
		if (!drain || total >= HOOK_FINAL_DRAIN_MAX)
			return;
	}
}

/* 1 when the hook has exited, without reaping it: while it is a zombie
 * its pid, and so its process group id, cannot be reused. */
static int
hook_exited(pid_t pid)
{
	siginfo_t	 si;

	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si,
		    WEXITED | WNOHANG | WNOWAIT) == 0)
			return si.si_pid == pid;
		if (errno != EINTR)
			return 1;	/* ECHILD: nothing left to wait for */
	}
}

/* A pidfd, or -1 on a kernel older than 5.3 (ENOSYS: callers poll). */
static int
pidfd_open_compat(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);	/* close-on-exec */
}

static void
tag_log(const char *tag, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs "TAG message"; anything from outside in the message is escaped
 * by the caller. */
static void
tag_log(const char *tag, int prio, const char *fmt, ...)
{
	va_list		 ap;
	char		*msg, *line;
	int		 rc;

	va_start(ap, fmt);
	rc = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (rc == -1)
		return;
	if (asprintf(&line, "%s %s", tag, msg) != -1) {
		log_line(prio, line);
		free(line);
	}
	free(msg);
}

/*
 * The run's supervisor.  hook_run does not start the hook itself: it
 * forks a supervisor, which starts the hook and stays until every process
 * of the run is gone.  The supervisor is a child subreaper
 * (PR_SET_CHILD_SUBREAPER), so whatever the hook starts and leaves behind,
 * in its process group or not (setsid), is reparented to it rather than
 * to init, and it kills and reaps all of it: when the hook exits, when the
 * handler asks (the timeout), and when the handler dies (the control pipe
 * reaches EOF).  Being a fork of the handler, it holds every descriptor
 * the handler held, the event's lock among them, so the lock is released
 * only once the last process of the run is gone: no run of an event's
 * hooks can start beside the remains of an earlier one.
 */

/* Sends sig to every child of ours, as the kernel lists them (its
 * "children" file, which a subreaper needs to find orphans it inherited).
 * -1 when the list cannot be read. */
static int
sup_signal_children(int sig)
{
	char	 path[64], buf[4096], *p, *end;
	ssize_t	 n;
	long	 pid;
	int	 fd;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/children",
	    (long)getpid());
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n == -1 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -1;
	/* A list longer than buf is cut: the caller asks again after each
	 * reap, so the rest is found then. */
	buf[n] = '\0';
	for (p = buf; *p != '\0'; p = end) {
		pid = strtol(p, &end, 10);
		if (end == p)
			break;
		if (pid > 1 && (end[0] == ' ' || end[0] == '\n'))
			(void)kill((pid_t)pid, sig);
	}
	return 0;
}

/*
 * Kills and reaps the hook and everything left of the run; returns the
 * hook's wait status.  The hook is still unreaped when this starts, so
 * its process group id cannot be reused while it is signalled.  Each
 * reap may reparent the dead process's children to us: list and kill
 * again until nothing is left (ECHILD).
 */
static int
sup_reap_all(pid_t hook, int subreaper)
{
	pid_t	 w;
	int	 st, status = W_EXITCODE(127, 0), hook_left = 1;

	for (;;) {
		if (hook_left)
			(void)kill(-hook, SIGKILL);
		/* Without the kernel's list of our children (no /proc), the
		 * orphans we inherited cannot be found: reap what has ended
		 * and leave the rest. */
		if (subreaper && sup_signal_children(SIGKILL) == -1)
			subreaper = 0;
		w = waitpid(-1, &st, subreaper || hook_left ? 0 : WNOHANG);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		if (w == hook) {
			status = st;
			hook_left = 0;
		}
	}
	return status;
}

static void
sup_send(int fd, int kind, int step, int err, int status)
{
	struct hk_msg	 m;
	ssize_t		 n;

	memset(&m, 0, sizeof(m));
	m.kind = kind;
	m.step = step;
	m.err = err;
	m.status = status;
	do
		n = write(fd, &m, sizeof(m));
	while (n == -1 && errno == EINTR);
}

/* The handler's commands until the hook exits or the handler is gone. */
static void
sup_watch(pid_t hook, int ctl, int subreaper)
{
	struct pollfd	 pfd[2];
	unsigned char	 cmd;
	ssize_t		 n;
	int		 pidfd, np;

	pidfd = pidfd_open_compat(hook);
	for (;;) {
		memset(pfd, 0, sizeof(pfd));
		pfd[0].fd = ctl;
		pfd[0].events = POLLIN;
		pfd[1].fd = pidfd;
		pfd[1].events = POLLIN;
		np = pidfd != -1 ? 2 : 1;
		if (poll(pfd, (nfds_t)np, pidfd != -1 ? -1 :
		    HOOK_POLL_TICK_MS) == -1 && errno != EINTR)
			break;
		if (pfd[0].revents != 0) {
			n = read(ctl, &cmd, 1);
			if (n == 0 || (n == -1 && errno != EINTR))
				break;		/* the handler is gone */
			if (n == 1 && cmd == HK_CMD_TERM)
				(void)kill(-hook, SIGTERM);
			else if (n == 1 && cmd == HK_CMD_KILL) {
				(void)kill(-hook, SIGKILL);
				if (subreaper)
					(void)sup_signal_children(SIGKILL);
			}
		}
		if ((pidfd == -1 || pfd[1].revents != 0) && hook_exited(hook))
			break;
	}
	if (pidfd != -1)
		close(pidfd);
}

/*
 * The supervisor, in the forked process.  Every signal stays blocked (as
 * run_spawn blocked them around the fork): nothing but SIGKILL ends it
 * before its work is done, and it waits through poll and waitpid only.
 * SIGCHLD gets its default disposition so that waitpid sees the
 * children even if the handler ignored it.
 * The handler is single-threaded, so after fork this is an ordinary
 * process, free to call any function.
 */
__attribute__((noreturn)) static void
sup_main(struct hk_run *r)
{
	struct hk_spawn_err	 se;
	struct sigaction	 sa;
	pid_t			 hook;
	size_t			 got = 0;
	ssize_t			 n;
	int			 subreaper, status;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	(void)sigaction(SIGCHLD, &sa, NULL);
	/* The handler's ends. */
	close_fd(&r->pctl[1]);
	close_fd(&r->pres[0]);
	close_fd(&r->pin[1]);
	close_fd(&r->pout[0]);
	close_fd(&r->perr[0]);
	subreaper = prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
	r->c.ppid = getpid();
	hook = spawn_child(&r->c);
	close_fd(&r->pin[0]);
	close_fd(&r->pout[1]);
	close_fd(&r->perr[1]);
	if (hook == -1) {
		sup_send(r->pres[1], HK_MSG_FAILED, HK_CLONE, errno, 0);
		_exit(0);
	}
	/* The exec-error pipe has its write end in the hook only now: EOF
	 * means execve succeeded.  The hook's set-up never blocks. */
	close_fd(&r->pexec[1]);
	while (got < sizeof(se)) {
		n = read(r->pexec[0], (char *)&se + got, sizeof(se) - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got > 0) {
		status = sup_reap_all(hook, subreaper);
		sup_send(r->pres[1], HK_MSG_FAILED, got == sizeof(se) ?
		    se.step : -1, got == sizeof(se) ? se.err : 0, status);
		_exit(0);
	}
	sup_send(r->pres[1], HK_MSG_STARTED, 0, 0, 0);
	sup_watch(hook, r->pctl[0], subreaper);
	status = sup_reap_all(hook, subreaper);
	sup_send(r->pres[1], HK_MSG_DONE, 0, 0, status);
	_exit(0);
}

/* ---- The handler's side of a run ---------------------------------------- */

static void
run_init(struct hk_run *r, const struct sh_config *cfg,
    const struct sh_hook *hook, const unsigned char *body, size_t len)
{
	int	 i;

	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	r->hook = hook;
	r->body = body;
	r->len = len;
	r->sup = -1;
	for (i = 0; i < 2; i++)
		r->pin[i] = r->pout[i] = r->perr[i] = r->pexec[i] =
		    r->pctl[i] = r->pres[i] = -1;
	buf_init(&r->tag);
	r->out.fd = r->err.fd = -1;
	buf_init(&r->out.line);
	buf_init(&r->err.line);
	r->out.name = "stdout";
	r->err.name = "stderr";
	r->out.prio = LOG_INFO;
	r->err.prio = LOG_WARNING;
	r->start = mono_now();
}

/* The log tag; everything in it comes from outside, so all of it is
 * escaped. */
static int
run_tag(struct hk_run *r, const struct sh_event *ev)
{
	const char	*who = r->hook->identity != NULL ? r->hook->identity :
			    r->hook->argv[0];

	if (buf_puts(&r->tag, "hook event=") == -1 ||
	    buf_escape(&r->tag, ev->id != NULL ? ev->id : "-",
	    ev->id != NULL ? strlen(ev->id) : 1) == -1 ||
	    buf_puts(&r->tag, " hook=\"") == -1 ||
	    buf_qescape(&r->tag, who, strlen(who)) == -1 ||
	    buf_puts(&r->tag, "\"") == -1)
		return -1;
	r->lg.tag = r->tag.p;
	return 0;
}

/*
 * The pipes: every one close-on-exec from birth (a spawn elsewhere never
 * inherits one; the hook's dup2 onto 0-2 makes its copies), above fd 2,
 * and the handler's ends of the hook's stdio non-blocking.
 */
static int
run_pipes(struct hk_run *r)
{
	int	*fds[] = { &r->pin[0], &r->pin[1], &r->pout[0], &r->pout[1],
		    &r->perr[0], &r->perr[1], &r->pexec[0], &r->pexec[1],
		    &r->pctl[0], &r->pctl[1], &r->pres[0], &r->pres[1] };
	size_t	 i;

	if (pipe2(r->pin, O_CLOEXEC) == -1 || pipe2(r->pout, O_CLOEXEC) == -1 ||
	    pipe2(r->perr, O_CLOEXEC) == -1 ||
	    pipe2(r->pexec, O_CLOEXEC) == -1 ||
	    pipe2(r->pctl, O_CLOEXEC) == -1 || pipe2(r->pres, O_CLOEXEC) == -1) {
		tag_log(r->tag.p, LOG_WARNING, "spawn-failed: pipe: %s",
		    strerror(errno));
		return -1;
	}
	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fd_above_stdio(fds[i]) == -1)
			goto fail;
	if (fcntl(r->pin[1], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(r->pout[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(r->perr[0], F_SETFL, O_NONBLOCK) == -1)
		goto fail;
	return 0;
fail:
	tag_log(r->tag.p, LOG_WARNING, "spawn-failed: fcntl: %s",
	    strerror(errno));
	return -1;
}

/* Tag, environment, pipes and the hook's start-up record. */
static int
run_prepare(struct hk_run *r, const struct sh_event *ev)
{
	struct rlimit	 rl;

	if (run_tag(r, ev) == -1) {
		log_warn("hook: cannot start");
		return -1;
	}
	if ((r->envp = env_build(r->cfg, ev, &r->nown)) == NULL) {
		tag_log(r->tag.p, LOG_WARNING, "spawn-failed: environment: %s",
		    strerror(errno));
		return -1;
	}
	if (run_pipes(r) == -1)
		return -1;
	if (hk_stack() == -1) {
		tag_log(r->tag.p, LOG_WARNING, "spawn-failed: mmap: %s",
		    strerror(errno));
		return -1;
	}
	r->c.argv = r->hook->argv;
	r->c.envp = r->envp;
	r->c.stdio[0] = r->pin[0];
	r->c.stdio[1] = r->pout[1];
	r->c.stdio[2] = r->perr[1];
	r->c.errfd = r->pexec[1];
	r->c.maxfd = HOOK_CLOSE_LOOP_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < INT_MAX)
		r->c.maxfd = (int)rl.rlim_cur;
	r->c.cpu = r->cfg->limit_cpu;
	r->c.files = r->cfg->limit_files;
	r->c.fsize = r->cfg->limit_fsize;
	return 0;
}

/*
 * Forks the supervisor.  Every signal is blocked across the fork, so that
 * no handler of ours runs in the supervisor (it keeps them blocked) or in
 * the hook (which resets them).  Back in the handler, SIGPIPE stays
 * blocked while the body is written, so a hook that stops reading gives
 * EPIPE, not a signal (libfcgi installs a handler; the default would kill
 * us); run_free consumes one that our writes raised.
 */
static int
run_spawn(struct hk_run *r)
{
	sigset_t	 mask, pend;
	int		 save;

	sigfillset(&mask);
	sigprocmask(SIG_SETMASK, &mask, &r->oldmask);
	r->blocked = 1;
	if ((r->sup = fork()) == 0)
		sup_main(r);
	save = errno;
	sigpending(&pend);
	r->pipe_pending = sigismember(&pend, SIGPIPE);
	mask = r->oldmask;
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	if (r->sup == -1) {
		tag_log(r->tag.p, LOG_WARNING, "spawn-failed: fork: %s",
		    strerror(save));
		return -1;
	}
	/* The ends that belong to the hook and to the supervisor. */
	close_fd(&r->pin[0]);
	close_fd(&r->pout[1]);
	close_fd(&r->perr[1]);
	close_fd(&r->pexec[0]);
	close_fd(&r->pexec[1]);
	close_fd(&r->pctl[0]);
	close_fd(&r->pres[1]);
	r->out.fd = r->pout[0];
	r->pout[0] = -1;
	r->err.fd = r->perr[0];
	r->perr[0] = -1;
	if (r->len == 0)
		close_fd(&r->pin[1]);
	return 0;
}

/* Reads the supervisor's next message; EOF (it is gone) leaves kind 0. */
static void
run_message(struct hk_run *r)
{
	size_t	 got = 0;
	ssize_t	 n;

	memset(&r->msg, 0, sizeof(r->msg));
	while (got < sizeof(r->msg)) {
		n = read(r->pres[0], (char *)&r->msg + got,
		    sizeof(r->msg) - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != sizeof(r->msg))
		memset(&r->msg, 0, sizeof(r->msg));
}

/* The supervisor's first message: the hook runs, or why it does not. */
static int
run_started(struct hk_run *r, struct sh_hook_result *res)
{
	struct sh_buf	 esc;
	const struct hk_msg *m = &r->msg;

	run_message(r);
	if (m->kind == HK_MSG_STARTED) {
		res->spawned = 1;
		return 0;
	}
	buf_init(&esc);
	if (m->kind == HK_MSG_FAILED && m->step == HK_EXECVE &&
	    buf_escape(&esc, r->hook->argv[0], strlen(r->hook->argv[0])) == 0)
		tag_log(r->tag.p, LOG_WARNING, "spawn-failed: cannot "
		    "execute %s: %s", esc.p, strerror(m->err));
	else if (m->kind == HK_MSG_FAILED && m->step >= 0 &&
	    m->step < HK_NSTEPS)
		tag_log(r->tag.p, LOG_WARNING, "spawn-failed: %s: %s",
		    hk_step_name[m->step], strerror(m->err));
	else
		tag_log(r->tag.p, LOG_WARNING, "spawn-failed");
	buf_free(&esc);
	res->status = m->status;
	return -1;
}

/* One command to the supervisor; if it is gone, its last message (or
 * EOF) is already on its way. */
static void
run_command(struct hk_run *r, unsigned char cmd)
{
	ssize_t	 n;

	do
		n = write(r->pctl[1], &cmd, 1);
	while (n == -1 && errno == EINTR);
}

/* hook_timeout: SIGTERM to the hook's process group, then SIGKILL to all
 * of the run SH_HOOK_KILL_GRACE seconds later, both by the supervisor.
 * Returns the milliseconds until the next step (-1: none). */
static int
run_timeout(struct hk_run *r, struct sh_hook_result *res)
{
	double		 now = mono_now();
	double		 deadline = r->start + (double)r->cfg->hook_timeout;
	double		 kill_at = deadline + SH_HOOK_KILL_GRACE;

	if (!r->term_sent && now >= deadline) {
		tag_log(r->tag.p, LOG_WARNING, "timeout=%ld signal=TERM",
		    r->cfg->hook_timeout);
		run_command(r, HK_CMD_TERM);
		r->term_sent = res->timed_out = 1;
	}
	if (r->term_sent && !r->kill_sent && now >= kill_at) {
		tag_log(r->tag.p, LOG_WARNING, "timeout=%ld signal=KILL",
		    r->cfg->hook_timeout);
		run_command(r, HK_CMD_KILL);
		r->kill_sent = 1;
	}
	if (r->kill_sent)
		return -1;
	return (int)(((r->term_sent ? kill_at : deadline) - now) * 1000) + 1;
}

/* Writes what the hook's stdin takes; a hook that stopped reading (EPIPE)
 * is not a failure. */
static void
run_feed(struct hk_run *r)
{
	ssize_t	 n;

	n = write(r->pin[1], r->body + r->off, r->len - r->off);
	if (n > 0)
		r->off += (size_t)n;
	else if (n == -1 && errno != EINTR && errno != EAGAIN &&
	    errno != EWOULDBLOCK)
		r->off = r->len;
	if (r->off == r->len)
		close_fd(&r->pin[1]);
}

/*
 * Feed and drain: the body goes to stdin while stdout and stderr are
 * read, all through one poll loop on non-blocking ends, so neither side
 * can block the other.  The loop ends with the supervisor's last message,
 * which it sends once the hook and everything it started are gone.
 */
static void
run_io(struct hk_run *r, struct sh_hook_result *res)
{
	struct pollfd	 pfd[4];
	int		 i, np, ms;

	while (r->msg.kind != HK_MSG_DONE) {
		if (!r->kill_sent && guard_lost(mono_now())) {
			/* The lock's session is lost (hook_guard). */
			run_command(r, HK_CMD_KILL);
			r->term_sent = r->kill_sent = res->lost = 1;
		}
		ms = guard_bound(mono_now(), run_timeout(r, res));
		np = 0;
		memset(pfd, 0, sizeof(pfd));
		if (r->pin[1] != -1) {
			pfd[np].fd = r->pin[1];
			pfd[np++].events = POLLOUT;
		}
		if (r->out.fd != -1) {
			pfd[np].fd = r->out.fd;
			pfd[np++].events = POLLIN;
		}
		if (r->err.fd != -1) {
			pfd[np].fd = r->err.fd;
			pfd[np++].events = POLLIN;
		}
		pfd[np].fd = r->pres[0];
		pfd[np++].events = POLLIN;
		if (poll(pfd, (nfds_t)np, ms) == -1) {
			if (errno == EINTR)
				continue;
			/* Cannot wait on the pipes: end the run. */
			tag_log(r->tag.p, LOG_WARNING, "poll: %s",
			    strerror(errno));
			run_command(r, HK_CMD_KILL);
			run_message(r);
			break;
		}
		for (i = 0; i < np; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (pfd[i].fd == r->pin[1])
				run_feed(r);
			else if (pfd[i].fd == r->out.fd)
				out_read(&r->lg, &r->out, 0);
			else if (pfd[i].fd == r->err.fd)
				out_read(&r->lg, &r->err, 0);
			else if (pfd[i].fd == r->pres[0]) {
				run_message(r);
				if (r->msg.kind != HK_MSG_DONE)
					break;	/* lost: no more to wait for */
			}
		}
		if (pfd[np - 1].revents != 0 && r->msg.kind != HK_MSG_DONE)
			break;
	}
}

/* Wait: takes what is still buffered (the run is over, so whatever held
 * the pipes is gone) and reaps the supervisor. */
static void
run_finish(struct hk_run *r, struct sh_hook_result *res)
{
	pid_t	 w;
	int	 st;

	close_fd(&r->pin[1]);
	out_read(&r->lg, &r->out, 1);
	out_read(&r->lg, &r->err, 1);
	out_flush(&r->lg, &r->out);
	out_flush(&r->lg, &r->err);
	while ((w = waitpid(r->sup, &st, 0)) == -1 && errno == EINTR)
		;
	r->sup = -1;
	if (r->msg.kind != HK_MSG_DONE) {
		/* The supervisor died (or was reaped elsewhere) before it
		 * knew the outcome: not a success. */
		tag_log(r->tag.p, LOG_WARNING, "supervisor lost: %s",
		    w == -1 ? strerror(errno) : "exited early");
		res->status = W_EXITCODE(127, 0);
	} else
		res->status = r->msg.status;
	res->ok = !res->timed_out && WIFEXITED(res->status) &&
	    WEXITSTATUS(res->status) == 0;
}

static void
run_free(struct hk_run *r)
{
	sigset_t	 pipeset, pend;
	struct timespec	 zero = { 0, 0 };
	int		 i;

	/* A supervisor that never reported (spawn failure): closing the
	 * control pipe tells it to end the run; then reap it. */
	close_fd(&r->pctl[1]);
	if (r->sup > 0)
		while (waitpid(r->sup, NULL, 0) == -1 && errno == EINTR)
			;
	if (r->blocked) {
		/* Consume a SIGPIPE our writes raised, then restore. */
		sigemptyset(&pipeset);
		sigaddset(&pipeset, SIGPIPE);
		if (!r->pipe_pending) {
			sigpending(&pend);
			if (sigismember(&pend, SIGPIPE))
				(void)sigtimedwait(&pipeset, NULL, &zero);
		}
		sigprocmask(SIG_SETMASK, &r->oldmask, NULL);
	}
	close_fd(&r->out.fd);
	close_fd(&r->err.fd);
	for (i = 0; i < 2; i++) {
		close_fd(&r->pin[i]);
		close_fd(&r->pout[i]);
		close_fd(&r->perr[i]);
		close_fd(&r->pexec[i]);
		close_fd(&r->pctl[i]);
		close_fd(&r->pres[i]);
	}
	buf_free(&r->out.line);
	buf_free(&r->err.line);
	buf_free(&r->tag);
	env_free(r->envp, r->nown);
}

/*
 * Runs one hook (stripehook(8) HOOKS): prepare, spawn (through the run's
 * supervisor), feed and drain, wait.  The hook and everything it started
 * are gone, killed if need be, and reaped before this returns; see the
 * supervisor above for what happens when the handler dies first.
 */
int
hook_run(const struct sh_config *cfg, const struct sh_hook *hook,
    const struct sh_event *ev, const unsigned char *body, size_t len,
    struct sh_hook_result *res)
{
	struct hk_run	 r;

	memset(res, 0, sizeof(*res));
	run_init(&r, cfg, hook, body, len);
	if (run_prepare(&r, ev) == 0 && run_spawn(&r) == 0 &&
	    run_started(&r, res) == 0) {
		run_io(&r, res);
		run_finish(&r, res);
	}
	res->seconds = mono_now() - r.start;
	run_free(&r);
	return res->ok ? 0 : -1;
}
