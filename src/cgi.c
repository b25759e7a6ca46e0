/*
 * CGI transport (RFC 3875): the request is the process environment and
 * stdin, the answer goes to stdout.  One request, then exit 0.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stripehook.h"

/* Reads what is there, waiting at most timeout seconds for progress. */
static ssize_t
cgi_read(void *ctx, void *buf, size_t len, int timeout)
{
	struct pollfd	 pfd;
	ssize_t		 n;
	int		 r;

	(void)ctx;
	pfd.fd = STDIN_FILENO;
	pfd.events = POLLIN;
	for (;;) {
		r = poll(&pfd, 1, timeout * 1000);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0)
			return -2;
		n = read(STDIN_FILENO, buf, len);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		return n;
	}
}

static int
cgi_write(void *ctx, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	(void)ctx;
	while (len > 0) {
		n = write(STDOUT_FILENO, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The environment's value, or NULL when unset. */
static const char *
cgi_param(void *arg, const char *name)
{
	(void)arg;
	return getenv(name);
}

int
cgi_main(void)
{
	struct sh_request	 rq;
	struct sh_config	*cfg;
	struct sh_diag		 diag;
	const char		*why = NULL;

	if (geteuid() == 0)
		log_warnx("running as root: run the CGI program as an "
		    "unprivileged user");
	/* CGI takes the configuration from STRIPEHOOK_CONFIG only
	 * (stripehook(8) DESCRIPTION). */
	cfg = config_load_diag(NULL, SH_LOAD_SECRETS, &diag);
	if (cfg == NULL)
		why = diag.nerrors > 0 ? diag.errors[0] : "cannot load";
	else if (cfg->log_syslog)
		log_use_syslog(1);

	request_params(&rq, cgi_param, NULL);
	rq.read = cgi_read;
	rq.write = cgi_write;
	rq.drain_early = 1;

	request_handle(&rq, cfg, why);

	config_free(cfg);
	diag_free(&diag);
	sig_cleanup();
	return 0;
}
