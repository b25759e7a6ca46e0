/*
 * Memory sampler of scripts/bench: every INTERVAL milliseconds, the sum of
 * the resident set of the given processes and of all their descendants
 * (found through /proc/PID/task/TID/children, so a child started by any
 * thread counts).  On SIGTERM or SIGINT it prints, for the bench:
 *
 *	RSS peak_kb=K procs_at_peak=N max_procs=M samples=S cpu_ticks=T
 *
 * where cpu_ticks is its own CPU time (clock ticks), which the bench
 * subtracts from the machine's busy time.
 *
 *	bench-rss INTERVAL_MS PID...
 */
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PIDS	4096

static volatile sig_atomic_t	 stop;

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* Resident kB of pid, or -1 once it is gone. */
static long
rss_kb(pid_t pid, long pagekb)
{
	char	 path[64];
	FILE	*f;
	long	 size, res;

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = -1;
	fclose(f);
	return res < 0 ? -1 : res * pagekb;
}

/* Appends the children of every thread of pid to list. */
static void
children(pid_t pid, pid_t *list, size_t *n)
{
	char		 path[320], buf[4096], *p, *e;
	DIR		*d;
	struct dirent	*de;
	FILE		*f;
	long		 c;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children",
		    (int)pid, de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(buf, sizeof(buf), f) != NULL) {
			for (p = buf; *p != '\0'; p = e) {
				c = strtol(p, &e, 10);
				if (e == p)
					break;
				if (*n < MAX_PIDS)
					list[(*n)++] = (pid_t)c;
			}
		}
		fclose(f);
	}
	closedir(d);
}

static long
self_ticks(void)
{
	char	 buf[1024], *p;
	FILE	*f;
	long	 ut = 0, st = 0;
	int	 i;

	if ((f = fopen("/proc/self/stat", "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) == NULL || (p = strrchr(buf, ')'))
	    == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	/* After ")": state is field 3; utime and stime are 14 and 15. */
	p += 2;
	for (i = 3; i < 14 && p != NULL; i++)
		if ((p = strchr(p, ' ')) != NULL)
			p++;
	if (p == NULL || sscanf(p, "%ld %ld", &ut, &st) != 2)
		return -1;
	return ut + st;
}

int
main(int argc, char *argv[])
{
	static pid_t	 list[MAX_PIDS];
	struct sigaction sa;
	struct timespec	 ts;
	size_t		 n, i, nroots, maxprocs = 0, peakprocs = 0;
	long		 pagekb, sum, r, peak = 0, samples = 0, ms;

	if (argc < 3 || (ms = atol(argv[1])) <= 0) {
		fprintf(stderr, "usage: bench-rss INTERVAL_MS PID...\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pagekb = sysconf(_SC_PAGESIZE) / 1024;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;

	while (!stop) {
		nroots = 0;
		for (i = 2; i < (size_t)argc && nroots < MAX_PIDS; i++)
			list[nroots++] = (pid_t)atol(argv[i]);
		/* Breadth first: list grows while it is walked. */
		for (n = nroots, i = 0; i < n; i++)
			children(list[i], list, &n);
		sum = 0;
		for (i = 0; i < n; i++)
			if ((r = rss_kb(list[i], pagekb)) > 0)
				sum += r;
		samples++;
		if (n > maxprocs)
			maxprocs = n;
		if (sum > peak) {
			peak = sum;
			peakprocs = n;
		}
		nanosleep(&ts, NULL);
	}
	printf("RSS peak_kb=%ld procs_at_peak=%zu max_procs=%zu samples=%ld "
	    "cpu_ticks=%ld\n", peak, peakprocs, maxprocs, samples,
	    self_ticks());
	return 0;
}
