/*
 * What syncing costs on the disk that holds the records, for scripts/bench:
 * how many durable writes per second one writer gets, how many WRITERS
 * concurrent writers get together, and how many one writer gets when it
 * groups GROUP writes under one round of syncs.
 *
 * One durable write is what a queued event needs at least: create a file
 * in DIR, write SIZE bytes, fsync the file, fsync DIR.  WRITERS threads
 * each loop for SECONDS doing that, one write at a time.  With GROUP > 1
 * (WRITERS must be 1), each loop creates and writes GROUP files, then
 * fsyncs each and DIR once: the syncs a server could share among GROUP
 * concurrent requests.  With SYNC "syncfs", each loop ends with one
 * syncfs(2) of DIR's file system instead of the fsyncs (one journal commit
 * for the whole group, but also for whatever else the file system holds).
 * Every file is removed at the end.  Prints
 *
 *	FSYNC writers=W group=G sync=S writes=N duration_us=D p50_us=A p99_us=B max_us=C
 *
 * where the latencies are those of one loop (one write, or one group).
 * Each file holds 3431 bytes, the benchmark's event.
 *
 *	bench-fsync DIR WRITERS GROUP SECONDS [fsync | syncfs]
 */
#define _GNU_SOURCE		/* syncfs */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_WRITERS	64
#define MAX_GROUP	256
#define MAX_SAMPLES	200000

struct writer {
	pthread_t	 th;
	int		 n;
	long		 loops;
	long		 files;
	long		*lat_us;
	int		 failed;
};

static const char	*dir;
static int		 dirfd_, group, use_syncfs;
static size_t		 size;
static char		*payload;
static double		 deadline;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* one_file: create and write the file NAME; returns its fd or -1. */
static int
one_file(const char *name)
{
	int fd;

	fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return -1;
	if (write(fd, payload, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	return fd;
}

/* one_loop: GROUP files written, each fsynced, then DIR; 0 or -1. */
static int
one_loop(struct writer *w)
{
	char	name[64];
	int	fds[MAX_GROUP], i, n = 0, rc = -1;

	for (i = 0; i < group; i++) {
		snprintf(name, sizeof(name), "w%d-%ld", w->n, w->files++);
		if ((fds[n] = one_file(name)) == -1)
			goto out;
		n++;
	}
	if (use_syncfs) {
		if (syncfs(dirfd_) == -1)
			goto out;
	} else {
		for (i = 0; i < n; i++)
			if (fsync(fds[i]) == -1)
				goto out;
		if (fsync(dirfd_) == -1)
			goto out;
	}
	rc = 0;
out:
	for (i = 0; i < n; i++)
		close(fds[i]);
	return rc;
}

static void *
writer_main(void *arg)
{
	struct writer	*w = arg;
	double		 t0;

	while ((t0 = now()) < deadline) {
		if (one_loop(w) == -1) {
			w->failed = errno;
			break;
		}
		if (w->loops < MAX_SAMPLES)
			w->lat_us[w->loops] = (long)((now() - t0) * 1e6);
		w->loops++;
	}
	return NULL;
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/* cleanup: remove the files the writers made. */
static void
cleanup(struct writer *ws, int nw)
{
	char	name[64];
	long	f;
	int	i;

	for (i = 0; i < nw; i++)
		for (f = 0; f < ws[i].files; f++) {
			snprintf(name, sizeof(name), "w%d-%ld", i, f);
			unlinkat(dirfd_, name, 0);
		}
}

static void
report(struct writer *ws, int nw, double secs)
{
	long	*all, n = 0, files = 0;
	int	 i;

	for (i = 0; i < nw; i++) {
		files += ws[i].loops * group;
		n += ws[i].loops < MAX_SAMPLES ? ws[i].loops : MAX_SAMPLES;
	}
	if ((all = calloc(n > 0 ? n : 1, sizeof(*all))) == NULL)
		exit(1);
	n = 0;
	for (i = 0; i < nw; i++) {
		long k = ws[i].loops < MAX_SAMPLES ? ws[i].loops : MAX_SAMPLES;

		memcpy(all + n, ws[i].lat_us, k * sizeof(*all));
		n += k;
	}
	qsort(all, n, sizeof(*all), cmp_long);
	printf("FSYNC writers=%d group=%d sync=%s writes=%ld duration_us=%.0f "
	    "p50_us=%ld p99_us=%ld max_us=%ld\n", nw, group,
	    use_syncfs ? "syncfs" : "fsync", files,
	    secs * 1e6, n ? all[n / 2] : 0, n ? all[n * 99 / 100] : 0,
	    n ? all[n - 1] : 0);
	free(all);
}

int
main(int argc, char *argv[])
{
	struct writer	 ws[MAX_WRITERS];
	double		 t0;
	int		 nw, i, status = 0;

	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: bench-fsync DIR WRITERS GROUP SECONDS "
		    "[fsync | syncfs]\n");
		return 2;
	}
	dir = argv[1];
	nw = atoi(argv[2]);
	group = atoi(argv[3]);
	size = 3431;
	use_syncfs = argc == 6 && strcmp(argv[5], "syncfs") == 0;
	if (nw < 1 || nw > MAX_WRITERS || group < 1 || group > MAX_GROUP ||
	    (group > 1 && nw != 1) || atof(argv[4]) <= 0 ||
	    (argc == 6 && !use_syncfs && strcmp(argv[5], "fsync") != 0)) {
		fprintf(stderr, "bench-fsync: bad arguments\n");
		return 2;
	}
	if ((dirfd_ = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		perror(dir);
		return 1;
	}
	if ((payload = malloc(size)) == NULL)
		return 1;
	memset(payload, 'x', size);
	memset(ws, 0, sizeof(ws));
	t0 = now();
	deadline = t0 + atof(argv[4]);
	for (i = 0; i < nw; i++) {
		ws[i].n = i;
		if ((ws[i].lat_us = calloc(MAX_SAMPLES, sizeof(long))) == NULL ||
		    pthread_create(&ws[i].th, NULL, writer_main, &ws[i]) != 0) {
			fprintf(stderr, "bench-fsync: cannot start writers\n");
			return 1;
		}
	}
	for (i = 0; i < nw; i++)
		pthread_join(ws[i].th, NULL);
	report(ws, nw, now() - t0);
	cleanup(ws, nw);
	for (i = 0; i < nw; i++) {
		if (ws[i].failed) {
			fprintf(stderr, "bench-fsync: %s\n",
			    strerror(ws[i].failed));
			status = 1;
		}
		free(ws[i].lat_us);
	}
	free(payload);
	close(dirfd_);
	return status;
}
