/*
 * FastCGI app: libfcgi's accept loop on a listening socket (fd 0 under
 * spawn-fcgi, mod_fcgid or systemd; a socket of our own under serve).
 * Configuration and secrets are read once at start and again on SIGHUP,
 * between requests; an invalid reload keeps the old configuration.
 * fcgiapp.h, not fcgi_stdio.h: environ and stdio stay ours (PITFALLS).
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

static volatile sig_atomic_t	 got_term;
static volatile sig_atomic_t	 got_hup;

/*
 * TERM, INT and USR1 (libfcgi's own "finish and exit") stop the app after
 * the request in flight; HUP reloads.  A signal that lands just before
 * accept(2) starts would wait for the next connection, so each also arms
 * a one-second alarm whose (empty) handler interrupts that accept.
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
 * libfcgi has no read timeout (PITFALLS), and polling the connection is
 * wrong: libfcgi reads the socket in large chunks, so the body (often the
 * whole request, in one write from the web server) may already sit in its
 * buffer while the socket has nothing more to read.  So the timeout is
 * put on the socket itself (SO_RCVTIMEO, cleared after the request): a
 * read(2) with no byte for timeout seconds fails with EAGAIN, which
 * libfcgi reports as the stream's error.  Take one byte (which makes
 * libfcgi deliver what it holds, or read the socket once) and whatever
 * else is already buffered.
 */
static int
fcgi_set_timeout(FCGX_Request *r, int timeout)
{
	struct timeval	 tv;

	tv.tv_sec = timeout;
	tv.tv_usec = 0;
	return setsockopt(r->ipcFd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static ssize_t
fcgi_read(void *ctx, void *buf, size_t len, int timeout)
{
	FCGX_Request	*r = ctx;
	FCGX_Stream	*in = r->in;
	size_t		 avail;
	int		 n, m, err;

	if (len == 0)
		return 0;
	if (in->rdNext == in->stop && !in->isClosed) {
		if (fcgi_set_timeout(r, timeout) == -1)
			return -1;
		if ((n = FCGX_GetStr(buf, 1, in)) <= 0) {
			err = FCGX_GetError(in);
			if (err == EAGAIN || err == EWOULDBLOCK)
				return -2;
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
	FCGX_Request	*r = ctx;

	if (len > INT_MAX)
		return -1;
	if (FCGX_PutStr(buf, (int)len, r->out) != (int)len)
		return -1;
	return 0;
}

/* Loads configuration and secrets; NULL with *why filled on failure. */
static struct sh_config *
load(const char *path, char *why, size_t whylen)
{
	struct sh_config	*cfg;
	struct sh_diag		 diag;
	size_t			 i;

	memset(&diag, 0, sizeof(diag));
	cfg = config_load(path, &diag);
	if (cfg != NULL && config_load_secrets(cfg, &diag) == -1) {
		config_free(cfg);
		cfg = NULL;
	}
	if (cfg == NULL) {
		snprintf(why, whylen, "%s", diag.nerrors > 0 ?
		    diag.errors[0] : "cannot load the configuration");
		for (i = 0; i < diag.nerrors; i++)
			log_warnx("%s", diag.errors[i]);
	}
	diag_free(&diag);
	return cfg;
}

int
fcgi_main(int listenfd, const char *cfgpath)
{
	FCGX_Request		 req;
	struct sigaction	 sa;
	sigset_t		 reqmask, oldmask;
	struct sh_request	 rq;
	struct sh_config	*cfg, *ncfg;
	char			 why[1024], nwhy[1024];
	const char		*rid;
	time_t			 last_try;

	if (geteuid() == 0)
		log_warnx("running as root: run the FastCGI app as an "
		    "unprivileged user");
	why[0] = '\0';
	cfg = load(cfgpath, why, sizeof(why));
	last_try = time(NULL);
	if (cfg != NULL && cfg->log_syslog)
		log_use_syslog(1);

	if (FCGX_Init() != 0)
		fatalx("FCGX_Init failed");
	if (FCGX_InitRequest(&req, listenfd, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
		fatalx("FCGX_InitRequest failed");

	/* After FCGX_Init, which installs handlers of its own. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: interrupt the accept */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	/* Held while a request is handled: without SA_RESTART they would
	 * interrupt libfcgi's read(2) of the body, which then fails the
	 * request.  They are acted on between requests. */
	sigemptyset(&reqmask);
	sigaddset(&reqmask, SIGTERM);
	sigaddset(&reqmask, SIGINT);
	sigaddset(&reqmask, SIGHUP);
	sigaddset(&reqmask, SIGUSR1);
	sigaddset(&reqmask, SIGALRM);

	while (!got_term) {
		if (FCGX_Accept_r(&req) < 0) {
			if (got_term)
				break;
			if (!got_hup && errno != EINTR) {
				log_warn("accept");
				/* Do not spin on a persistent error. */
				poll(NULL, 0, 100);
			}
		} else {
			sigprocmask(SIG_BLOCK, &reqmask, &oldmask);
			/* A failed start is retried at most once a second. */
			if (cfg == NULL && time(NULL) != last_try) {
				cfg = load(cfgpath, why, sizeof(why));
				last_try = time(NULL);
				if (cfg != NULL)
					log_use_syslog(cfg->log_syslog);
			}
			memset(&rq, 0, sizeof(rq));
			rq.method = FCGX_GetParam("REQUEST_METHOD", req.envp);
			rq.content_length = FCGX_GetParam("CONTENT_LENGTH",
			    req.envp);
			rq.signature = FCGX_GetParam("HTTP_STRIPE_SIGNATURE",
			    req.envp);
			rq.remote_addr = FCGX_GetParam("REMOTE_ADDR", req.envp);
			rid = FCGX_GetParam("REQUEST_ID", req.envp);
			if (rid == NULL)
				rid = FCGX_GetParam("HTTP_X_REQUEST_ID",
				    req.envp);
			rq.request_id = rid;
			rq.content_type = FCGX_GetParam("CONTENT_TYPE",
			    req.envp);
			rq.read = fcgi_read;
			rq.write = fcgi_write;
			rq.ctx = &req;
			request_handle(&rq, cfg, why);
			/* An idle kept-alive connection waits as before. */
			fcgi_set_timeout(&req, 0);
			FCGX_Finish_r(&req);
			sigprocmask(SIG_SETMASK, &oldmask, NULL);
		}
		if (got_hup) {
			got_hup = 0;
			ncfg = load(cfgpath, nwhy, sizeof(nwhy));
			if (ncfg == NULL && cfg != NULL)
				log_warnx("reload failed, keeping the old "
				    "configuration: %s", nwhy);
			else if (ncfg != NULL) {
				config_free(cfg);
				cfg = ncfg;
				log_use_syslog(cfg->log_syslog);
				log_info("configuration reloaded");
			}
			last_try = time(NULL);
		}
	}
	FCGX_Free(&req, 1);
	config_free(cfg);
	sig_cleanup();
	return 0;
}
