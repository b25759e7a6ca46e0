/*
 * Counters for `stripehook metrics` (stripehook(8) METRICS), shared by
 * every process of the host that uses the same state_dir: CGI programs,
 * FastCGI apps, serve's workers, runners and tools.
 *
 *	STATE_DIR/.metrics	a fixed layout of 64-bit counters, mode 0644,
 *				mapped MAP_SHARED by each process and
 *				updated with atomic adds: no lock, no write
 *				system call per request
 *
 * The file lives in the page cache and is written back by the kernel: it
 * survives restarts of every process; a crash of the machine may lose the
 * counts of its last seconds (Prometheus treats a counter that goes back
 * as a reset).  Without records (state_dir none) nothing is counted.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stripehook.h"

#define METRICS_FILE	".metrics"
#define METRICS_MODE	0644
#define METRICS_MAGIC	0x3143525453484853ULL	/* "SHHSTRC1", little end */

/* The statuses stripehook answers; anything else counts as "other". */
static const int metrics_statuses[] = {
	200, 400, 405, 409, 411, 413, 500
};
#define METRICS_NSTATUS	(sizeof(metrics_statuses) / sizeof(int))

struct metrics_file {
	uint64_t	 magic;
	uint64_t	 last_event;	/* seconds: the last verified event */
	uint64_t	 hook_ok;
	uint64_t	 hook_failed;
	uint64_t	 requests[METRICS_NSTATUS + 1];	/* + other */
	uint64_t	 spare[16];	/* room to grow without a new layout */
};

/* One mapping per process, for the state_dir it was made for. */
static struct metrics_file	*map;
static char			*map_dir;

/* Maps STATE_DIR/.metrics, created and writable when writable is set.
 * NULL when it cannot be had. */
static struct metrics_file *
map_file(const char *state_dir, int writable)
{
	char			 path[PATH_MAX];
	struct stat		 sb;
	struct metrics_file	*p = MAP_FAILED;
	uint64_t		 zero = 0;
	int			 fd;

	(void)snprintf(path, sizeof(path), "%s/%s", state_dir, METRICS_FILE);
	if ((fd = open(path, (writable ? O_RDWR | O_CREAT : O_RDONLY) |
	    O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, METRICS_MODE)) == -1)
		return NULL;
	/* Allocated, not sparse: a store into a page the file system has
	 * no room for would kill us with SIGBUS.  Two processes allocating
	 * at once both give it the same size. */
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (((size_t)sb.st_size >= sizeof(*p) &&
	    (size_t)sb.st_blocks * 512 >= sizeof(*p)) ||
	    (writable && posix_fallocate(fd, 0, sizeof(*p)) == 0)))
		p = mmap(NULL, sizeof(*p), writable ? PROT_READ | PROT_WRITE :
		    PROT_READ, MAP_SHARED, fd, 0);
	(void)close(fd);
	if (p == MAP_FAILED)
		return NULL;
	if (writable)
		(void)__atomic_compare_exchange_n(&p->magic, &zero,
		    METRICS_MAGIC, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	if (p->magic != METRICS_MAGIC) {
		log_warnx("metrics: %s is not a counter file", path);
		(void)munmap(p, sizeof(*p));
		return NULL;
	}
	return p;
}

/* The process's writable mapping for state_dir, made on first use. */
static struct metrics_file *
metrics_shared(const char *state_dir)
{
	struct metrics_file	*p;

	if (state_dir == NULL)
		return NULL;
	if (map != NULL && strcmp(map_dir, state_dir) == 0)
		return map;
	if ((p = map_file(state_dir, 1)) == NULL)
		return NULL;
	if (map != NULL)
		(void)munmap(map, sizeof(*map));
	free(map_dir);
	if ((map_dir = strdup(state_dir)) == NULL) {
		(void)munmap(p, sizeof(*p));
		return map = NULL;
	}
	return map = p;
}

void
metrics_request(const struct sh_config *cfg, int status, int verified)
{
	struct metrics_file	*m;
	uint64_t		 now, old;
	size_t			 i;

	if (cfg != NULL && cfg->database != NULL) {	/* per host, there */
		pg_metrics_request(cfg, status, verified);
		return;
	}
	if (cfg == NULL || (m = metrics_shared(cfg->state_dir)) == NULL)
		return;
	for (i = 0; i < METRICS_NSTATUS; i++)
		if (metrics_statuses[i] == status)
			break;
	__atomic_fetch_add(&m->requests[i], 1, __ATOMIC_RELAXED);
	if (!verified)
		return;
	now = (uint64_t)time(NULL);
	old = __atomic_load_n(&m->last_event, __ATOMIC_RELAXED);
	while (old < now && !__atomic_compare_exchange_n(&m->last_event, &old,
	    now, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		continue;
}

void
metrics_hook(const struct sh_config *cfg, int ok)
{
	struct metrics_file	*m;

	if (cfg->database != NULL) {
		pg_metrics_hook(cfg, ok);
		return;
	}
	if ((m = metrics_shared(cfg->state_dir)) == NULL)
		return;
	__atomic_fetch_add(ok ? &m->hook_ok : &m->hook_failed, 1,
	    __ATOMIC_RELAXED);
}

/* Sends what the store holds back (the database's hook counts, which
 * otherwise go with the request's); at the end of a run with no request. */
void
metrics_flush(const struct sh_config *cfg)
{
	if (cfg->database != NULL)
		pg_metrics_flush(cfg);
}

struct gauges {
	unsigned long	 pending;
	unsigned long	 dead;
	time_t		 oldest;	/* first queued of the oldest pending */
};

static int
count_entry(void *arg, const char *id, const struct sh_queued *q)
{
	struct gauges	*g = arg;

	(void)id;
	if (q->dead) {
		g->dead++;
		return 0;
	}
	g->pending++;
	if (g->oldest == 0 || q->first < g->oldest)
		g->oldest = q->first;
	return 0;
}

static uint64_t
counter(const struct metrics_file *m, const uint64_t *field)
{
	return m == NULL ? 0 : __atomic_load_n(field, __ATOMIC_RELAXED);
}

/* The Prometheus text format (version 0.0.4) on stdout. */
static void
print_metrics(const struct gauges *g, const struct metrics_file *m,
    time_t now)
{
	static const struct metrics_file none;
	size_t	 i;

	if (m == NULL)
		m = &none;
	printf("# HELP stripehook_events_pending Queued events not dead.\n"
	    "# TYPE stripehook_events_pending gauge\n"
	    "stripehook_events_pending %lu\n", g->pending);
	printf("# HELP stripehook_events_dead Queued events whose attempts "
	    "ended (ack receipt).\n# TYPE stripehook_events_dead gauge\n"
	    "stripehook_events_dead %lu\n", g->dead);
	printf("# HELP stripehook_oldest_pending_age_seconds Age of the "
	    "oldest pending event.\n"
	    "# TYPE stripehook_oldest_pending_age_seconds gauge\n"
	    "stripehook_oldest_pending_age_seconds %lld\n",
	    g->pending > 0 && now > g->oldest ?
	    (long long)(now - g->oldest) : 0LL);
	printf("# HELP stripehook_last_event_timestamp_seconds When the last "
	    "verified event arrived (0: none yet).\n"
	    "# TYPE stripehook_last_event_timestamp_seconds gauge\n"
	    "stripehook_last_event_timestamp_seconds %llu\n",
	    (unsigned long long)counter(m, &m->last_event));
	printf("# HELP stripehook_requests_total Requests answered, by "
	    "status.\n# TYPE stripehook_requests_total counter\n");
	for (i = 0; i <= METRICS_NSTATUS; i++) {
		if (i < METRICS_NSTATUS)
			printf("stripehook_requests_total{status=\"%d\"} ",
			    metrics_statuses[i]);
		else
			printf("stripehook_requests_total{status=\"other\"} ");
		printf("%llu\n", (unsigned long long)counter(m,
		    &m->requests[i]));
	}
	printf("# HELP stripehook_hook_runs_total Hook runs, by result.\n"
	    "# TYPE stripehook_hook_runs_total counter\n"
	    "stripehook_hook_runs_total{result=\"ok\"} %llu\n"
	    "stripehook_hook_runs_total{result=\"failed\"} %llu\n",
	    (unsigned long long)counter(m, &m->hook_ok),
	    (unsigned long long)counter(m, &m->hook_failed));
}

/* database: the gauges and this host's counters from there. */
static int
metrics_pg(const struct sh_config *cfg, struct gauges *g)
{
	struct metrics_file	 m;

	memset(&m, 0, sizeof(m));
	if (queue_each(cfg, count_entry, g) == -1 ||
	    pg_metrics_read(cfg, &m.last_event, &m.hook_ok, &m.hook_failed,
	    metrics_statuses, m.requests, METRICS_NSTATUS) == -1) {
		fprintf(stderr, "stripehook: cannot read the records\n");
		return 2;
	}
	print_metrics(g, &m, time(NULL));
	return fflush(stdout) == 0 ? 0 : 2;
}

/* stripehook metrics [-c file]: stripehook(8) METRICS.  0, or 2 when the
 * records cannot be read. */
int
tool_metrics(int argc, char **argv, const char *cfgpath)
{
	struct sh_config	*cfg;
	struct gauges		 g;
	struct metrics_file	*m;
	int			 ch, rc = 2;

	optind = 0;
	while ((ch = getopt(argc, argv, "+c:")) != -1) {
		if (ch != 'c') {
			fprintf(stderr, "usage: stripehook metrics "
			    "[-c file]\n");
			return 2;
		}
		cfgpath = optarg;
	}
	if (optind != argc) {
		fprintf(stderr, "usage: stripehook metrics [-c file]\n");
		return 2;
	}
	if ((cfg = config_load_report(cfgpath, 0, NULL)) == NULL)
		return 1;
	memset(&g, 0, sizeof(g));
	if (cfg->database != NULL) {
		rc = metrics_pg(cfg, &g);
		goto out;
	}
	if (cfg->state_dir == NULL)
		fprintf(stderr, "stripehook: state_dir is none: no queue "
		    "and no counters\n");
	else if (queue_each(cfg, count_entry, &g) == -1) {
		fprintf(stderr, "stripehook: cannot read the queue\n");
		goto out;
	}
	m = cfg->state_dir != NULL ? map_file(cfg->state_dir, 0) : NULL;
	print_metrics(&g, m, time(NULL));
	if (m != NULL)
		(void)munmap(m, sizeof(*m));
	rc = fflush(stdout) == 0 ? 0 : 2;
out:
	config_free(cfg);
	return rc;
}
