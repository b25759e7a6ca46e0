/*
 * One logging module: stderr (fd 2, one line per write) or syslog
 * (facility daemon), chosen by the configuration's log key.  When fd 2 is
 * the journal's stream (JOURNAL_STREAM names its device and inode), each
 * line starts with its priority, "<3>" errors, "<4>" warnings, "<6>" the
 * rest, as sd-daemon(3) describes; stripehook(8) LOGGING.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stripehook.h"

static const char	*log_ident = "stripehook";
static int		 log_syslog;
static int		 log_journal;	/* fd 2 is JOURNAL_STREAM */

/* 1 when $JOURNAL_STREAM ("DEV:INODE", decimal) names fd 2: then systemd
 * connected stderr to the journal, which reads a "<N>" prefix. */
static int
journal_stream(void)
{
	const char		*v = getenv("JOURNAL_STREAM");
	char			*end;
	unsigned long long	 dev, ino;
	struct stat		 st;

	if (v == NULL || *v < '0' || *v > '9')
		return 0;
	errno = 0;
	dev = strtoull(v, &end, 10);
	if (errno != 0 || *end != ':' || end[1] < '0' || end[1] > '9')
		return 0;
	ino = strtoull(end + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* The journal's prefix for a syslog priority: errors and worse 3,
 * warnings and notices 4, the rest 6. */
static int
journal_level(int priority)
{
	priority &= LOG_PRIMASK;
	if (priority <= LOG_ERR)
		return LOG_ERR;
	if (priority <= LOG_NOTICE)
		return LOG_WARNING;
	return LOG_INFO;
}

/* Sets the ident and looks whether fd 2 is the journal's stream; called
 * at start, after fd 2 is in place. */
void
log_init(const char *ident)
{
	if (ident != NULL)
		log_ident = ident;
	log_journal = journal_stream();
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

/* Writes "ident[pid]: line\n" (after "<N>" for the journal) to fd 2 in
 * one write(2), so lines from concurrent processes never interleave. */
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
	if ((log_journal &&
	    buf_printf(&b, "<%d>", journal_level(priority)) == -1) ||
	    buf_printf(&b, "%s[%ld]: %s\n", log_ident, (long)getpid(),
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
