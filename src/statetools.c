/*
 * The operator tools on the de-duplication records (stripehook(8)):
 * status, replay, forget and prune.  Exit status: 0 success, 1 a negative
 * answer (unknown event, event in progress, a hook failed, configuration
 * errors), 2 usage or I/O error.
 *
 * status EVENT_ID prints, on stdout:
 *
 *	payload kept			or "payload not kept"
 *	type TYPE			when the kept payload tells it
 *	IDENTITY<TAB>succeeded<TAB>YYYY-MM-DDTHH:MM:SSZ
 *	IDENTITY<TAB>not run
 *	IDENTITY<TAB>not matching	(only when the type is known)
 *
 * one line per configured hook in file order, then one line per record of
 * a hook no longer configured, with a fourth field "not configured".
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stripehook.h"


#define TOOL_OK		0
#define TOOL_NO		1	/* a negative answer */
#define TOOL_ERR	2	/* usage or I/O */
#define TOOL_TIME_MAX	32	/* bytes of an ISO 8601 time */

struct record {
	char	*identity;
	time_t	 when;
	int	 shown;
};

struct records {
	struct record	*v;
	size_t		 n;
};

static int
usage(const char *cmd, const char *args)
{
	fprintf(stderr, "usage: stripehook [-c file] %s%s%s\n", cmd,
	    *args ? " " : "", args);
	return TOOL_ERR;
}

/*
 * Parses [-c file] (-c may also come among a command's options, where
 * it overrides the path main resolved) and, with v non-NULL, -v.  Options
 * stop at the first operand, so a hook identity is never taken for one.
 * Returns the index of the first operand, or -1 on a usage error.
 */
static int
parse_options(int argc, char **argv, const char **cfgpath, int *v)
{
	int	 ch;

	optind = 0;		/* full re-initialisation (glibc) */
	while ((ch = getopt(argc, argv, v != NULL ? "+c:v" : "+c:")) != -1) {
		switch (ch) {
		case 'c':
			*cfgpath = optarg;
			break;
		case 'v':
			*v = 1;
			break;
		default:
			return -1;
		}
	}
	return optind;
}

/*
 * Loads the configuration for a tool that needs the records.  Returns
 * TOOL_OK with *cfgp set, TOOL_NO on configuration errors (printed), or
 * TOOL_ERR when de-duplication is off.
 */
static int
load_config(const char *cfgpath, struct sh_config **cfgp)
{
	if ((*cfgp = config_load_report(cfgpath, 0, NULL)) == NULL)
		return TOOL_NO;
	if (!records_on(*cfgp)) {
		fprintf(stderr, "stripehook: %s: state_dir is none: "
		    "de-duplication is off and no records are kept\n",
		    (*cfgp)->path);
		config_free(*cfgp);
		*cfgp = NULL;
		return TOOL_ERR;
	}
	return TOOL_OK;
}

/* The event id operand: TOOL_OK, or TOOL_NO with a message. */
static int
check_id(const char *id)
{
	if (event_id_valid(id, strlen(id)))
		return TOOL_OK;
	fprintf(stderr, "stripehook: invalid event id\n");
	return TOOL_NO;
}

/*
 * Files a tool creates belong to whoever runs it: say so when that is not
 * the owner of state_dir, whose deliveries may then fail to use them.
 */
static void
warn_owner(const struct sh_config *cfg)
{
	struct stat	 sb;

	if (cfg->state_dir != NULL && stat(cfg->state_dir, &sb) == 0 &&
	    sb.st_uid != geteuid())
		fprintf(stderr, "stripehook: warning: %s belongs to uid %lu, "
		    "not to uid %lu running this command\n", cfg->state_dir,
		    (unsigned long)sb.st_uid, (unsigned long)geteuid());
}

static int
collect(void *arg, const char *identity, time_t when)
{
	struct records	*r = arg;
	struct record	*nv;

	if ((nv = reallocarray(r->v, r->n + 1, sizeof(*nv))) == NULL)
		return -1;
	r->v = nv;
	if ((nv[r->n].identity = strdup(identity)) == NULL)
		return -1;
	nv[r->n].when = when;
	nv[r->n].shown = 0;
	r->n++;
	return 0;
}

static void
records_free(struct records *r)
{
	size_t	 i;

	for (i = 0; i < r->n; i++)
		free(r->v[i].identity);
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

static int
record_cmp(const void *a, const void *b)
{
	return strcmp(((const struct record *)a)->identity,
	    ((const struct record *)b)->identity);
}

/* Every record of the event, sorted by identity.  0 or -1 (logged). */
static int
load_records(struct sh_state *st, struct records *r)
{
	if (state_records(st, collect, r) == -1) {
		fprintf(stderr, "stripehook: cannot read the records\n");
		return -1;
	}
	if (r->n > 1)
		qsort(r->v, r->n, sizeof(*r->v), record_cmp);
	return 0;
}

static struct record *
find_record(struct records *r, const char *identity)
{
	size_t	 i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->v[i].identity, identity) == 0)
			return &r->v[i];
	return NULL;
}

/*
 * Opens an existing event for a tool.  TOOL_OK with *st set, or an exit
 * status with the reason printed.
 */
static int
open_for_tool(const struct sh_config *cfg, const char *id, int lock,
    struct sh_state **st)
{
	switch (state_open_existing(cfg, id, lock, st)) {
	case SH_OK:
		if (*st != NULL)
			return TOOL_OK;
		fprintf(stderr, "stripehook: unknown event\n");
		return TOOL_NO;
	case SH_E_IN_PROGRESS:
		fprintf(stderr, "stripehook: event in progress\n");
		return TOOL_NO;
	case SH_E_EVENT_ID:
		fprintf(stderr, "stripehook: invalid event id\n");
		return TOOL_NO;
	default:
		fprintf(stderr, "stripehook: cannot read the records\n");
		return TOOL_ERR;
	}
}

/* status: which hooks succeeded for the event and when, and whether its
 * payload is kept.  Reads without taking the lock, so it never delays a
 * delivery (records and payload are replaced atomically). */
int
tool_status(int argc, char **argv, const char *cfgpath)
{
	struct sh_config	*cfg = NULL;
	struct sh_state		*st = NULL;
	struct sh_event		 ev;
	struct sh_buf		 payload;
	struct records		 recs = { NULL, 0 };
	struct record		*r;
	char			 tbuf[TOOL_TIME_MAX];
	const char		*type = NULL;
	enum sh_err		 e;
	size_t			 i;
	int			 ind, kept, parsed = 0, rc;

	buf_init(&payload);
	if ((ind = parse_options(argc, argv, &cfgpath, NULL)) == -1 ||
	    argc - ind != 1)
		return usage("status", "event-id");
	if ((rc = check_id(argv[ind])) != TOOL_OK ||
	    (rc = load_config(cfgpath, &cfg)) != TOOL_OK ||
	    (rc = open_for_tool(cfg, argv[ind], 0, &st)) != TOOL_OK)
		goto done;
	rc = TOOL_ERR;
	if (load_records(st, &recs) == -1)
		goto done;
	if ((kept = state_payload(st, &payload, SH_MAX_MAX_BODY)) == -1) {
		fprintf(stderr, "stripehook: cannot read the kept payload\n");
		goto done;
	}
	if (kept == 0 && recs.n == 0) {
		fprintf(stderr, "stripehook: unknown event\n");
		rc = TOOL_NO;
		goto done;
	}
	if (kept) {
		if ((e = event_parse((const unsigned char *)payload.p,
		    payload.len, &ev)) == SH_OK) {
			parsed = 1;
			type = ev.type;
		} else
			fprintf(stderr, "stripehook: warning: the kept payload "
			    "is not a valid event (%s)\n", sh_err_string(e));
	}

	printf("payload %s\n", kept ? "kept" : "not kept");
	if (type != NULL)
		printf("type %s\n", type);
	for (i = 0; i < cfg->nhooks; i++) {
		const struct sh_hook *h = &cfg->hooks[i];

		if ((r = find_record(&recs, h->identity)) != NULL) {
			r->shown = 1;
			printf("%s\tsucceeded\t%s\n", h->identity,
			    iso_time(r->when, tbuf, sizeof(tbuf)));
		} else if (type != NULL && !hook_match(h->pattern, type))
			printf("%s\tnot matching\n", h->identity);
		else
			printf("%s\tnot run\n", h->identity);
	}
	for (i = 0; i < recs.n; i++)
		if (!recs.v[i].shown)
			printf("%s\tsucceeded\t%s\tnot configured\n",
			    recs.v[i].identity, iso_time(recs.v[i].when, tbuf,
			    sizeof(tbuf)));
	rc = fflush(stdout) == 0 ? TOOL_OK : TOOL_ERR;
done:
	if (parsed)
		event_free(&ev);
	records_free(&recs);
	buf_free(&payload);
	state_close(st);
	if (cfg != NULL)
		config_free(cfg);
	return rc;
}

/*
 * Reads the event's kept payload into payload and parses it into ev.
 * TOOL_OK with ev to event_free, or an exit status after saying why.
 */
static int
kept_event(const struct sh_config *cfg, const char *id,
    struct sh_buf *payload, struct sh_event *ev)
{
	struct sh_state	*st = NULL;
	enum sh_err	 e;
	int		 kept, rc;

	if ((rc = open_for_tool(cfg, id, 0, &st)) != TOOL_OK)
		return rc;
	kept = state_payload(st, payload, SH_MAX_MAX_BODY);
	/* The lock is request_run_hooks' to take. */
	state_close(st);
	if (kept == -1) {
		fprintf(stderr, "stripehook: cannot read the kept payload\n");
		return TOOL_ERR;
	}
	if (kept == 0) {
		fprintf(stderr, "stripehook: no payload kept for this event "
		    "(its hooks finished, or it was never kept)\n");
		return TOOL_NO;
	}
	if ((e = event_parse((const unsigned char *)payload->p, payload->len,
	    ev)) != SH_OK) {
		fprintf(stderr, "stripehook: the kept payload is not a valid "
		    "event (%s)\n", sh_err_string(e));
		return TOOL_ERR;
	}
	if (strcmp(ev->id, id) != 0) {
		fprintf(stderr, "stripehook: the kept payload is for another "
		    "event\n");
		event_free(ev);
		return TOOL_ERR;
	}
	return TOOL_OK;
}

/*
 * As a redelivery would: an event the livemode key refuses runs nothing,
 * and an event no hook matches any more runs nothing and keeps its
 * payload; neither is a success.  TOOL_OK when the hooks may run, else
 * TOOL_NO after saying why.
 */
static int
replay_allowed(const struct sh_config *cfg, const struct sh_event *ev)
{
	if (!request_livemode_accepted(cfg, ev)) {
		fprintf(stderr, "stripehook: the event has livemode %s and "
		    "livemode is %s: a delivery would be ignored; nothing "
		    "run, payload kept\n", ev->livemode < 0 ? "absent" :
		    ev->livemode ? "true" : "false",
		    cfg->livemode == SH_LIVEMODE_LIVE ? "live" : "test");
		return TOOL_NO;
	}
	if (!request_hooks_match(cfg, ev->type)) {
		fprintf(stderr, "stripehook: no configured hook matches type "
		    "%s: nothing run, payload kept\n", ev->type);
		return TOOL_NO;
	}
	return TOOL_OK;
}

/* What request_run_hooks' result means for replay: says it, returns the
 * exit status. */
static int
replay_result(enum sh_err e, int duplicate)
{
	switch (e) {
	case SH_OK:
		printf("%s\n", duplicate ? "every hook had already succeeded" :
		    "every hook succeeded");
		return TOOL_OK;
	case SH_E_IN_PROGRESS:
	case SH_E_HOOK:
		fprintf(stderr, "stripehook: %s\n", sh_err_string(e));
		return TOOL_NO;
	case SH_E_STATE:
		fprintf(stderr, "stripehook: the records cannot be read or "
		    "written\n");
		return TOOL_ERR;
	default:
		fprintf(stderr, "stripehook: %s\n", sh_err_string(e));
		return TOOL_ERR;
	}
}

/*
 * replay: runs the event's unfinished hooks from the kept payload, as a
 * redelivery would (records, lock and all, through request_run_hooks).
 * No signature is checked: the payload was verified before it was kept.
 */
int
tool_replay(int argc, char **argv, const char *cfgpath)
{
	struct sh_config	*cfg = NULL;
	struct sh_event		 ev;
	struct sh_buf		 payload, logtail;
	const char		*id;
	enum sh_err		 e;
	int			 ind, parsed = 0, duplicate = 0, rc;

	if ((ind = parse_options(argc, argv, &cfgpath, NULL)) == -1 ||
	    argc - ind != 1)
		return usage("replay", "event-id");
	id = argv[ind];
	buf_init(&payload);
	buf_init(&logtail);
	if ((rc = check_id(id)) != TOOL_OK ||
	    (rc = load_config(cfgpath, &cfg)) != TOOL_OK ||
	    (rc = kept_event(cfg, id, &payload, &ev)) != TOOL_OK)
		goto done;
	parsed = 1;
	if ((rc = replay_allowed(cfg, &ev)) != TOOL_OK)
		goto done;
	rc = TOOL_ERR;
	/* As a redelivery would: as the configured user when started as
	 * root, never silently as root. */
	if (geteuid() == 0) {
		if (cfg->user != NULL) {
			if (become_user_named(cfg->user) == -1)
				goto done;
		} else
			fprintf(stderr, "stripehook: warning: running the "
			    "hooks as root (set user, or run replay as the "
			    "user deliveries run as)\n");
	}
	warn_owner(cfg);
	e = request_run_hooks(cfg, &ev, (const unsigned char *)payload.p,
	    payload.len, &duplicate, &logtail);
	metrics_flush(cfg);
	if (logtail.len > 0)
		log_info("replay id=%s%s", id, logtail.p);
	rc = replay_result(e, duplicate);
done:
	if (parsed)
		event_free(&ev);
	buf_free(&logtail);
	buf_free(&payload);
	if (cfg != NULL)
		config_free(cfg);
	return rc;
}

/*
 * forget: drops the event's records (or the one of HOOK, an identity as
 * status prints it) so the next delivery runs the hook(s) again.  Takes
 * the event's lock; the kept payload stays.
 */
int
tool_forget(int argc, char **argv, const char *cfgpath)
{
	struct sh_config	*cfg = NULL;
	struct sh_state		*st = NULL;
	struct records		 recs = { NULL, 0 };
	const char		*hook;
	size_t			 i;
	int			 ind, rc;

	if ((ind = parse_options(argc, argv, &cfgpath, NULL)) == -1 ||
	    argc - ind < 1 || argc - ind > 2)
		return usage("forget", "event-id [hook]");
	hook = argc - ind == 2 ? argv[ind + 1] : NULL;
	if ((rc = check_id(argv[ind])) != TOOL_OK ||
	    (rc = load_config(cfgpath, &cfg)) != TOOL_OK)
		goto done;
	warn_owner(cfg);
	if ((rc = open_for_tool(cfg, argv[ind], 1, &st)) != TOOL_OK)
		goto done;
	rc = TOOL_ERR;
	if (hook != NULL) {
		switch (state_forget(st, hook)) {
		case 1:
			printf("forgot %s\n", hook);
			rc = TOOL_OK;
			break;
		case 0:
			fprintf(stderr, "stripehook: no record of that hook "
			    "for this event\n");
			rc = TOOL_NO;
			break;
		default:
			fprintf(stderr, "stripehook: cannot drop the record\n");
			break;
		}
		goto done;
	}
	if (load_records(st, &recs) == -1)
		goto done;
	if (recs.n == 0) {
		fprintf(stderr, "stripehook: no records for this event\n");
		rc = TOOL_NO;
		goto done;
	}
	for (i = 0; i < recs.n; i++) {
		if (state_forget(st, recs.v[i].identity) == -1) {
			fprintf(stderr, "stripehook: cannot drop the "
			    "record\n");
			goto done;
		}
		printf("forgot %s\n", recs.v[i].identity);
	}
	rc = TOOL_OK;
done:
	if (rc != TOOL_ERR && fflush(stdout) != 0)
		rc = TOOL_ERR;
	records_free(&recs);
	state_close(st);
	if (cfg != NULL)
		config_free(cfg);
	return rc;
}

/*
 * prune: drops the events whose newest record is older than state_ttl
 * days; events being delivered are skipped.  Silent unless -v (for cron).
 */
int
tool_prune(int argc, char **argv, const char *cfgpath)
{
	struct sh_config	*cfg = NULL;
	unsigned		 removed, busy;
	int			 ind, verbose = 0, rc;

	if ((ind = parse_options(argc, argv, &cfgpath, &verbose)) == -1 ||
	    argc - ind != 0) {
		return usage("prune", "[-v]");
	}
	if ((rc = load_config(cfgpath, &cfg)) != TOOL_OK)
		goto done;
	rc = state_prune(cfg, time(NULL), &removed, &busy) == SH_OK ?
	    TOOL_OK : TOOL_ERR;
	if (rc != TOOL_OK)
		fprintf(stderr, "stripehook: prune could not remove every "
		    "expired event\n");
	if (verbose)
		printf("removed %u events, skipped %u in progress\n", removed,
		    busy);
	if (fflush(stdout) != 0)
		rc = TOOL_ERR;
done:
	if (cfg != NULL)
		config_free(cfg);
	return rc;
}
