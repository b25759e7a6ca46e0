/*
 * Unit tests for hook.c: pattern matching and running one hook
 * (stripehook(8) HOOKS).
 * Helper hooks are small sh scripts written at run time into a fresh
 * temporary directory.  The log (fd 2) is captured into a file around
 * each run and searched for the tagged, escaped lines.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "stripehook.h"
#include "tap.h"

static char	 dir[256];
static char	 capfile[512];
static char	 idtag[1024];	/* expected tag of the current hook */
static int	 defer_checks;	/* stdout is closed: run_hook must not print */

static double
now_mono(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes a helper hook (or any file) into the test directory. */
static const char *
script(const char *name, const char *text, mode_t mode)
{
	static char	 paths[32][512];
	static int	 np;
	char		*p = paths[np++ % 32];
	FILE		*f;

	snprintf(p, 512, "%s/%s", dir, name);
	if ((f = fopen(p, "w")) == NULL || fputs(text, f) == EOF ||
	    fclose(f) == EOF || chmod(p, mode) == -1) {
		perror(p);
		exit(99);
	}
	return p;
}

static char *
slurp(const char *path, size_t *lenp)
{
	struct sh_buf	 b;
	int		 fd;

	buf_init(&b);
	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	if (read_fd_all(fd, &b, SIZE_MAX) == -1 || buf_append(&b, "", 0)) {
		close(fd);
		buf_free(&b);
		return NULL;
	}
	close(fd);
	if (lenp != NULL)
		*lenp = b.len;
	return b.p;
}

/* cfg->env as config.c builds it: PATH always present. */
static char	 env_path[] = "PATH=/usr/local/bin:/usr/bin:/bin";
static char	 env_db[] = "ORDER_DB=/var/lib/shop/orders.db";
static char	*env_default[] = { env_path, env_db, NULL };
static char	 env_path2[] = "PATH=/opt/hooks/bin:/usr/bin:/bin";
static char	 p_env[] = "/usr/bin/env", p_ls[] = "/bin/ls";
static char	 p_fds[] = "/proc/self/fd", p_pwd[] = "/bin/pwd";
static char	 pattern[] = "charge.*";

static void
cfg_init(struct sh_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->hook_timeout = SH_DEFAULT_HOOK_TIMEOUT;
	cfg->limit_cpu = cfg->limit_files = cfg->limit_fsize = -1;
	cfg->env = env_default;
	cfg->nenv = 2;
}

static void
ev_init(struct sh_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->id = "evt_1NG8Du2eZvKYlo2CUI79vXWy";
	ev->type = "charge.succeeded";
	ev->object = "event";
	ev->livemode = 0;
	ev->created = "1700000000";
	ev->api_version = "2024-06-20";
	ev->object_id = "ch_3MmlLrLkdIwHu7ix0snN0B15";
	ev->object_type = "charge";
}

/* A hook "on charge.* ARGV..." built by hand as config.c would. */
static struct sh_hook *
mkhook(struct sh_hook *h, char **argv)
{
	static char	 ident[2048];
	size_t		 i;

	snprintf(ident, sizeof(ident), "charge.*");
	for (i = 0; argv[i] != NULL; i++) {
		strncat(ident, " ", sizeof(ident) - strlen(ident) - 1);
		strncat(ident, argv[i], sizeof(ident) - strlen(ident) - 1);
	}
	h->pattern = pattern;
	h->argv = argv;
	h->identity = ident;
	h->line = 1;
	/* Expected tag: the identity as is inside quotes (spaces stay; the
	 * test paths hold no other special byte). */
	snprintf(idtag, sizeof(idtag), "hook event=%s hook=\"charge.*",
	    "evt_1NG8Du2eZvKYlo2CUI79vXWy");
	for (i = 0; argv[i] != NULL; i++) {
		strncat(idtag, " ", sizeof(idtag) - strlen(idtag) - 1);
		strncat(idtag, argv[i], sizeof(idtag) - strlen(idtag) - 1);
	}
	strncat(idtag, "\"", sizeof(idtag) - strlen(idtag) - 1);
	return h;
}

struct run {
	struct sh_hook_result	 res;
	int			 rc;
	double			 elapsed;
	int			 nochild;	/* waitpid(-1) says ECHILD */
	char			*log;
	char			 word[64];
};

/* Runs a hook with fd 2 captured; checks no child is left behind. */
static void
run_hook(struct run *r, const struct sh_config *cfg, char **argv,
    const struct sh_event *evp, const void *body, size_t len)
{
	struct sh_event	 ev;
	struct sh_hook	 h;
	double		 t0;
	int		 saved, fd;

	if (evp == NULL) {
		ev_init(&ev);
		evp = &ev;
	}
	mkhook(&h, argv);
	fflush(stdout);
	saved = dup(STDERR_FILENO);	/* not close-on-exec, on purpose */
	fd = open(capfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (saved == -1 || fd == -1 || dup2(fd, STDERR_FILENO) == -1) {
		perror("capture");
		exit(99);
	}
	close(fd);
	t0 = now_mono();
	r->rc = hook_run(cfg, &h, evp, body, len, &r->res);
	r->elapsed = now_mono() - t0;
	dup2(saved, STDERR_FILENO);
	close(saved);
	r->log = slurp(capfile, NULL);
	if (r->log == NULL)
		r->log = strdup("");
	hook_result_word(&r->res, r->word, sizeof(r->word));
	errno = 0;
	r->nochild = waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD;
	if (!defer_checks)
		ok(r->nochild, "%s: no child left", strrchr(argv[0], '/'));
}

static void
run_free(struct run *r)
{
	free(r->log);
	r->log = NULL;
}

/* The log holds "TAG REST" on some line. */
static int
logged(const struct run *r, const char *rest)
{
	char	 want[4096];

	snprintf(want, sizeof(want), "%s %s", idtag, rest);
	return strstr(r->log, want) != NULL;
}

/* Shows the captured log as TAP comments (after a failure). */
static void
show_log(const struct run *r)
{
	const char	*p = r->log, *e;

	while (*p != '\0') {
		e = strchrnul(p, '\n');
		printf("#   log: %.*s\n", (int)(e - p), p);
		p = *e != '\0' ? e + 1 : e;
	}
}

static int
count(const char *hay, const char *needle)
{
	int	 n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* Collects the stdout lines of the run (unescaped only as far as the
 * tests need: the values they compare hold no escaped byte). */
static int
stdout_lines(const struct run *r, char lines[][256], int max)
{
	const char	*p = r->log, *q, *e;
	char		 key[1200];
	int		 n = 0;

	snprintf(key, sizeof(key), "%s stream=stdout line=\"", idtag);
	while (n < max && (q = strstr(p, key)) != NULL) {
		q += strlen(key);
		if ((e = strchr(q, '"')) == NULL || e - q >= 256)
			break;
		memcpy(lines[n], q, (size_t)(e - q));
		lines[n][e - q] = '\0';
		n++;
		p = e;
	}
	return n;
}

static int
cmpstr(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void
test_match(void)
{
	static const struct {
		const char	*pat, *type;
		int		 want;
	} t[] = {
		{ "charge.succeeded", "charge.succeeded", 1 },
		{ "charge.succeeded", "charge.succeede", 0 },
		{ "charge.succeeded", "charge.succeeded.x", 0 },
		{ "charge.succeeded", "Charge.succeeded", 0 },
		{ "*", "charge.succeeded", 1 },
		{ "*", "a", 1 },
		{ "charge.*", "charge.dispute.created", 1 },
		{ "charge.*", "charge.", 1 },		/* empty run */
		{ "charge.*", "charge", 0 },
		{ "charge.*", "payment_intent.succeeded", 0 },
		{ "charge.dispute.*", "charge.dispute.created", 1 },
		{ "charge.dispute.*", "charge.refunded", 0 },
		{ "*.created", "charge.dispute.created", 1 },
		{ "*.created", "customer.created", 1 },
		{ "*.created", "customer.created.x", 0 },
		{ "*.created", "created", 0 },
		{ "*created", "created", 1 },		/* empty run */
		{ "a*b*c", "abc", 1 },
		{ "a*b*c", "axxbyyc", 1 },
		{ "a*b*c", "abcbc", 1 },
		{ "a*b*c", "acb", 0 },
		{ "a*b*c", "abcx", 0 },
		{ "a**b", "ab", 1 },
		{ "v1.[x].y", "v1.[x].y", 1 },		/* [ ] literal */
		{ "v1.[x].y", "v1.x.y", 0 },
		{ "v1.[xy].z", "v1.x.z", 0 },
		{ "[*]", "[anything]", 1 },
		{ "[*]", "anything", 0 },
		{ "?", "a", 0 },			/* ? is literal */
		{ "?", "?", 1 },
		{ "charge.*.created", "charge..created", 1 },
		{ "charge.*.created", "charge.created", 0 },
		{ "", "", 1 },
		{ "", "a", 0 },
		{ "a", "", 0 },
		{ "*", "", 1 },
		{ "*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(hook_match(t[i].pat, t[i].type), t[i].want,
		    "match '%s' '%.30s'", t[i].pat, t[i].type);
}

static void
test_words(void)
{
	struct sh_hook_result	 r;
	char			 b[64];

	memset(&r, 0, sizeof(r));
	is_str(hook_result_word(&r, b, sizeof(b)), "spawn-failed",
	    "word: not spawned");
	r.spawned = 1;
	r.ok = 1;
	is_str(hook_result_word(&r, b, sizeof(b)), "ok", "word: ok");
	r.ok = 0;
	r.status = 3 << 8;		/* exit 3, as wait(2) encodes it */
	is_str(hook_result_word(&r, b, sizeof(b)), "exit=3", "word: exit=3");
	r.status = 9;			/* killed by signal 9 */
	is_str(hook_result_word(&r, b, sizeof(b)), "signal=9",
	    "word: signal=9");
	r.timed_out = 1;
	is_str(hook_result_word(&r, b, sizeof(b)), "timeout", "word: timeout");
}

static void
test_exit_codes(const struct sh_config *cfg)
{
	struct run	 r;
	char		 want[256];
	char		*a0[] = { NULL, NULL };
	char		*a3[] = { NULL, NULL };
	char		*a9[] = { NULL, NULL };

	a0[0] = (char *)script("ok.sh", "#!/bin/sh\n"
	    "printf 'hello \"w\" \\\\ x\\tz\\n'\n"
	    "echo oops >&2\n"
	    "printf 'last'\n"
	    "exit 0\n", 0755);
	run_hook(&r, cfg, a0, NULL, "{}", 2);
	is_int(r.rc, 0, "exit 0: returns 0");
	ok(r.res.ok && r.res.spawned && !r.res.timed_out, "exit 0: ok");
	is_int(WIFEXITED(r.res.status) ? WEXITSTATUS(r.res.status) : -1, 0,
	    "exit 0: status");
	is_str(r.word, "ok", "exit 0: word ok");
	ok(r.res.seconds >= 0 && r.res.seconds < 10, "exit 0: seconds %.3f",
	    r.res.seconds);
	ok(logged(&r, "stream=stdout line=\"hello \\\"w\\\" \\\\"
	    " x\\tz\""), "exit 0: stdout line escaped and tagged");
	ok(logged(&r, "stream=stderr line=\"oops\""),
	    "exit 0: stderr line tagged");
	ok(logged(&r, "stream=stdout line=\"last\""),
	    "exit 0: final line without newline logged");
	snprintf(want, sizeof(want), "hook=\"charge.* %s\"", a0[0]);
	ok(strstr(r.log, want) != NULL, "exit 0: identity escaped");
	run_free(&r);

	a3[0] = (char *)script("exit3.sh", "#!/bin/sh\nexit 3\n", 0755);
	run_hook(&r, cfg, a3, NULL, "{}", 2);
	is_int(r.rc, -1, "exit 3: returns -1");
	ok(!r.res.ok && r.res.spawned && !r.res.timed_out, "exit 3: failed");
	is_str(r.word, "exit=3", "exit 3: word");
	run_free(&r);

	a9[0] = (char *)script("kill9.sh", "#!/bin/sh\nkill -9 $$\n", 0755);
	run_hook(&r, cfg, a9, NULL, "{}", 2);
	is_int(r.rc, -1, "signal: returns -1");
	ok(!r.res.ok && r.res.spawned && WIFSIGNALED(r.res.status) &&
	    WTERMSIG(r.res.status) == SIGKILL, "signal: killed by 9");
	is_str(r.word, "signal=9", "signal: word");
	run_free(&r);
}

static void
test_timeouts(void)
{
	struct sh_config cfg;
	struct run	 r;
	char		*as[] = { NULL, NULL };
	char		*at[] = { NULL, NULL };

	cfg_init(&cfg);
	cfg.hook_timeout = 1;
	as[0] = (char *)script("sleep.sh", "#!/bin/sh\nsleep 30\n", 0755);
	run_hook(&r, &cfg, as, NULL, "{}", 2);
	is_int(r.rc, -1, "timeout: returns -1");
	ok(!r.res.ok && r.res.spawned && r.res.timed_out, "timeout: timed_out");
	is_str(r.word, "timeout", "timeout: word");
	ok(r.elapsed >= 0.9 && r.elapsed < 10, "timeout: took %.2f s",
	    r.elapsed);
	ok(logged(&r, "timeout=1 signal=TERM"), "timeout: SIGTERM logged");
	run_free(&r);

	/* Ignores SIGTERM (and so does its sleep): SIGKILL after grace. */
	at[0] = (char *)script("trap.sh", "#!/bin/sh\ntrap '' TERM\n"
	    "sleep 30\nexit 0\n", 0755);
	run_hook(&r, &cfg, at, NULL, "{}", 2);
	ok(!r.res.ok && r.res.timed_out, "ignores TERM: timed_out");
	ok(WIFSIGNALED(r.res.status) && WTERMSIG(r.res.status) == SIGKILL,
	    "ignores TERM: killed by SIGKILL");
	ok(r.elapsed >= 1 + SH_HOOK_KILL_GRACE - 0.2 && r.elapsed < 10,
	    "ignores TERM: took %.2f s (timeout + grace)", r.elapsed);
	ok(logged(&r, "timeout=1 signal=KILL"), "ignores TERM: SIGKILL logged");
	run_free(&r);
}

/* The pid written into path by a hook, waiting up to 10 s; 0 if none. */
static pid_t
read_pid(const char *path)
{
	double	 t0;
	char	*s = NULL;
	pid_t	 pid;

	for (t0 = now_mono(); now_mono() - t0 < 10; usleep(20000))
		if ((s = slurp(path, NULL)) != NULL && strchr(s, '\n') != NULL)
			break;
		else {
			free(s);
			s = NULL;
		}
	if (s == NULL)
		return 0;
	pid = (pid_t)strtol(s, NULL, 10);
	free(s);
	return pid > 1 ? pid : 0;
}

/* 1 when pid no longer exists (not even as a zombie). */
static int
pid_gone(pid_t pid)
{
	return kill(pid, 0) == -1 && errno == ESRCH;
}

/* Kills what a failed check left running (with its process group, when
 * it leads one after setsid). */
static void
pid_end(pid_t pid)
{
	if (pid > 1 && !pid_gone(pid)) {
		(void)kill(-pid, SIGKILL);
		(void)kill(pid, SIGKILL);
	}
}

/* stripehook(8) HOOKS: what the hook leaves behind is killed when it
 * exits; a background child holding stdout does not make us wait. */
static void
test_background(const struct sh_config *cfg)
{
	struct run	 r;
	char		 pidf[600];
	char		*a[] = { NULL, pidf, NULL };
	pid_t		 bg;

	snprintf(pidf, sizeof(pidf), "%s/bg.pid", dir);
	a[0] = (char *)script("bg.sh", "#!/bin/sh\n"
	    "sleep 30 &\necho $! > \"$1\"\necho started\nexit 0\n", 0755);
	run_hook(&r, cfg, a, NULL, "{}", 2);
	ok(r.res.ok, "background child: hook ok");
	ok(r.elapsed < 10, "background child holding stdout: took %.2f s",
	    r.elapsed);
	ok(logged(&r, "stream=stdout line=\"started\""),
	    "background child: output before exit logged");
	bg = read_pid(pidf);
	ok(bg > 0 && pid_gone(bg),
	    "background child: killed and reaped when the hook exits");
	pid_end(bg);
	run_free(&r);
}

/* A timed-out hook leaves nothing behind, not even a child that left its
 * process group (setsid) and ignores SIGTERM. */
static void
test_timeout_setsid(void)
{
	struct sh_config cfg;
	struct run	 r;
	char		 pidf[600];
	char		*a[] = { NULL, pidf, NULL };
	pid_t		 bg;

	cfg_init(&cfg);
	cfg.hook_timeout = 1;
	snprintf(pidf, sizeof(pidf), "%s/ss.pid", dir);
	a[0] = (char *)script("ss.sh", "#!/bin/sh\n"
	    "setsid sh -c 'trap \"\" TERM; echo $$ > \"$1.tmp\"; "
	    "mv \"$1.tmp\" \"$1\"; exec sleep 30' sh \"$1\" &\n"
	    "sleep 30\n", 0755);
	run_hook(&r, &cfg, a, NULL, "{}", 2);
	ok(r.res.timed_out, "setsid child: the hook timed out");
	bg = read_pid(pidf);
	ok(bg > 0 && pid_gone(bg),
	    "setsid child of a timed-out hook: killed and reaped");
	pid_end(bg);
	run_free(&r);
}

static void
test_io(const struct sh_config *cfg)
{
	struct run	 r;
	unsigned char	*body;
	char		 outf[600], *got, line[SH_HOOK_LINE_MAX + 64];
	char		*ac[] = { NULL, NULL };
	char		*acat[] = { NULL, outf, NULL };
	char		*an[] = { NULL, NULL };
	char		*alg[] = { NULL, NULL };
	size_t		 blen = 2 * 1024 * 1024, glen, i;
	int		 nlines;

	if ((body = malloc(blen)) == NULL)
		exit(99);
	for (i = 0; i < blen; i++)
		body[i] = (unsigned char)((i * 7 + i / 251) & 0xff);
	body[0] = body[100] = body[blen - 1] = '\0';

	/* Writes 5 MB before reading stdin: no deadlock. */
	ac[0] = (char *)script("chatty.sh", "#!/bin/sh\n"
	    "yes hello | head -c 5000000\n"
	    "cat > /dev/null\nexit 0\n", 0755);
	run_hook(&r, cfg, ac, NULL, body, blen);
	ok(r.res.ok, "chatty: 5 MB out before 2 MB in: ok");
	nlines = count(r.log, "stream=stdout line=\"hello\"");
	/* stripehook(8) HOOKS: 64 KiB a run; "hello\n" is 6 bytes. */
	ok(nlines > 0 && nlines * 6 <= SH_HOOK_OUTPUT_MAX &&
	    nlines * 6 > SH_HOOK_OUTPUT_MAX - SH_HOOK_LINE_MAX,
	    "chatty: output logged up to 64 KiB (%d lines)", nlines);
	is_int(count(r.log, "output=cut"), 1, "chatty: one cut line");
	run_free(&r);

	/* Byte-exact stdin, NULs included. */
	snprintf(outf, sizeof(outf), "%s/stdin.out", dir);
	acat[0] = (char *)script("cat.sh", "#!/bin/sh\nexec cat > \"$1\"\n",
	    0755);
	run_hook(&r, cfg, acat, NULL, body, blen);
	ok(r.res.ok, "stdin copy: ok");
	got = slurp(outf, &glen);
	ok(got != NULL && glen == blen && memcmp(got, body, blen) == 0,
	    "stdin copy: byte-exact (%zu bytes)", got ? glen : 0);
	free(got);
	run_free(&r);

	/* Empty body: stdin at EOF at once. */
	run_hook(&r, cfg, acat, NULL, "", 0);
	got = slurp(outf, &glen);
	ok(r.res.ok && got != NULL && glen == 0, "empty body: empty stdin");
	free(got);
	run_free(&r);

	/* Never reads stdin: judged by its exit status alone, and our
	 * SIGPIPE (default disposition here) is not raised. */
	signal(SIGPIPE, SIG_DFL);
	an[0] = (char *)script("noread.sh", "#!/bin/sh\nexit 0\n", 0755);
	run_hook(&r, cfg, an, NULL, body, blen);
	ok(r.res.ok, "unread stdin, exit 0: ok");
	run_free(&r);
	an[0] = (char *)script("noread1.sh", "#!/bin/sh\nexit 1\n", 0755);
	run_hook(&r, cfg, an, NULL, body, blen);
	is_str(r.word, "exit=1", "unread stdin, exit 1: exit=1");
	run_free(&r);
	{
		sigset_t	 pend;

		sigpending(&pend);
		ok(!sigismember(&pend, SIGPIPE), "no SIGPIPE left pending");
	}

	/* Long line: cut at 1 KiB with a marker, the rest dropped. */
	alg[0] = (char *)script("long.sh", "#!/bin/sh\n"
	    "head -c 3000 /dev/zero | tr '\\000' a\necho\necho next\n"
	    "head -c 1024 /dev/zero | tr '\\000' b\necho\n", 0755);
	run_hook(&r, cfg, alg, NULL, "{}", 2);
	memset(line, 0, sizeof(line));
	memcpy(line, "stream=stdout line=\"", 20);
	memset(line + 20, 'a', SH_HOOK_LINE_MAX);
	strcat(line, "\" truncated=1");
	ok(logged(&r, line), "long line: first 1024 bytes, truncated=1");
	memset(line, 0, sizeof(line));
	memset(line, 'a', SH_HOOK_LINE_MAX + 1);
	ok(strstr(r.log, line) == NULL, "long line: nothing beyond 1024");
	ok(logged(&r, "stream=stdout line=\"next\""),
	    "long line: next line logged");
	memset(line, 0, sizeof(line));
	memcpy(line, "stream=stdout line=\"", 20);
	memset(line + 20, 'b', SH_HOOK_LINE_MAX);
	strcat(line, "\"\n");
	ok(logged(&r, line), "line of exactly 1024 bytes: whole, no marker");
	run_free(&r);
	free(body);
}

static void
on_alarm(int sig)
{
	(void)sig;
}

/* libfcgi installs handlers without SA_RESTART: every call may EINTR. */
static void
test_eintr(const struct sh_config *cfg)
{
	struct sigaction sa;
	struct itimerval it;
	struct run	 r;
	char		 outf[600], *got;
	char		*a[] = { NULL, outf, NULL };
	unsigned char	*body;
	size_t		 blen = 1024 * 1024, glen, i;

	if ((body = malloc(blen)) == NULL)
		exit(99);
	for (i = 0; i < blen; i++)
		body[i] = (unsigned char)(i % 253);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = 0;
	sigaction(SIGALRM, &sa, NULL);
	memset(&it, 0, sizeof(it));
	it.it_interval.tv_usec = it.it_value.tv_usec = 2000;
	setitimer(ITIMER_REAL, &it, NULL);

	snprintf(outf, sizeof(outf), "%s/eintr.out", dir);
	a[0] = (char *)script("slowcat.sh", "#!/bin/sh\n"
	    "yes line | head -n 2000\nsleep 0.3\ncat > \"$1\"\n"
	    "echo done >&2\nexit 0\n", 0755);
	run_hook(&r, cfg, a, NULL, body, blen);
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	ok(r.res.ok, "EINTR storm: ok");
	got = slurp(outf, &glen);
	ok(got != NULL && glen == blen && memcmp(got, body, blen) == 0,
	    "EINTR storm: stdin intact");
	ok(logged(&r, "stream=stderr line=\"done\""), "EINTR storm: output");
	free(got);
	free(body);
	run_free(&r);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGALRM, &sa, NULL);
}

static void
test_env(void)
{
	static const char *want1[] = {
		"ORDER_DB=/var/lib/shop/orders.db",
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"STRIPE_API_VERSION=2024-06-20",
		"STRIPE_CREATED=1700000000",
		"STRIPE_EVENT_ID=evt_1NG8Du2eZvKYlo2CUI79vXWy",
		"STRIPE_EVENT_OBJECT=event",
		"STRIPE_EVENT_TYPE=charge.succeeded",
		"STRIPE_LIVEMODE=false",
		"STRIPE_OBJECT_ID=ch_3MmlLrLkdIwHu7ix0snN0B15",
		"STRIPE_OBJECT_TYPE=charge",
	};
	static const char *want2[] = {
		"PATH=/opt/hooks/bin:/usr/bin:/bin",
		"STRIPE_ACCOUNT=acct_1032D82eZvKYlo2C",
		"STRIPE_CREATED=2024-09-01T12:00:00.000Z",
		"STRIPE_EVENT_ID=evt_1NG8Du2eZvKYlo2CUI79vXWy",
		"STRIPE_EVENT_OBJECT=v2.core.event",
		"STRIPE_EVENT_TYPE=v1.billing.meter.error_report_triggered",
		"STRIPE_LIVEMODE=true",
	};
	static char *env2[] = { env_path2, NULL };
	struct sh_config cfg;
	struct sh_event	 ev;
	struct run	 r;
	char		 lines[64][256];
	char		*a[] = { p_env, NULL };
	int		 n, i, same;

	setenv("FOO", "bar", 1);
	setenv("HTTP_STRIPE_SIGNATURE", "t=1,v1=00", 1);
	cfg_init(&cfg);
	run_hook(&r, &cfg, a, NULL, "{}", 2);
	n = stdout_lines(&r, lines, 64);
	qsort(lines, (size_t)n, sizeof(lines[0]), cmpstr);
	same = n == (int)(sizeof(want1) / sizeof(want1[0]));
	for (i = 0; same && i < n; i++)
		same = strcmp(lines[i], want1[i]) == 0;
	ok(r.res.ok && same, "env: exactly PATH, env lines and STRIPE_*");
	for (i = 0; !same && i < n; i++)
		printf("#   %s\n", lines[i]);
	run_free(&r);

	/* Thin event, live, account set, absent fields left out. */
	cfg.env = env2;
	cfg.nenv = 1;
	ev_init(&ev);
	ev.object = "v2.core.event";
	ev.type = "v1.billing.meter.error_report_triggered";
	ev.livemode = 1;
	ev.created = "2024-09-01T12:00:00.000Z";
	ev.api_version = NULL;
	ev.account = "acct_1032D82eZvKYlo2C";
	ev.object_id = ev.object_type = NULL;
	run_hook(&r, &cfg, a, &ev, "{}", 2);
	n = stdout_lines(&r, lines, 64);
	qsort(lines, (size_t)n, sizeof(lines[0]), cmpstr);
	same = n == (int)(sizeof(want2) / sizeof(want2[0]));
	for (i = 0; same && i < n; i++)
		same = strcmp(lines[i], want2[i]) == 0;
	ok(r.res.ok && same, "env: thin event, livemode true, absent omitted");
	for (i = 0; !same && i < n; i++)
		printf("#   %s\n", lines[i]);
	run_free(&r);

	ev.livemode = -1;
	run_hook(&r, &cfg, a, &ev, "{}", 2);
	ok(strstr(r.log, "STRIPE_LIVEMODE") == NULL,
	    "env: livemode absent, no STRIPE_LIVEMODE");
	run_free(&r);
	unsetenv("FOO");
	unsetenv("HTTP_STRIPE_SIGNATURE");
}

static void
test_process(const struct sh_config *cfg)
{
	struct sh_config lcfg;
	struct run	 r;
	struct stat	 st;
	char		 lines[16][256], cwd[512], big[600];
	char		*als[] = { p_ls, p_fds, NULL };
	char		*apwd[] = { p_pwd, NULL };
	char		*amiss[] = { NULL, NULL };
	char		*anox[] = { NULL, NULL };
	char		*aul[] = { NULL, NULL };
	char		*afs[] = { NULL, big, NULL };
	const char	*pre;
	int		 extra, n;

	/* An inheritable fd of ours must not reach the hook. */
	extra = open("/dev/null", O_RDONLY);
	ok(extra > 2 && fcntl(extra, F_GETFD) == 0, "extra fd %d inheritable",
	    extra);
	run_hook(&r, cfg, als, NULL, "{}", 2);
	n = stdout_lines(&r, lines, 16);
	ok(r.res.ok && n == 4 && strcmp(lines[0], "0") == 0 &&
	    strcmp(lines[1], "1") == 0 && strcmp(lines[2], "2") == 0 &&
	    strcmp(lines[3], "3") == 0,
	    "fds: only 0, 1, 2 and ls's own (%d listed)", n);
	run_free(&r);
	close(extra);

	/* Working directory "/" whatever ours is. */
	if (getcwd(cwd, sizeof(cwd)) == NULL || chdir(dir) == -1)
		exit(99);
	run_hook(&r, cfg, apwd, NULL, "{}", 2);
	n = stdout_lines(&r, lines, 16);
	ok(r.res.ok && n == 1 && strcmp(lines[0], "/") == 0, "cwd is /");
	run_free(&r);
	if (chdir(cwd) == -1)
		exit(99);

	/* Missing program and non-executable file: spawn failed, logged. */
	snprintf(big, sizeof(big), "%s/no-such-hook", dir);
	amiss[0] = big;
	run_hook(&r, cfg, amiss, NULL, "{}", 2);
	is_int(r.rc, -1, "missing program: returns -1");
	ok(!r.res.spawned && !r.res.ok, "missing program: not spawned");
	is_str(r.word, "spawn-failed", "missing program: word");
	ok(strstr(r.log, "cannot execute") != NULL &&
	    strstr(r.log, strerror(ENOENT)) != NULL,
	    "missing program: logged why");
	run_free(&r);

	anox[0] = (char *)script("noexec.sh", "#!/bin/sh\nexit 0\n", 0644);
	run_hook(&r, cfg, anox, NULL, "{}", 2);
	ok(!r.res.spawned && !r.res.ok, "non-executable: not spawned");
	is_str(r.word, "spawn-failed", "non-executable: word");
	ok(strstr(r.log, "cannot execute") != NULL &&
	    strstr(r.log, strerror(EACCES)) != NULL,
	    "non-executable: logged why");
	run_free(&r);

	/* hook_limits. */
	lcfg = *cfg;
	lcfg.limit_files = 17;
	lcfg.limit_cpu = 7;
	aul[0] = (char *)script("ulimit.sh", "#!/bin/sh\nulimit -n\nulimit -t\n",
	    0755);
	run_hook(&r, &lcfg, aul, NULL, "{}", 2);
	n = stdout_lines(&r, lines, 16);
	/* valgrind keeps RLIMIT_NOFILE to itself: the kernel never sees it. */
	pre = getenv("LD_PRELOAD");
	if (pre != NULL && strstr(pre, "vgpreload") != NULL)
		ok(1, "limit files=17 applied # SKIP under valgrind");
	else
		ok(r.res.ok && n == 2 && strcmp(lines[0], "17") == 0,
		    "limit files=17 applied");
	ok(n == 2 && strcmp(lines[1], "7") == 0, "limit cpu=7 applied");
	if (n != 2)
		show_log(&r);
	run_free(&r);

	lcfg = *cfg;
	lcfg.limit_fsize = 4096;
	snprintf(big, sizeof(big), "%s/big.out", dir);
	afs[0] = (char *)script("fsize.sh", "#!/bin/sh\n"
	    "head -c 10000 /dev/zero > \"$1\"\nexit 0\n", 0755);
	run_hook(&r, &lcfg, afs, NULL, "{}", 2);
	ok(r.res.ok && stat(big, &st) == 0 && st.st_size == 4096,
	    "limit fsize=4096 applied");
	run_free(&r);
}

/* With fds 0 and 1 closed, the pipes take the low numbers: the child must
 * still get the right ends. */
static void
test_low_fds(const struct sh_config *cfg)
{
	struct run	 r;
	char		 outf[600], *got;
	char		*a[] = { NULL, outf, NULL };
	size_t		 glen;
	int		 s0, s1;

	snprintf(outf, sizeof(outf), "%s/low.out", dir);
	a[0] = (char *)script("lowcat.sh", "#!/bin/sh\n"
	    "cat > \"$1\"\necho out\necho err >&2\n", 0755);
	fflush(stdout);
	s0 = dup(STDIN_FILENO);
	s1 = dup(STDOUT_FILENO);
	close(STDIN_FILENO);
	close(STDOUT_FILENO);
	defer_checks = 1;
	run_hook(&r, cfg, a, NULL, "low fds body", 12);
	defer_checks = 0;
	dup2(s0, STDIN_FILENO);
	dup2(s1, STDOUT_FILENO);
	close(s0);
	close(s1);
	ok(r.nochild, "fds 0-1 closed: no child left");
	got = slurp(outf, &glen);
	ok(r.res.ok && got != NULL && glen == 12 &&
	    memcmp(got, "low fds body", 12) == 0, "fds 0-1 closed: stdin right");
	ok(logged(&r, "stream=stdout line=\"out\"") &&
	    logged(&r, "stream=stderr line=\"err\""),
	    "fds 0-1 closed: stdout and stderr right");
	free(got);
	run_free(&r);
}

/* stripehook(8) DELIVERY: the hook dies with its handler. */
static void
test_pdeathsig(const struct sh_config *cfg)
{
	struct sh_event	 ev;
	struct sh_hook	 h;
	struct sh_hook_result res;
	char		 pidf[600], stat[64], *s = NULL;
	char		*a[] = { NULL, pidf, NULL };
	pid_t		 handler, hk = 0;
	double		 t0;
	int		 gone = 0, fd;
	FILE		*f;

	snprintf(pidf, sizeof(pidf), "%s/pd.pid", dir);
	a[0] = (char *)script("pd.sh", "#!/bin/sh\necho $$ > \"$1.tmp\"\n"
	    "mv \"$1.tmp\" \"$1\"\nexec sleep 30\n", 0755);
	ev_init(&ev);
	mkhook(&h, a);
	fflush(stdout);
	if ((handler = fork()) == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) != -1)
			dup2(fd, STDERR_FILENO);
		hook_run(cfg, &h, &ev, (const unsigned char *)"{}", 2, &res);
		_exit(0);
	}
	for (t0 = now_mono(); now_mono() - t0 < 10; usleep(20000))
		if ((s = slurp(pidf, NULL)) != NULL)
			break;
	if (s != NULL) {
		hk = (pid_t)strtol(s, NULL, 10);
		free(s);
	}
	kill(handler, SIGKILL);
	waitpid(handler, NULL, 0);
	/* Gone, or a zombie waiting for whoever inherited it. */
	for (t0 = now_mono(); hk > 1 && now_mono() - t0 < 5; usleep(20000)) {
		snprintf(stat, sizeof(stat), "/proc/%ld/stat", (long)hk);
		if ((f = fopen(stat, "r")) == NULL) {
			gone = 1;
			break;
		}
		if (fscanf(f, "%*d %*s %63s", stat) == 1 &&
		    strcmp(stat, "Z") == 0)
			gone = 1;
		fclose(f);
		if (gone)
			break;
	}
	ok(hk > 1 && gone, "hook dies with its handler");
	if (hk > 1 && !gone)
		kill(hk, SIGKILL);
}

/*
 * stripehook(8) DELIVERY: a handler killed mid-hook leaves nothing of the
 * run behind, also what the hook started in the background or in a
 * session of its own, and the event's lock (here a flock the handler
 * holds) stays held until all of it is gone.
 */
static void
test_handler_killed(const struct sh_config *cfg)
{
	struct sh_event	 ev;
	struct sh_hook	 h;
	struct sh_hook_result res;
	char		 pidf[600], lockf[600];
	char		*a[] = { NULL, pidf, NULL };
	pid_t		 handler, bg;
	double		 t0;
	int		 fd, nul, locked = 0, early = 0;

	snprintf(pidf, sizeof(pidf), "%s/hk.pid", dir);
	snprintf(lockf, sizeof(lockf), "%s/lock", dir);
	a[0] = (char *)script("hk.sh", "#!/bin/sh\n"
	    "setsid sh -c 'trap \"\" TERM HUP; sleep 30; "
	    "echo ran > \"$1.late\"' sh \"$1\" &\n"
	    "echo $! > \"$1.tmp\"\nmv \"$1.tmp\" \"$1\"\nexec sleep 30\n",
	    0755);
	ev_init(&ev);
	mkhook(&h, a);
	fflush(stdout);
	if ((handler = fork()) == 0) {
		if ((fd = open(lockf, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
		    flock(fd, LOCK_EX) == -1)
			_exit(1);
		if ((nul = open("/dev/null", O_WRONLY)) != -1)
			dup2(nul, STDERR_FILENO);
		hook_run(cfg, &h, &ev, (const unsigned char *)"{}", 2, &res);
		_exit(0);
	}
	bg = read_pid(pidf);
	kill(handler, SIGKILL);
	waitpid(handler, NULL, 0);
	/* The lock comes free only once the run is gone. */
	fd = open(lockf, O_RDWR | O_CLOEXEC);
	for (t0 = now_mono(); fd != -1 && now_mono() - t0 < 10;
	    usleep(20000)) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			locked = 1;
			early = bg > 0 && !pid_gone(bg);
			break;
		}
	}
	if (fd != -1)
		close(fd);
	ok(bg > 0 && locked && pid_gone(bg),
	    "handler killed: the hook's setsid background child is gone");
	ok(locked && !early,
	    "handler killed: the lock is held until the run is gone");
	pid_end(bg);
}

int
main(void)
{
	struct sh_config cfg;
	const char	*tmp;
	char		 cmd[600];

	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("t_hook");
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = P_tmpdir;
	snprintf(dir, sizeof(dir), "%s/t_hook.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	snprintf(capfile, sizeof(capfile), "%s/log", dir);
	cfg_init(&cfg);

	test_match();
	test_words();
	test_exit_codes(&cfg);
	test_timeouts();
	test_background(&cfg);
	test_io(&cfg);
	test_eintr(&cfg);
	test_env();
	test_process(&cfg);
	test_low_fds(&cfg);
	test_pdeathsig(&cfg);
	test_timeout_setsid();
	test_handler_killed(&cfg);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
