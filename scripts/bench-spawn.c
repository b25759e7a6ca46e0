/*
 * The spawn floor of scripts/bench: what it costs this machine to start a
 * program and wait for it, with nothing else around it.  PROCS processes
 * each loop for SECONDS: start /bin/true (empty environment, no shell),
 * wait for it, note how long that took.  Prints one line for the bench:
 *
 *	SPAWN requests=N duration_us=D p50_us=A p99_us=B max_us=C
 *
 * MODE: "spawn" (posix_spawn, which glibc does with clone(CLONE_VM |
 * CLONE_VFORK): no copy of the page tables), "fork" (fork + execve), or
 * "fork-pipe" (fork + execve with FILE written to the child's stdin
 * through a pipe, as a hook gets its payload).
 *
 * After "--", PROG and its arguments replace /bin/true: then the child
 * gets this process's environment (the caller sets it, e.g. a CGI
 * request's) and its standard output goes to /dev/null.  errors=N counts
 * the loops in which a start failed or a child exited non-zero.
 *
 *	bench-spawn MODE SECONDS PROCS [FILE] [-- PROG [ARG...]]
 */
#define _GNU_SOURCE		/* pipe2 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS	64
#define MAX_SAMPLES	2000000		/* per process */
#define PROG		"/bin/true"

enum mode { M_SPAWN, M_FORK, M_FORK_PIPE };

extern char	**environ;

static char	 prog_path[] = PROG;
static char	*true_argv[] = { prog_path, NULL };
static char	*empty_envp[] = { NULL };
static char	**prog_argv = true_argv;
static char	**prog_envp = empty_envp;
static int	 prog_quiet;		/* stdout to /dev/null */

static double
mono(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t	 x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* In the child: standard output to /dev/null. */
static int
quiet_stdout(void)
{
	int	 fd;

	if ((fd = open("/dev/null", O_WRONLY)) == -1)
		return -1;
	if (fd != 1 && (dup2(fd, 1) == -1 || close(fd) == -1))
		return -1;
	return 0;
}

/* One start-and-wait; 0 when the program ran and exited 0. */
static int
one(enum mode m, const char *payload, size_t plen)
{
	pid_t	 pid;
	int	 st, p[2];
	size_t	 off = 0;
	ssize_t	 n;

	if (m == M_SPAWN) {
		posix_spawn_file_actions_t	 fa, *fap = NULL;

		if (prog_quiet) {
			if (posix_spawn_file_actions_init(&fa) != 0)
				return -1;
			fap = &fa;
			posix_spawn_file_actions_addopen(fap, 1, "/dev/null",
			    O_WRONLY, 0);
		}
		st = posix_spawn(&pid, prog_argv[0], fap, NULL, prog_argv,
		    prog_envp);
		if (fap != NULL)
			posix_spawn_file_actions_destroy(fap);
		if (st != 0)
			return -1;
	} else {
		if (m == M_FORK_PIPE && pipe2(p, O_CLOEXEC) == -1)
			return -1;
		if ((pid = fork()) == -1)
			return -1;
		if (pid == 0) {
			if (m == M_FORK_PIPE && dup2(p[0], 0) == -1)
				_exit(127);
			if (prog_quiet && quiet_stdout() == -1)
				_exit(127);
			execve(prog_argv[0], prog_argv, prog_envp);
			_exit(127);
		}
		if (m == M_FORK_PIPE) {
			close(p[0]);
			while (off < plen) {
				n = write(p[1], payload + off, plen - off);
				if (n == -1 && errno == EINTR)
					continue;
				if (n <= 0)
					break;	/* EPIPE: it exited first */
				off += (size_t)n;
			}
			close(p[1]);
		}
	}
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int
main(int argc, char *argv[])
{
	enum mode	 m;
	double		 secs, t0, t1, end;
	int		 procs, i, fails = 0, st;
	uint32_t	*lat, *all;
	size_t		*count, total = 0, k, j;
	char		*payload = NULL;
	size_t		 plen = 0;
	struct stat	 sb;
	pid_t		 pid;
	int		 fd;

	for (i = 4; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			if (i + 1 >= argc)
				argc = 0;	/* usage */
			else {
				prog_argv = argv + i + 1;
				prog_envp = environ;
				prog_quiet = 1;
				argc = i;
			}
			break;
		}
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: bench-spawn spawn|fork|fork-pipe "
		    "SECONDS PROCS [FILE] [-- PROG [ARG...]]\n");
		return 2;
	}
	if (strcmp(argv[1], "spawn") == 0)
		m = M_SPAWN;
	else if (strcmp(argv[1], "fork") == 0)
		m = M_FORK;
	else if (strcmp(argv[1], "fork-pipe") == 0 && argc > 4)
		m = M_FORK_PIPE;
	else {
		fprintf(stderr, "bench-spawn: bad mode\n");
		return 2;
	}
	secs = atof(argv[2]);
	procs = atoi(argv[3]);
	if (secs <= 0 || procs < 1 || procs > MAX_PROCS) {
		fprintf(stderr, "bench-spawn: bad SECONDS or PROCS\n");
		return 2;
	}
	if (m == M_FORK_PIPE) {
		if ((fd = open(argv[4], O_RDONLY)) == -1 ||
		    fstat(fd, &sb) == -1 ||
		    (payload = malloc((size_t)sb.st_size + 1)) == NULL ||
		    read(fd, payload, (size_t)sb.st_size) != sb.st_size) {
			perror(argv[4]);
			return 2;
		}
		plen = (size_t)sb.st_size;
		close(fd);
	}
	signal(SIGPIPE, SIG_IGN);

	/* Shared with the loop processes: their samples and counts. */
	lat = mmap(NULL, sizeof(uint32_t) * MAX_SAMPLES * (size_t)procs,
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	count = mmap(NULL, sizeof(size_t) * (size_t)procs,
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (lat == MAP_FAILED || count == MAP_FAILED) {
		perror("mmap");
		return 2;
	}

	t0 = mono();
	end = t0 + secs;
	for (i = 0; i < procs; i++) {
		if ((pid = fork()) == -1) {
			perror("fork");
			return 2;
		}
		if (pid == 0) {
			uint32_t	*mine = lat + (size_t)i * MAX_SAMPLES;
			size_t		 n = 0;
			int		 bad = 0;
			double		 a, b;

			a = mono();
			while (a < end && n < MAX_SAMPLES) {
				if (one(m, payload, plen) == -1)
					bad = 1;
				b = mono();
				mine[n++] = (uint32_t)((b - a) * 1e6);
				a = b;
			}
			count[i] = n;
			_exit(bad);
		}
	}
	for (i = 0; i < procs; i++) {
		if (wait(&st) == -1)
			break;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fails++;
	}
	t1 = mono();

	for (i = 0; i < procs; i++)
		total += count[i];
	if (total == 0 || (all = malloc(total * sizeof(*all))) == NULL) {
		fprintf(stderr, "bench-spawn: no samples\n");
		return 1;
	}
	for (i = 0, k = 0; i < procs; i++)
		for (j = 0; j < count[i]; j++)
			all[k++] = lat[(size_t)i * MAX_SAMPLES + j];
	qsort(all, total, sizeof(*all), cmp_u32);
	printf("SPAWN requests=%zu duration_us=%.0f p50_us=%u p99_us=%u "
	    "max_us=%u errors=%d\n", total, (t1 - t0) * 1e6,
	    all[total / 2], all[(size_t)((double)total * 0.99)],
	    all[total - 1], fails);
	free(all);
	free(payload);
	return 0;
}
