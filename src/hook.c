/*
 * Running one hook (SPEC section 5): pattern matching, then fork + execve
 * of the operator's program with the raw body on stdin, its output drained
 * into the log, a timeout that ends in a kill of its process group, and a
 * reap of every child made here.
 *
 * fork + execve rather than posix_spawn: the child needs setrlimit and
 * PR_SET_PDEATHSIG, which posix_spawn cannot do.  Everything the child
 * uses is built before fork; the child side calls only async-signal-safe
 * functions.
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
#define HOOK_CHILD_STACK	(64 * 1024)	/* the child's stack until execve */
#define HOOK_ENV_STRIPE_MAX	9	/* STRIPE_* variables (SPEC 5) */
#define HOOK_CLOSE_LOOP_MAX	65536	/* fds closed one by one where
					 * close_range is missing and the
					 * limit is unbounded */

/* Steps of the child's set-up, reported to the parent on failure. */
enum hk_step {
	HK_SETSID, HK_PDEATHSIG, HK_SIGMASK, HK_DUP2, HK_CHDIR, HK_RLIMIT,
	HK_EXECVE
};
static const char *const hk_step_name[] = {
	[HK_SETSID] = "setsid", [HK_PDEATHSIG] = "prctl",
	[HK_SIGMASK] = "sigprocmask", [HK_DUP2] = "dup2",
	[HK_CHDIR] = "chdir", [HK_RLIMIT] = "setrlimit",
	[HK_EXECVE] = "execve"
};

/* What the child writes to the exec-error pipe when it cannot exec. */
struct hk_spawn_err {
	int	step;
	int	err;
};

/* Everything the child needs, prepared before fork. */
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

/*
 * SPEC 5: PATTERN matches the whole type; '*' matches any run of
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

/* Poll no longer than until the guard's next check. */
static int
guard_bound(double now, int ms)
{
	int	 g;

	if (guard_fn == NULL || guard_next == 0)
		return ms;
	g = guard_next > now ? (int)((guard_next - now) * 1000) + 1 : 0;
	return g < ms ? g : ms;
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

static double
mono_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
 * SPEC 5 environment: the configured variables (PATH included, already in
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
 * SPEC 5: own process group, dies with its handler, signal dispositions
 * and mask reset, body on 0, output on 1 and 2, every other fd closed,
 * working directory "/", hook_limits applied, execve of the path as
 * written (no PATH search, no shell).  Signals arrive blocked (see
 * hook_run) so no handler of the parent runs here.
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
#if defined(__GLIBC__) && (__GLIBC__ > 2 || \
    (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
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
 * The child starts the way posix_spawn(3) starts one: clone(2) with
 * CLONE_VM | CLONE_VFORK, so no page table is copied and we sleep until
 * its execve, but on a stack of its own, so nothing it does can touch
 * ours.  The stack is mapped once and reused: one hook runs at a time.
 */
static int __attribute__((unused))
child_entry(void *arg)
{
	child_run(arg);
}

#if defined(__SANITIZE_ADDRESS__)
#define HOOK_SPAWN_FORK	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOOK_SPAWN_FORK	1
#endif
#endif

static pid_t
spawn_child(const struct hk_child *c)
{
#ifdef HOOK_SPAWN_FORK
	/* AddressSanitizer cannot follow a child that shares its memory:
	 * checking builds fork. */
	pid_t	 pid;

	if ((pid = fork()) == 0)
		child_run(c);
	return pid;
#else
	static char	*stack;

	if (stack == NULL) {
		/* An anonymous mapping takes fd -1 (mmap(2)). */
		stack = mmap(NULL, HOOK_CHILD_STACK, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
		    // cppcheck-suppress invalidFunctionArg
		    -1, 0);
		if (stack == MAP_FAILED) {
			stack = NULL;
			return -1;
		}
	}
	/* The stack grows down: hand clone its top. */
	return clone(child_entry, stack + HOOK_CHILD_STACK,
	    CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)c);
#endif
}

/* Logs one line of hook output, escaped and tagged, within the run's
 * SPEC 5 budget (a line counts with its end). */
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

static int
pidfd_open_compat(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);	/* close-on-exec */
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
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
 * SPEC 5.  The body goes to stdin while stdout and stderr are read, all
 * through one poll loop on non-blocking ends, so neither side can block
 * the other.  The loop ends when the hook itself has exited (seen through
 * a pidfd, or by polling waitid where pidfds are missing); whatever is
 * then buffered is read and the pipes are let go, even if a background
 * child of the hook still holds them.  After hook_timeout seconds its
 * process group gets SIGTERM, and SIGKILL SH_HOOK_KILL_GRACE seconds later
 * (at once if the hook exits before that, while its zombie still pins the
 * group id).  The hook is always reaped before returning.
 */
int
hook_run(const struct sh_config *cfg, const struct sh_hook *hook,
    const struct sh_event *ev, const unsigned char *body, size_t len,
    struct sh_hook_result *res)
{
	struct hk_child		 c;
	struct hk_stream	 out, err;
	struct hk_log		 lg;
	struct hk_spawn_err	 se;
	struct pollfd		 pfd[4];
	struct sh_buf		 tag, esc;
	sigset_t		 mask, pipeset, oldmask, pend;
	struct timespec		 zero = { 0, 0 };
	struct rlimit		 rl;
	char			**envp = NULL;
	size_t			 nown = 0, off = 0, got;
	/* Pipes named after the child's side: its stdin, stdout, stderr,
	 * and the exec-error pipe. */
	int			 pin[2] = { -1, -1 }, pout[2] = { -1, -1 };
	int			 perr[2] = { -1, -1 }, pexec[2] = { -1, -1 };
	int			 pidfd = -1, *fds[8], i, np, status = 0;
	int			 blocked = 0, pipe_pending = 0, exited = 0;
	int			 term_sent = 0, kill_sent = 0, ms;
	pid_t			 pid = -1, w;
	ssize_t			 n;
	double			 start, now, deadline, kill_at = 0, next;

	memset(res, 0, sizeof(*res));
	sigemptyset(&pipeset);
	sigaddset(&pipeset, SIGPIPE);
	buf_init(&tag);
	buf_init(&esc);
	out.fd = err.fd = -1;
	buf_init(&out.line);
	buf_init(&err.line);
	out.name = "stdout";
	err.name = "stderr";
	out.prio = LOG_INFO;
	err.prio = LOG_WARNING;
	out.skipping = err.skipping = 0;
	lg.logged = 0;
	lg.cut = 0;
	start = mono_now();

	/* Everything in the tag comes from outside: escape it all. */
	if (buf_puts(&tag, "hook event=") == -1 ||
	    buf_escape(&tag, ev->id != NULL ? ev->id : "-",
	    ev->id != NULL ? strlen(ev->id) : 1) == -1 ||
	    buf_puts(&tag, " hook=\"") == -1 ||
	    buf_qescape(&tag, hook->identity != NULL ? hook->identity :
	    hook->argv[0], strlen(hook->identity != NULL ? hook->identity :
	    hook->argv[0])) == -1 || buf_puts(&tag, "\"") == -1) {
		log_warn("hook: cannot start");
		goto done;
	}
	lg.tag = tag.p;

	if ((envp = env_build(cfg, ev, &nown)) == NULL) {
		tag_log(tag.p, LOG_WARNING, "spawn-failed: environment: %s",
		    strerror(errno));
		goto done;
	}
	/* Every pipe is close-on-exec from birth: a spawn elsewhere never
	 * inherits one; the child's dup2 onto 0-2 makes its copies. */
	if (pipe2(pin, O_CLOEXEC) == -1 || pipe2(pout, O_CLOEXEC) == -1 ||
	    pipe2(perr, O_CLOEXEC) == -1 || pipe2(pexec, O_CLOEXEC) == -1) {
		tag_log(tag.p, LOG_WARNING, "spawn-failed: pipe: %s",
		    strerror(errno));
		goto done;
	}
	fds[0] = &pin[0];
	fds[1] = &pin[1];
	fds[2] = &pout[0];
	fds[3] = &pout[1];
	fds[4] = &perr[0];
	fds[5] = &perr[1];
	fds[6] = &pexec[0];
	fds[7] = &pexec[1];
	for (i = 0; i < 8; i++)
		if (fd_above_stdio(fds[i]) == -1) {
			tag_log(tag.p, LOG_WARNING, "spawn-failed: fcntl: %s",
			    strerror(errno));
			goto done;
		}
	if (fcntl(pin[1], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(pout[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(perr[0], F_SETFL, O_NONBLOCK) == -1) {
		tag_log(tag.p, LOG_WARNING, "spawn-failed: fcntl: %s",
		    strerror(errno));
		goto done;
	}

	memset(&c, 0, sizeof(c));
	c.argv = hook->argv;
	c.envp = envp;
	c.ppid = getpid();
	c.stdio[0] = pin[0];
	c.stdio[1] = pout[1];
	c.stdio[2] = perr[1];
	c.errfd = pexec[1];
	c.maxfd = HOOK_CLOSE_LOOP_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < INT_MAX)
		c.maxfd = (int)rl.rlim_cur;
	c.cpu = cfg->limit_cpu;
	c.files = cfg->limit_files;
	c.fsize = cfg->limit_fsize;

	/* Block every signal across the clone so that no handler of ours
	 * runs in the child before it resets them.  Not fork: sharing our
	 * memory until execve instead of copying the page tables halves
	 * the cost of a hook (docs/benchmarks.md).  child_run only makes
	 * system calls and never returns; the one thing it shares with us
	 * is errno, which we do not read after a successful start.
	 * (posix_spawn cannot set PR_SET_PDEATHSIG or resource limits.) */
	sigfillset(&mask);
	sigprocmask(SIG_SETMASK, &mask, &oldmask);
	blocked = 1;
	start = mono_now();
	pid = spawn_child(&c);
	/* Parent: keep SIGPIPE blocked while writing the body, so a hook
	 * that stops reading gives EPIPE, not a signal (libfcgi installs a
	 * handler; the default would kill us). */
	sigpending(&pend);
	pipe_pending = sigismember(&pend, SIGPIPE);
	mask = oldmask;
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	if (pid == -1) {
		tag_log(tag.p, LOG_WARNING, "spawn-failed: clone: %s",
		    strerror(errno));
		goto done;
	}
	close_fd(&pin[0]);
	close_fd(&pout[1]);
	close_fd(&perr[1]);
	close_fd(&pexec[1]);

	/* EOF on the exec-error pipe means execve succeeded.  The child's
	 * set-up never blocks, so this read is short. */
	got = 0;
	while (got < sizeof(se)) {
		n = read(pexec[0], (char *)&se + got, sizeof(se) - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close_fd(&pexec[0]);
	if (got > 0) {
		buf_reset(&esc);
		if (got == sizeof(se) && se.step == HK_EXECVE &&
		    buf_escape(&esc, hook->argv[0], strlen(hook->argv[0])) == 0)
			tag_log(tag.p, LOG_WARNING, "spawn-failed: cannot "
			    "execute %s: %s", esc.p, strerror(se.err));
		else if (got == sizeof(se) && se.step >= 0 &&
		    se.step <= HK_EXECVE)
			tag_log(tag.p, LOG_WARNING, "spawn-failed: %s: %s",
			    hk_step_name[se.step], strerror(se.err));
		else
			tag_log(tag.p, LOG_WARNING, "spawn-failed");
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
		res->status = status;
		goto done;
	}
	res->spawned = 1;
	pidfd = pidfd_open_compat(pid);

	out.fd = pout[0];
	pout[0] = -1;
	err.fd = perr[0];
	perr[0] = -1;
	if (len == 0)
		close_fd(&pin[1]);
	deadline = start + (double)cfg->hook_timeout;

	while (!exited) {
		now = mono_now();
		if (!kill_sent && guard_lost(now)) {
			(void)kill(-pid, SIGKILL);
			term_sent = kill_sent = res->lost = 1;
		}
		if (!term_sent && now >= deadline) {
			tag_log(tag.p, LOG_WARNING, "timeout=%ld signal=TERM",
			    cfg->hook_timeout);
			(void)kill(-pid, SIGTERM);
			term_sent = res->timed_out = 1;
			kill_at = now + SH_HOOK_KILL_GRACE;
		}
		if (term_sent && !kill_sent && now >= kill_at) {
			tag_log(tag.p, LOG_WARNING, "timeout=%ld signal=KILL",
			    cfg->hook_timeout);
			(void)kill(-pid, SIGKILL);
			kill_sent = 1;
		}
		next = term_sent ? (kill_sent ? now + 1 : kill_at) : deadline;
		ms = (int)((next - now) * 1000) + 1;
		if (pidfd == -1 && ms > HOOK_POLL_TICK_MS)
			ms = HOOK_POLL_TICK_MS;
		ms = guard_bound(now, ms);

		np = 0;
		memset(pfd, 0, sizeof(pfd));
		if (pin[1] != -1) {
			pfd[np].fd = pin[1];
			pfd[np++].events = POLLOUT;
		}
		if (out.fd != -1) {
			pfd[np].fd = out.fd;
			pfd[np++].events = POLLIN;
		}
		if (err.fd != -1) {
			pfd[np].fd = err.fd;
			pfd[np++].events = POLLIN;
		}
		if (pidfd != -1) {
			pfd[np].fd = pidfd;
			pfd[np++].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)np, ms) == -1) {
			if (errno == EINTR)
				continue;
			tag_log(tag.p, LOG_WARNING, "poll: %s",
			    strerror(errno));
			/* Cannot wait on the pipes: just wait for the hook. */
			close_fd(&pin[1]);
			if (!term_sent)
				(void)kill(-pid, SIGKILL);
			break;
		}
		for (i = 0; i < np; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (pfd[i].fd == pin[1]) {
				n = write(pin[1], body + off, len - off);
				if (n > 0)
					off += (size_t)n;
				else if (n == -1 && errno != EINTR &&
				    errno != EAGAIN && errno != EWOULDBLOCK)
					off = len;	/* EPIPE: not a failure */
				if (off == len)
					close_fd(&pin[1]);
			} else if (pfd[i].fd == out.fd)
				out_read(&lg, &out, 0);
			else if (pfd[i].fd == err.fd)
				out_read(&lg, &err, 0);
		}
		if (pidfd == -1 || (pfd[np - 1].revents != 0))
			exited = hook_exited(pid);
	}

	/* The hook is gone (or beyond our pipes): take what is buffered. */
	close_fd(&pin[1]);
	out_read(&lg, &out, 1);
	out_read(&lg, &err, 1);
	out_flush(&lg, &out);
	out_flush(&lg, &err);
	if (term_sent && !kill_sent)
		(void)kill(-pid, SIGKILL);	/* the rest of a timed-out group */
	while ((w = waitpid(pid, &status, 0)) == -1 && errno == EINTR)
		;
	if (w == -1) {
		/* Reaped elsewhere: the outcome is unknown, so not a success. */
		tag_log(tag.p, LOG_WARNING, "waitpid: %s", strerror(errno));
		status = W_EXITCODE(127, 0);
	}
	res->status = status;
	res->ok = !res->timed_out && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0;

done:
	res->seconds = mono_now() - start;
	if (blocked) {
		/* Consume a SIGPIPE our writes raised, then restore. */
		if (!pipe_pending) {
			sigpending(&pend);
			if (sigismember(&pend, SIGPIPE))
				(void)sigtimedwait(&pipeset, NULL, &zero);
		}
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
	}
	if (pidfd != -1)
		close(pidfd);
	close_fd(&out.fd);
	close_fd(&err.fd);
	for (i = 0; i < 2; i++) {
		close_fd(&pin[i]);
		close_fd(&pout[i]);
		close_fd(&perr[i]);
		close_fd(&pexec[i]);
	}
	buf_free(&out.line);
	buf_free(&err.line);
	buf_free(&tag);
	buf_free(&esc);
	env_free(envp, nown);
	return res->ok ? 0 : -1;
}
