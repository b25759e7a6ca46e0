/*
 * Small pieces of system plumbing that several modules need, written
 * once: the monotonic clock that times requests, hooks and FastCGI reads,
 * and the switch to an unprivileged user (serve, and the tools started as
 * root).
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
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
