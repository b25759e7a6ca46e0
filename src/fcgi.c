/*
 * FastCGI app: libfcgi's accept loop on a listening socket (fd 0 under
 * spawn-fcgi, mod_fcgid or systemd; a socket of our own under serve).
 * Configuration and secrets are read once at start and again on SIGHUP,
 * between requests; an invalid reload keeps the old configuration.
 * fcgiapp.h, not fcgi_stdio.h: environ and stdio stay ours (fcgi_stdio.h
 * redefines stdio and replaces environ on every request).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "stripehook.h"

/* Connections (stripehook(8) REQUESTS): a request's header (its
 * parameters) must have arrived FCGI_HEADER_TIMEOUT seconds after the
 * connection was accepted, or after the previous answer on a kept
 * connection; its whole body within FCGI_BODY_DEADLINE seconds of its
 * first read. */
#define FCGI_HEADER_TIMEOUT	SH_FCGI_HEADER_TIMEOUT
#define FCGI_BODY_DEADLINE	SH_FCGI_BODY_DEADLINE
#define FCGI_ACCEPT_BACKOFF_MS	100	/* after a persistent accept error */

static volatile sig_atomic_t	 got_term;
static volatile sig_atomic_t	 got_hup;

/* One connection and the request on it. */
struct fcgi_conn {
	FCGX_Request	 req;
	double		 body_deadline;	/* 0 until the body's first read */
	int		 timed_out;	/* a read ran out of time */
};

/*
 * TERM, INT and USR1 (libfcgi's own "finish and exit") stop the app after
 * the request in flight; HUP reloads.  A signal that lands just before
 * accept(2) starts would wait for the next connection, so each also arms
 * a one-second alarm whose (empty) handler interrupts that accept.  The
 * same empty SIGALRM handler ends a read that ran out of time
 * (fcgi_timer): nothing uses SA_RESTART.
 */
static void
on_signal(int sig)
{
	if (sig == SIGALRM)
		return;
	if (sig == SIGHUP)
		got_hup = 1;
	else {
		got_term = 1;
		FCGX_ShutdownPending();
	}
	alarm(1);
}

/*
 * libfcgi has no read timeout, and polling the connection is wrong:
 * libfcgi reads the socket in large chunks, so the body (often the whole
 * request, in one write from the web server) may already sit in its
 * buffer while the socket has nothing more to read.  So each read into
 * libfcgi runs under a one-shot SIGALRM timer (ITIMER_REAL); when it
 * fires, the read(2) inside libfcgi fails with EINTR, which libfcgi
 * reports as the stream's error.  Only reads run under it: SIGALRM is
 * never blocked, and the timer is off everywhere else (hooks included).
 * seconds <= 0 turns it off.
 */
static void
fcgi_timer(double seconds)
{
	struct itimerval it;

	memset(&it, 0, sizeof(it));
	if (seconds > 0) {
		it.it_value.tv_sec = (time_t)seconds;
		it.it_value.tv_usec = (suseconds_t)((seconds -
		    (double)it.it_value.tv_sec) * 1e6);
		if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
			it.it_value.tv_usec = 1;
	}
	(void)setitimer(ITIMER_REAL, &it, NULL);
}

/*
 * Takes one byte (which makes libfcgi deliver what it holds, or read the
 * socket) and whatever else is already buffered, within the idle rule
 * (timeout seconds) and the body's overall deadline.  -2: out of time.
 */
static ssize_t
fcgi_read(void *ctx, void *buf, size_t len, int timeout)
{
	struct fcgi_conn *conn = ctx;
	FCGX_Stream	*in = conn->req.in;
	double		 now = mono_now(), left;
	size_t		 avail;
	int		 n, m, err;

	if (len == 0)
		return 0;
	if (conn->body_deadline == 0)
		conn->body_deadline = now + FCGI_BODY_DEADLINE;
	if (in->rdNext == in->stop && !in->isClosed) {
		if ((left = conn->body_deadline - now) <= 0) {
			conn->timed_out = 1;
			return -2;
		}
		fcgi_timer(left < timeout ? left : timeout);
		n = FCGX_GetStr(buf, 1, in);
		fcgi_timer(0);
		if (n <= 0) {
			err = FCGX_GetError(in);
			if (err == EINTR || err == EAGAIN) {
				conn->timed_out = 1;
				return -2;
			}
			return err ? -1 : 0;
		}
		buf = (char *)buf + 1;
		len--;
	} else
		n = 0;
	avail = (size_t)(in->stop - in->rdNext);
	if (avail > len)
		avail = len;
	if (avail > INT_MAX)
		avail = INT_MAX;
	if (avail > 0 && (m = FCGX_GetStr(buf, (int)avail, in)) > 0)
		n += m;
	if (n == 0)
		return FCGX_GetError(in) ? -1 : 0;
	return n;
}

static int
fcgi_write(void *ctx, const void *buf, size_t len)
{
	struct fcgi_conn *conn = ctx;

	if (len > INT_MAX)
		return -1;
	if (FCGX_PutStr(buf, (int)len, conn->req.out) != (int)len)
		return -1;
	return 0;
}

/* A parameter of the request, or NULL when absent. */
static const char *
fcgi_param(void *envp, const char *name)
{
	return FCGX_GetParam(name, envp);
}

/* Loads configuration and secrets; NULL with *why filled on failure. */
static struct sh_config *
load(const char *path, char *why, size_t whylen)
{
	struct sh_config	*cfg;
	struct sh_diag		 diag;

	cfg = config_load_diag(path, SH_LOAD_SECRETS, &diag);
	if (cfg == NULL)
		snprintf(why, whylen, "%s", diag.nerrors > 0 ?
		    diag.errors[0] : "cannot load the configuration");
	diag_print(&diag, SH_LOAD_LOG);
	diag_free(&diag);
	return cfg;
}

/* The app: its configuration (NULL while unusable, with why). */
struct fcgi_app {
	const char		*cfgpath;
	struct sh_config	*cfg;
	char			 why[1024];
	time_t			 last_try;
};

/* SIGHUP: between requests, the new configuration or, when it is
 * invalid, the old one kept. */
static void
fcgi_reload(struct fcgi_app *app)
{
	struct sh_config	*ncfg;
	char			 nwhy[1024];

	got_hup = 0;
	ncfg = load(app->cfgpath, nwhy, sizeof(nwhy));
	if (ncfg == NULL && app->cfg != NULL)
		log_warnx("reload failed, keeping the old configuration: %s",
		    nwhy);
	else if (ncfg != NULL) {
		config_free(app->cfg);
		app->cfg = ncfg;
		log_use_syslog(app->cfg->log_syslog);
		log_info("configuration reloaded");
	}
	app->last_try = time(NULL);
}

/* Handlers after FCGX_Init, which installs its own; reqmask gets the
 * signals held while a request is read and handled (acted on between
 * requests).  SIGALRM is never held: it bounds reads (fcgi_timer). */
static void
fcgi_signals(sigset_t *reqmask)
{
	static const int	 sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct sigaction	 sa;
	size_t			 i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: interrupt accept and reads */
	sigemptyset(reqmask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sigaction(sigs[i], &sa, NULL);
		sigaddset(reqmask, sigs[i]);
	}
	sigaction(SIGALRM, &sa, NULL);
}

/* A new connection, or -1 (interrupted, or an error that was logged). */
static int
fcgi_accept(int listenfd)
{
	int	 fd;

	if ((fd = accept4(listenfd, NULL, NULL, SOCK_CLOEXEC)) != -1)
		return fd;
	if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN &&
	    errno != EWOULDBLOCK && errno != EPROTO) {
		log_warn("accept");
		/* Do not spin on a persistent error. */
		poll(NULL, 0, FCGI_ACCEPT_BACKOFF_MS);
	}
	return -1;
}

/*
 * Waits, with signals deliverable, until the connection has something to
 * read, at most until deadline.  A SIGHUP meanwhile reloads (no request
 * has started) and the wait goes on: reload never drops a connection.
 * SIGTERM ends the wait only on a kept connection between requests; a
 * new connection still gets its request served.  0 when readable.
 */
static int
fcgi_wait_request(struct fcgi_app *app, int fd, double deadline, int fresh)
{
	struct pollfd	 pfd;
	double		 left;
	int		 rc;

	for (;;) {
		if (got_hup)
			fcgi_reload(app);
		if (got_term && !fresh)
			return -1;
		if ((left = deadline - mono_now()) <= 0)
			return -1;
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		rc = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (rc > 0)
			return 0;
		if (rc == -1 && errno != EINTR)
			return -1;
	}
}

/* Reads the request's header under the rest of its timeout (signals
 * held by the caller).  0: a request to handle. */
static int
fcgi_begin(struct fcgi_conn *conn, double deadline)
{
	int	 rc;

	conn->body_deadline = 0;
	conn->timed_out = 0;
	/* libfcgi must never accept by itself: a failed read closes the
	 * connection and, with no listening socket, returns. */
	conn->req.listen_sock = -1;
	/* FCGX_Accept_r first finishes the previous request, closing the
	 * connection unless it was kept: keep the one we hand it. */
	conn->req.keepConnection = 1;
	fcgi_timer(deadline - mono_now());
	rc = FCGX_Accept_r(&conn->req);
	fcgi_timer(0);
	return rc < 0 ? -1 : 0;
}

/* Maps the request's parameters and answers it; a connection whose body
 * ran out of time is not kept. */
static void
fcgi_handle(struct fcgi_app *app, struct fcgi_conn *conn)
{
	struct sh_request	 rq;

	/* A failed start is retried at most once a second. */
	if (app->cfg == NULL && time(NULL) != app->last_try) {
		app->cfg = load(app->cfgpath, app->why, sizeof(app->why));
		app->last_try = time(NULL);
		if (app->cfg != NULL)
			log_use_syslog(app->cfg->log_syslog);
	}
	request_params(&rq, fcgi_param, conn->req.envp);
	rq.read = fcgi_read;
	rq.write = fcgi_write;
	rq.ctx = conn;
	request_handle(&rq, app->cfg, app->why);
	if (conn->timed_out)
		conn->req.keepConnection = 0;
	FCGX_Finish_r(&conn->req);
}

/*
 * The accept loop: our own accept(2) (interruptible by signals), then a
 * bounded wait for the request with signals deliverable, then, with
 * TERM, INT, HUP and USR1 held, libfcgi reads the request's header
 * (FCGX_Accept_r on the connection we hand it) and the request is
 * handled: a signal never interrupts libfcgi's reads, which would fail
 * the request or drop the connection.
 */
int
fcgi_main(int listenfd, const char *cfgpath)
{
	struct fcgi_app		 app;
	struct fcgi_conn	 conn;
	sigset_t		 reqmask, oldmask;
	double			 deadline;
	int			 fresh;

	if (geteuid() == 0)
		log_warnx("running as root: run the FastCGI app as an "
		    "unprivileged user");
	memset(&app, 0, sizeof(app));
	app.cfgpath = cfgpath;
	app.cfg = load(cfgpath, app.why, sizeof(app.why));
	app.last_try = time(NULL);
	if (app.cfg != NULL && app.cfg->log_syslog)
		log_use_syslog(1);

	if (FCGX_Init() != 0)
		fatalx("FCGX_Init failed");
	memset(&conn, 0, sizeof(conn));
	if (FCGX_InitRequest(&conn.req, -1, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
		fatalx("FCGX_InitRequest failed");
	fcgi_signals(&reqmask);

	while (!got_term || conn.req.ipcFd >= 0) {
		if (got_hup)
			fcgi_reload(&app);
		fresh = conn.req.ipcFd < 0;
		if (fresh && (got_term ||
		    (conn.req.ipcFd = fcgi_accept(listenfd)) < 0))
			continue;
		deadline = mono_now() + FCGI_HEADER_TIMEOUT;
		if (fcgi_wait_request(&app, conn.req.ipcFd, deadline,
		    fresh) == -1) {
			FCGX_Free(&conn.req, 1);
			conn.req.ipcFd = -1;
			continue;
		}
		sigprocmask(SIG_BLOCK, &reqmask, &oldmask);
		if (fcgi_begin(&conn, deadline) == 0)
			fcgi_handle(&app, &conn);
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
	}
	FCGX_Free(&conn.req, 1);
	config_free(app.cfg);
	sig_cleanup();
	return 0;
}
