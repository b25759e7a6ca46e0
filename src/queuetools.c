/*
 * The tools on the queue (stripehook(8) ACK ON RECEIPT): list and replay
 * of several events or of every dead one.  Exit status as the other
 * tools: 0 success, 1 a negative answer, 2 usage or I/O error.
 *
 * list prints one line per kept event, tab-separated, oldest first:
 *
 *	ID TYPE STATE ATTEMPTS FIRST-QUEUED NEXT LAST-RESULT
 *
 * STATE is pending, running (a runner holds its lock now), dead, or, for
 * an event with a kept payload and no queue entry (ack hooks: unfinished
 * hooks), unfinished; times are ISO 8601 UTC, "-" when there is none.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stripehook.h"

#define QT_OK		0
#define QT_NO		1
#define QT_ERR		2
#define QT_PENDING	1	/* list --pending */
#define QT_DEAD		2	/* list --dead */

struct row {
	char		 id[SH_ID_MAX + 1];
	struct sh_queued q;
	int		 queued;	/* 0: unfinished (no queue entry) */
};

struct rows {
	struct row	*v;
	size_t		 n;
	int		 only;		/* 0, QT_PENDING, QT_DEAD */
};

/* Options: [-c file] and the long ones the tool takes; the operands
 * start at the returned index, or -1 on a usage error. */
static int
qt_options(int argc, char **argv, const char **cfgpath, int *flags,
    const char *allowed)
{
	int	 i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			*cfgpath = argv[++i];
		else if (strcmp(argv[i], "--pending") == 0 &&
		    strstr(allowed, "p") != NULL)
			*flags |= QT_PENDING;
		else if (strcmp(argv[i], "--dead") == 0 &&
		    strstr(allowed, "d") != NULL)
			*flags |= QT_DEAD;
		else if (strcmp(argv[i], "--") == 0)
			return i + 1;
		else if (argv[i][0] == '-')
			return -1;
		else
			break;
	}
	return i;
}

static struct sh_config *
qt_config(const char *cfgpath)
{
	struct sh_config *cfg;

	cfg = config_load_report(cfgpath, 0, NULL);
	if (cfg != NULL && !records_on(cfg)) {
		fprintf(stderr, "stripehook: %s: state_dir is none: no "
		    "records and no queue\n", cfgpath);
		config_free(cfg);
		cfg = NULL;
	}
	return cfg;
}

static int
add_row(struct rows *r, const char *id, const struct sh_queued *q,
    int queued)
{
	struct row	*nv;

	if ((nv = reallocarray(r->v, r->n + 1, sizeof(*nv))) == NULL)
		return -1;
	r->v = nv;
	memset(&nv[r->n], 0, sizeof(*nv));
	(void)snprintf(nv[r->n].id, sizeof(nv[r->n].id), "%s", id);
	nv[r->n].q = *q;
	nv[r->n++].queued = queued;
	return 0;
}

static int
add_queued(void *arg, const char *id, const struct sh_queued *q)
{
	struct rows	*r = arg;

	if ((r->only == QT_PENDING && q->dead) ||
	    (r->only == QT_DEAD && !q->dead))
		return 0;
	return add_row(r, id, q, 1);
}

static int
add_unfinished_pg(void *arg, const char *id, time_t first)
{
	struct sh_queued q;

	memset(&q, 0, sizeof(q));
	q.first = first;
	return add_row(arg, id, &q, 0);
}

/* Events with a kept payload and no queue entry: unfinished hooks. */
static int
add_unfinished(const struct sh_config *cfg, struct rows *r)
{
	struct sh_queued q;
	struct dirent	*de;
	struct stat	 sb;
	char		 path[PATH_MAX];
	DIR		*d;
	size_t		 i;
	int		 rc = 0;

	if (cfg->database != NULL)	/* the PostgreSQL store */
		return pg_each_unfinished(cfg, add_unfinished_pg, r);
	if ((d = opendir(cfg->state_dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (!event_id_valid(de->d_name, strlen(de->d_name)))
			continue;
		for (i = 0; i < r->n; i++)
			if (strcmp(r->v[i].id, de->d_name) == 0)
				break;
		(void)snprintf(path, sizeof(path), "%s/%s/payload",
		    cfg->state_dir, de->d_name);
		if (i < r->n || lstat(path, &sb) == -1 ||
		    !S_ISREG(sb.st_mode))
			continue;
		memset(&q, 0, sizeof(q));
		/* The lock file is made by the first delivery. */
		(void)snprintf(path, sizeof(path), "%s/%s/lock",
		    cfg->state_dir, de->d_name);
		q.first = lstat(path, &sb) == 0 ? sb.st_mtime : 0;
		if (add_row(r, de->d_name, &q, 0) == -1) {
			rc = -1;
			break;
		}
	}
	(void)closedir(d);
	return rc;
}

static int
row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->q.first != y->q.first)
		return x->q.first < y->q.first ? -1 : 1;
	return strcmp(x->id, y->id);
}

static const char *
iso(time_t t, char *out, size_t len)
{
	struct tm	 tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(out, len, "-");
	return out;
}

/* The event's type from its kept payload, into type ("-" unknown). */
static void
row_type(const struct sh_config *cfg, const char *id, char *type,
    size_t len)
{
	struct sh_state	*st = NULL;
	struct sh_event	 ev;
	struct sh_buf	 b;

	buf_init(&b);
	(void)snprintf(type, len, "-");
	if (state_open_existing(cfg, id, 0, &st) == SH_OK && st != NULL &&
	    state_payload(st, &b, SH_MAX_MAX_BODY) == 1 &&
	    event_parse((const unsigned char *)b.p, b.len, &ev) == SH_OK) {
		(void)snprintf(type, len, "%s", ev.type);
		event_free(&ev);
	}
	state_close(st);
	buf_free(&b);
}

static void
print_row(const struct sh_config *cfg, const struct row *w)
{
	char		 type[SH_TYPE_MAX + 1], first[32], next[32];
	const char	*state;

	row_type(cfg, w->id, type, sizeof(type));
	if (!w->queued)
		state = "unfinished";
	else if (w->q.dead)
		state = "dead";
	else
		state = queue_busy(cfg, w->id) ? "running" : "pending";
	printf("%s\t%s\t%s\t%d\t%s\t%s\t%s\n", w->id, type, state,
	    w->q.attempts, w->q.first ? iso(w->q.first, first,
	    sizeof(first)) : "-", w->queued && !w->q.dead ?
	    iso(w->q.next, next, sizeof(next)) : "-",
	    w->q.last[0] != '\0' ? w->q.last : "-");
}

/* stripehook list [-c file] [--pending | --dead] */
int
tool_list(int argc, char **argv, const char *cfgpath)
{
	struct sh_config *cfg;
	struct rows	 r;
	size_t		 i;
	int		 ind, flags = 0, rc = QT_ERR;

	memset(&r, 0, sizeof(r));
	if ((ind = qt_options(argc, argv, &cfgpath, &flags, "pd")) == -1 ||
	    ind != argc || flags == (QT_PENDING | QT_DEAD)) {
		fprintf(stderr, "usage: stripehook list [-c file] "
		    "[--pending | --dead]\n");
		return QT_ERR;
	}
	if ((cfg = qt_config(cfgpath ? cfgpath : config_default_path())) ==
	    NULL)
		return QT_NO;
	r.only = flags;
	if (queue_each(cfg, add_queued, &r) == -1 ||
	    (flags == 0 && add_unfinished(cfg, &r) == -1)) {
		fprintf(stderr, "stripehook: cannot read the records\n");
		goto out;
	}
	if (r.n > 1)
		qsort(r.v, r.n, sizeof(*r.v), row_cmp);
	for (i = 0; i < r.n; i++)
		print_row(cfg, &r.v[i]);
	rc = fflush(stdout) == 0 ? QT_OK : QT_ERR;
out:
	free(r.v);
	config_free(cfg);
	return rc;
}

/* One queued event, now, as the runner would (even when dead or not
 * due).  An exit status; the outcome on stdout or stderr. */
static int
replay_queued(const struct sh_config *cfg, const char *id)
{
	switch (deliver_attempt(cfg, id, 1)) {
	case SH_OK:
		printf("%s: every hook succeeded\n", id);
		return QT_OK;
	case SH_E_HOOK:
		fprintf(stderr, "stripehook: %s: hook failed\n", id);
		return QT_NO;
	case SH_E_IN_PROGRESS:
		fprintf(stderr, "stripehook: %s: busy (a runner holds it), "
		    "skipped\n", id);
		return QT_NO;
	default:
		fprintf(stderr, "stripehook: %s: the records cannot be read "
		    "or written\n", id);
		return QT_ERR;
	}
}

static int
add_dead(void *arg, const char *id, const struct sh_queued *q)
{
	return q->dead ? add_row(arg, id, q, 1) : 0;
}

/* Replays each id (queued ones here, the others as replay ID does). */
static int
replay_ids(const struct sh_config *cfg, const char *cfgpath, char **ids,
    size_t n)
{
	struct sh_queued q;
	char		*av[3];
	size_t		 i;
	int		 rc = QT_OK, r;

	for (i = 0; i < n; i++) {
		if (ids[i] == NULL ||
		    !event_id_valid(ids[i], strlen(ids[i]))) {
			fprintf(stderr, "stripehook: invalid event id\n");
			r = QT_NO;
		} else if ((r = queue_get(cfg, ids[i], &q)) == 1)
			r = replay_queued(cfg, ids[i]);
		else if (r == -1)
			r = QT_ERR;
		else {
			av[0] = (char *)"replay";
			av[1] = ids[i];
			av[2] = NULL;
			r = tool_replay(2, av, cfgpath);
		}
		if (r > rc)
			rc = r;
	}
	(void)fflush(stdout);
	return rc;
}

/* stripehook replay [-c file] [--dead] [event-id ...] */
int
tool_replay_many(int argc, char **argv, const char *cfgpath)
{
	struct sh_config *cfg;
	struct sh_queued q;
	struct rows	 r;
	char		**ids = NULL;
	size_t		 i, n;
	int		 ind, flags = 0, rc = QT_ERR;

	memset(&r, 0, sizeof(r));
	if ((ind = qt_options(argc, argv, &cfgpath, &flags, "d")) == -1 ||
	    (flags == 0 && ind == argc)) {
		fprintf(stderr, "usage: stripehook replay [-c file] "
		    "[--dead] [event-id ...]\n");
		return QT_ERR;
	}
	if (cfgpath == NULL)
		cfgpath = config_default_path();
	if ((cfg = qt_config(cfgpath)) == NULL)
		return QT_NO;
	/* One event that is not queued: replay ID as it always was. */
	if (flags == 0 && argc - ind == 1 &&
	    event_id_valid(argv[ind], strlen(argv[ind])) &&
	    queue_get(cfg, argv[ind], &q) == 0) {
		config_free(cfg);
		return tool_replay(argc, argv, cfgpath);
	}
	/* As the runner would: as the configured user when root. */
	if (runner_drop_root(cfg) == -1)
		goto out;
	if (flags & QT_DEAD) {
		if (queue_each(cfg, add_dead, &r) == -1) {
			fprintf(stderr, "stripehook: cannot read the queue\n");
			goto out;
		}
		qsort(r.v, r.n, sizeof(*r.v), row_cmp);
	}
	n = r.n + (size_t)(argc - ind);
	if ((ids = calloc(n + 1, sizeof(*ids))) == NULL)
		goto out;
	for (i = 0; i < r.n; i++)
		ids[i] = r.v[i].id;
	for (i = 0; i < (size_t)(argc - ind); i++)
		ids[r.n + i] = argv[ind + i];
	if (n == 0)
		printf("no dead events\n");
	rc = replay_ids(cfg, cfgpath, ids, n);
out:
	free(ids);
	free(r.v);
	config_free(cfg);
	return rc;
}
