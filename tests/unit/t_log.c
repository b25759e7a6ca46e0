/*
 * Unit tests of the journal priority prefix (stripehook(8) LOGGING): when
 * $JOURNAL_STREAM names fd 2's device and inode, each line on standard
 * error starts with "<3>", "<4>" or "<6>"; under any other standard error
 * the line is unchanged.
 *
 * fd 2 is pointed at a temporary file; the "journal" value is that file's
 * st_dev:st_ino as stat(2) gives it, the other one a different file's.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "stripehook.h"
#include "tap.h"

static char	 logpath[4096], otherpath[4096];

/* "DEV:INO" of the file at fd. */
static void
stream_of(int fd, char *out, size_t len)
{
	struct stat	 st;

	if (fstat(fd, &st) == -1) {
		perror("fstat");
		exit(2);
	}
	snprintf(out, len, "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
}

/* Empties the log file, logs one line at priority, returns what fd 2 got
 * (static buffer, "" when nothing). */
static const char *
logged(int priority, const char *line)
{
	static char	 got[512];
	ssize_t		 n;
	int		 fd;

	if (ftruncate(STDERR_FILENO, 0) == -1 ||
	    lseek(STDERR_FILENO, 0, SEEK_SET) == -1) {
		perror("truncate");
		exit(2);
	}
	log_line(priority, line);
	if ((fd = open(logpath, O_RDONLY)) == -1) {
		perror(logpath);
		exit(2);
	}
	n = read(fd, got, sizeof(got) - 1);
	close(fd);
	got[n > 0 ? n : 0] = '\0';
	return got;
}

/* The expected line: prefix, then "stripehook[PID]: line\n". */
static const char *
want(const char *prefix, const char *line)
{
	static char	 w[512];

	snprintf(w, sizeof(w), "%sstripehook[%ld]: %s\n", prefix,
	    (long)getpid(), line);
	return w;
}

static void
journal_cases(void)
{
	static const struct {
		int		 prio;
		const char	*prefix;
		const char	*what;
	} c[] = {
		{ LOG_EMERG,	"<3>", "emerg" },
		{ LOG_CRIT,	"<3>", "crit (fatal)" },
		{ LOG_ERR,	"<3>", "err (failed hook, 500)" },
		{ LOG_WARNING,	"<4>", "warning (refused request)" },
		{ LOG_NOTICE,	"<4>", "notice" },
		{ LOG_INFO,	"<6>", "info" },
		{ LOG_DEBUG,	"<6>", "debug" },
		{ LOG_DAEMON | LOG_ERR, "<3>", "facility bits ignored" },
	};
	size_t		 i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		is_str(logged(c[i].prio, "status=500 x=1"),
		    want(c[i].prefix, "status=500 x=1"),
		    "journal stream: %s gets %s", c[i].what, c[i].prefix);
}

static void
plain_case(const char *env, const char *what)
{
	if (env == NULL)
		unsetenv("JOURNAL_STREAM");
	else
		setenv("JOURNAL_STREAM", env, 1);
	log_init(NULL);
	is_str(logged(LOG_ERR, "a line"), want("", "a line"),
	    "no prefix: %s", what);
	is_str(logged(LOG_INFO, "a line"), want("", "a line"),
	    "no prefix at info: %s", what);
}

int
main(void)
{
	const char	*tmp = getenv("TMPDIR");
	char		 mine[64], other[64], bad[80];
	int		 fd, ofd, saved;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(logpath, sizeof(logpath), "%s/t_log.XXXXXX", tmp);
	snprintf(otherpath, sizeof(otherpath), "%s/t_log_other.XXXXXX", tmp);
	if ((fd = mkstemp(logpath)) == -1 ||
	    (ofd = mkstemp(otherpath)) == -1) {
		perror("mkstemp");
		return 2;
	}
	stream_of(fd, mine, sizeof(mine));
	stream_of(ofd, other, sizeof(other));
	close(ofd);
	fflush(stderr);
	if ((saved = dup(STDERR_FILENO)) == -1 ||
	    dup2(fd, STDERR_FILENO) == -1) {
		perror("dup");
		return 2;
	}
	close(fd);

	setenv("JOURNAL_STREAM", mine, 1);
	log_init("stripehook");
	journal_cases();

	plain_case(NULL, "JOURNAL_STREAM unset");
	plain_case(other, "JOURNAL_STREAM names another file");
	snprintf(bad, sizeof(bad), "%s:1", mine);
	plain_case(bad, "trailing garbage");
	snprintf(bad, sizeof(bad), " %s", mine);
	plain_case(bad, "leading blank");
	plain_case("", "empty");

	/* Detection is made at log_init: back to the journal. */
	setenv("JOURNAL_STREAM", mine, 1);
	log_init(NULL);
	is_str(logged(LOG_WARNING, "w"), want("<4>", "w"),
	    "log_init sees the journal stream again");

	dup2(saved, STDERR_FILENO);
	close(saved);
	unlink(logpath);
	unlink(otherpath);
	return tap_done();
}
