/*
 * Small pieces of system plumbing that several modules need, written
 * once: the monotonic clock that times requests, hooks and FastCGI reads,
 * times in ISO 8601 for the tools and logs, default signal dispositions
 * for forked children, and the switch to an unprivileged user (serve, the
 * runner, and the tools started as root).
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stripehook.h"

/* Seconds on the monotonic clock: only differences mean anything. */
double
mono_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* t as ISO 8601 UTC ("2026-12-03T12:00:00Z") into out; "@SECONDS" if it
 * cannot be formatted.  Returns out. */
const char *
iso_time(time_t t, char *out, size_t len)
{
	struct tm	 tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(out, len, "@%lld", (long long)t);
	return out;
}

/* Every signal back to its default disposition: the first thing a forked
 * worker or runner child does before it sets up its own. */
void
signals_default(void)
{
	struct sigaction sa;
	int		 sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
}

/*
 * Becomes pw's user for good: its supplementary groups, its group, then
 * its user (in that order: the group can no longer be changed once the
 * user is), and checks that root cannot be regained.  0, or -1 with
 * *step naming what failed and errno set (EPERM when root came back).
 */
int
become_user(const struct passwd *pw, const char **step)
{
	*step = "initgroups";
	if (initgroups(pw->pw_name, pw->pw_gid) == -1)
		return -1;
	*step = "setgid";
	if (setgid(pw->pw_gid) == -1)
		return -1;
	*step = "setuid";
	if (setuid(pw->pw_uid) == -1)
		return -1;
	*step = "root could be regained";
	if (setuid(0) != -1) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/*
 * A tool started as root switches to the configured user (never root) as
 * a delivery runs.  0, or -1 after saying why on stderr.
 */
int
become_user_named(const char *name)
{
	const struct passwd	*pw;
	const char		*step;

	if ((pw = getpwnam(name)) == NULL || pw->pw_uid == 0) {
		fprintf(stderr, "stripehook: user %s: %s\n", name,
		    pw == NULL ? "no such user" : "must not be root");
		return -1;
	}
	if (become_user(pw, &step) == -1) {
		fprintf(stderr, "stripehook: cannot switch to user %s: %s\n",
		    name, step);
		return -1;
	}
	return 0;
}
