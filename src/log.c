/*
 * One logging module: stderr (fd 2, one line per write) or syslog
 * (facility daemon), chosen by the configuration's log key.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "stripehook.h"

static const char	*log_ident = "stripehook";
static int		 log_syslog;

void
log_init(const char *ident)
{
	if (ident != NULL)
		log_ident = ident;
}

void
log_use_syslog(int on)
{
	if (on && !log_syslog)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!on && log_syslog)
		closelog();
	log_syslog = on;
}

/* Writes "ident[pid]: line\n" to fd 2 in one write(2), so lines from
 * concurrent processes never interleave. */
void
log_line(int priority, const char *line)
{
	struct sh_buf	 b;
	size_t		 off;
	ssize_t		 n;

	if (log_syslog) {
		syslog(priority, "%s", line);
		return;
	}
	buf_init(&b);
	if (buf_printf(&b, "%s[%ld]: %s\n", log_ident, (long)getpid(),
	    line) == -1) {
		buf_free(&b);
		return;
	}
	for (off = 0; off < b.len; off += (size_t)n) {
		n = write(STDERR_FILENO, b.p + off, b.len - off);
		if (n == -1 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0)
			break;
	}
	buf_free(&b);
}

static void vlog(int, const char *, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

static void
vlog(int priority, const char *err, const char *fmt, va_list ap)
{
	char	 msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err != NULL) {
		size_t l = strlen(msg);
		snprintf(msg + l, sizeof(msg) - l, ": %s", err);
	}
	log_line(priority, msg);
}

void
log_warn(const char *fmt, ...)
{
	const char	*err = strerror(errno);
	va_list		 ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, err, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	const char	*err = strerror(errno);
	va_list		 ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, err, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
