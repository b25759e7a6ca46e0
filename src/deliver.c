/*
 * Delivery under the records: each hook runs to success once per event
 * (stripehook(8) DELIVERY), either inside the request (ack hooks) or from
 * the queue (ack receipt: the request queues, a runner makes attempts;
 * stripehook(8) ACK ON RECEIPT).  Request handling, the runner and the
 * tools come here; this file reaches the records only through the records
 * interface of stripehook.h (state_*, queue_*).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "stripehook.h"

#define DELIVER_ANSWER_DUPLICATE	1
#define DELIVER_ANSWER_QUEUED		2

/* Set (by a signal handler of the runner's attempt process) to start no
 * further hook: the attempt ends after the running one. */
volatile sig_atomic_t	 deliver_stopping;

static void
log_hook(struct sh_buf *logtail, const struct sh_hook *h,
    const struct sh_hook_result *res)
{
	char	 word[64];

	if (logtail == NULL)
		return;
	buf_puts(logtail, " hook=\"");
	buf_qescape(logtail, h->identity, strlen(h->identity));
	buf_printf(logtail, "\" result=%s duration=%.3f",
	    hook_result_word(res, word, sizeof(word)), res->seconds);
}

/*
 * stripehook(8) HOOKS and DELIVERY: the matching hooks in file order, the
 * first failure stops the chain.  With records, hooks already recorded as
 * succeeded are skipped, the payload is kept while any is unfinished, and
 * each success is recorded durably before the next hook starts (and
 * before any 200).
 */
enum sh_err
request_run_hooks(const struct sh_config *cfg, const struct sh_event *ev,
    const unsigned char *body, size_t len, int *duplicate,
    struct sh_buf *logtail)
{
	struct sh_state		*st = NULL;
	struct sh_hook_result	 res;
	const struct sh_hook	*h;
	enum sh_err		 err = SH_OK;
	size_t			 i, pending = 0;
	int			 done;
	unsigned char		*skip = NULL;

	*duplicate = 0;
	/* No hook matches: nothing ran, nothing is recorded, and a kept
	 * payload stays (the caller says so). */
	if (!request_hooks_match(cfg, ev->type))
		return SH_OK;
	if ((skip = calloc(cfg->nhooks, 1)) == NULL) {
		log_warn("calloc");
		return SH_E_STATE;
	}
	for (i = 0; i < cfg->nhooks; i++)
		if (!hook_match(cfg->hooks[i].pattern, ev->type))
			skip[i] = 1;

	if (records_on(cfg)) {
		if ((err = state_open(cfg, ev->id, &st)) != SH_OK)
			goto out;
		for (i = 0; i < cfg->nhooks; i++) {
			if (skip[i])
				continue;
			if ((done = state_hook_done(st, &cfg->hooks[i])) == -1) {
				err = SH_E_STATE;
				goto out;
			}
			if (done)
				skip[i] = 1;
			else
				pending++;
		}
		if (pending == 0) {
			/* A payload left by a handler that died after its
			 * last record goes now; failing that is no reason
			 * to refuse the duplicate. */
			*duplicate = 1;
			(void)state_finish(st);
			goto out;
		}
		if ((err = state_keep_payload(st, body, len)) != SH_OK)
			goto out;
	}

	for (i = 0; i < cfg->nhooks; i++) {
		if (skip[i])
			continue;
		h = &cfg->hooks[i];
		memset(&res, 0, sizeof(res));
		if (hook_run(cfg, h, ev, body, len, &res) == -1) {
			metrics_hook(cfg, 0);
			log_hook(logtail, h, &res);
			err = SH_E_HOOK;
			goto out;
		}
		metrics_hook(cfg, 1);
		log_hook(logtail, h, &res);
		if (st != NULL && (err = state_record(st, h)) != SH_OK)
			goto out;
	}
	if (st != NULL)
		err = state_finish(st);
out:
	if (st != NULL)
		state_close(st);
	free(skip);
	return err;
}


/*
 * The matching hooks of cfg not yet recorded for the event: skip[i] set
 * for the others.  Returns how many are pending, or -1 (logged).
 */
static int
pending_hooks(const struct sh_config *cfg, struct sh_state *st,
    const char *type, unsigned char *skip)
{
	size_t	 i;
	int	 done, pending = 0;

	for (i = 0; i < cfg->nhooks; i++) {
		skip[i] = 1;
		if (!hook_match(cfg->hooks[i].pattern, type))
			continue;
		if ((done = state_hook_done(st, &cfg->hooks[i])) == -1)
			return -1;
		if (!done) {
			skip[i] = 0;
			pending++;
		}
	}
	return pending;
}

/*
 * ack receipt, under the queue lock: already queued (pending, running or
 * dead: a dead one is revived), every matching hook already recorded
 * (duplicate), or queued now: payload kept, then the entry written, both
 * synced before the caller answers 200.
 */
static enum sh_err
queue_locked(const struct sh_config *cfg, struct sh_state *st,
    const struct sh_event *ev, const unsigned char *body, size_t len,
    int *answer, struct sh_buf *logtail)
{
	struct sh_queued q;
	unsigned char	*skip = NULL;
	enum sh_err	 err = SH_E_STATE;
	time_t		 now = time(NULL);
	int		 r;

	if ((r = queue_get(cfg, ev->id, &q)) == -1)
		return SH_E_STATE;
	*answer = DELIVER_ANSWER_QUEUED;
	if (r == 1) {
		if (!q.dead)
			return SH_OK;
		/* A copy of a dead event revives it: queued anew. */
		q.attempts = 0;
		q.first = q.next = now;
		q.dead = 0;
		if ((err = state_keep_payload(st, body, len)) == SH_OK &&
		    (err = queue_put(cfg, ev->id, &q)) == SH_OK)
			buf_puts(logtail, " revived=1");
		return err;
	}
	if ((skip = calloc(cfg->nhooks, 1)) == NULL) {
		log_warn("calloc");
		return SH_E_STATE;
	}
	if ((r = pending_hooks(cfg, st, ev->type, skip)) == -1)
		goto out;
	if (r == 0) {
		*answer = DELIVER_ANSWER_DUPLICATE;
		(void)state_finish(st);
		err = SH_OK;
		goto out;
	}
	memset(&q, 0, sizeof(q));
	q.first = q.next = now;
	if ((err = state_keep_payload(st, body, len)) == SH_OK)
		err = queue_put(cfg, ev->id, &q);
out:
	free(skip);
	return err;
}

enum sh_err
deliver_queue(const struct sh_config *cfg, const struct sh_event *ev,
    const unsigned char *body, size_t len, int *answer,
    struct sh_buf *logtail)
{
	struct sh_state	*st = NULL;
	enum sh_err	 err;
	int		 qfd;

	*answer = 0;
	if ((err = state_open_unlocked(cfg, ev->id, &st)) != SH_OK)
		return err == SH_E_IN_PROGRESS ? SH_E_STATE : err;
	if ((qfd = queue_lock(st)) == -1)
		err = SH_E_STATE;
	else {
		err = queue_locked(cfg, st, ev, body, len, answer, logtail);
		queue_unlock(qfd);
	}
	state_close(st);
	return err;
}

/* retry_min x 2^(attempts-1) seconds, at most retry_max. */
static long
backoff(const struct sh_config *cfg, int attempts)
{
	long	 d = cfg->retry_min;
	int	 i;

	for (i = 1; i < attempts && d < cfg->retry_max; i++)
		d *= 2;
	return d < cfg->retry_max ? d : cfg->retry_max;
}

/*
 * on_failure, once per dead event: the payload on stdin, the hook
 * environment plus STRIPE_FAILED_HOOK, STRIPE_ATTEMPTS and
 * STRIPE_LAST_RESULT.  Its own failure is only logged.
 */
static void
run_on_failure(const struct sh_config *cfg, const struct sh_event *ev,
    const unsigned char *body, size_t len, const char *failed,
    const struct sh_queued *q)
{
	struct sh_config	 c;
	struct sh_hook_result	 res;
	char			**env = NULL, word[64];
	size_t			 i, n = 0;

	if (cfg->on_failure == NULL)
		return;
	c = *cfg;		/* the same configuration, a longer env */
	if ((env = calloc(cfg->nenv + 4, sizeof(*env))) == NULL)
		goto fail;
	for (i = 0; i < cfg->nenv; i++)
		env[n++] = cfg->env[i];
	if (asprintf(&env[n++], "STRIPE_FAILED_HOOK=%s", failed) == -1 ||
	    asprintf(&env[n++], "STRIPE_ATTEMPTS=%d", q->attempts) == -1 ||
	    asprintf(&env[n++], "STRIPE_LAST_RESULT=%s", q->last) == -1) {
		env[--n] = NULL;
		goto fail;
	}
	c.env = env;
	c.nenv = n;
	(void)hook_run(&c, cfg->on_failure, ev, body, len, &res);
	log_info("on_failure event=%s result=%s duration=%.3f", ev->id,
	    hook_result_word(&res, word, sizeof(word)), res.seconds);
	goto done;
fail:
	log_warn("on_failure event=%s result=spawn-failed", ev->id);
done:
	if (env != NULL)
		for (i = cfg->nenv; i < n; i++)
			free(env[i]);
	free(env);
}

/*
 * After a failed attempt, under the queue lock: one more attempt counted,
 * due again after the back-off, or dead once the attempt failed more than
 * retry_for seconds after the event was first queued.  *died set when the
 * event died now (not when it was dead already, as under replay).
 */
static enum sh_err
attempt_failed(const struct sh_config *cfg, struct sh_state *st,
    struct sh_queued *q, const char *word, time_t now, int *died)
{
	enum sh_err	 err;
	int		 qfd, r;

	*died = 0;
	if ((qfd = queue_lock(st)) == -1)
		return SH_E_STATE;
	/* Reread: a request may have revived it meanwhile. */
	if ((r = queue_get(cfg, state_event_id(st), q)) != 1) {
		queue_unlock(qfd);
		return r == 0 ? SH_OK : SH_E_STATE;
	}
	q->attempts++;
	(void)snprintf(q->last, sizeof(q->last), "%s", word);
	if (!q->dead && now - q->first > cfg->retry_for)
		*died = q->dead = 1;
	if (!q->dead)
		q->next = now + backoff(cfg, q->attempts);
	err = queue_put(cfg, state_event_id(st), q);
	queue_unlock(qfd);
	return err;
}

/* Every hook succeeded: the payload and the queue entry go. */
static enum sh_err
attempt_handled(const struct sh_config *cfg, struct sh_state *st)
{
	enum sh_err	 err;
	int		 qfd;

	if ((qfd = queue_lock(st)) == -1)
		return SH_E_STATE;
	if ((err = state_finish(st)) == SH_OK)
		err = queue_drop(cfg, state_event_id(st));
	queue_unlock(qfd);
	return err;
}

/*
 * The hooks of one attempt: the matching hooks of the configuration in
 * force, recorded ones skipped, the first failure stops.  SH_OK, SH_E_HOOK
 * with the failed hook and its result word, or SH_E_STATE.
 */
static enum sh_err
attempt_hooks(const struct sh_config *cfg, struct sh_state *st,
    const struct sh_event *ev, const struct sh_buf *payload,
    struct sh_buf *logtail, const struct sh_hook **failed, char *word,
    size_t wlen)
{
	struct sh_hook_result	 res;
	unsigned char		*skip;
	enum sh_err		 err = SH_OK;
	size_t			 i;

	if ((skip = calloc(cfg->nhooks + 1, 1)) == NULL)
		return SH_E_STATE;
	if (pending_hooks(cfg, st, ev->type, skip) == -1)
		err = SH_E_STATE;
	for (i = 0; err == SH_OK && i < cfg->nhooks; i++) {
		if (skip[i])
			continue;
		if (deliver_stopping) {
			/* Not an attempt: due again at once. */
			err = SH_E_IN_PROGRESS;
			break;
		}
		(void)hook_run(cfg, &cfg->hooks[i], ev,
		    (const unsigned char *)payload->p, payload->len, &res);
		metrics_hook(cfg, res.ok);
		log_hook(logtail, &cfg->hooks[i], &res);
		if (!res.ok) {
			*failed = &cfg->hooks[i];
			(void)hook_result_word(&res, word, wlen);
			err = SH_E_HOOK;
		} else
			err = state_record(st, &cfg->hooks[i]);
	}
	free(skip);
	return err;
}

/* The one log line of an attempt (stripehook(8) LOGGING): time=ENDED,
 * attempt=N, each hook's result, the outcome and next=TIME (or next=-),
 * where a retry's next is ENDED plus the back-off. */
static void
log_run(const struct sh_event *ev, int attempt, const struct sh_queued *q,
    const struct sh_buf *logtail, enum sh_err err, time_t ended)
{
	struct sh_buf	 line;
	const char	*outcome;
	char		 tbuf[32], nbuf[32];
	int		 retry = 0;

	if (err == SH_OK)
		outcome = "handled";
	else if (err == SH_E_IN_PROGRESS)
		outcome = "stopped";
	else if (err != SH_E_HOOK)
		outcome = "error";
	else if (q->dead)
		outcome = "dead";
	else {
		outcome = "retry";
		retry = 1;
	}
	buf_init(&line);
	buf_printf(&line, "time=%s run event=",
	    iso_time(ended, tbuf, sizeof(tbuf)));
	buf_escape(&line, ev->id, strlen(ev->id));
	buf_puts(&line, " type=");
	buf_escape(&line, ev->type, strlen(ev->type));
	buf_printf(&line, " attempt=%d", attempt);
	if (logtail->len > 0)
		buf_append(&line, logtail->p, logtail->len);
	buf_printf(&line, " outcome=%s next=%s", outcome,
	    retry ? iso_time(q->next, nbuf, sizeof(nbuf)) : "-");
	if (line.p != NULL)
		log_line(err == SH_OK ? LOG_INFO : LOG_WARNING, line.p);
	buf_free(&line);
}

enum sh_err
deliver_attempt(const struct sh_config *cfg, const char *id, int force)
{
	struct sh_state		*st = NULL;
	struct sh_queued	 q;
	struct sh_event		 ev;
	struct sh_buf		 payload, logtail;
	const struct sh_hook	*failed = NULL;
	char			 word[32] = "";
	enum sh_err		 err;
	int			 r, parsed = 0, died = 0, attempt;
	time_t			 ended;

	buf_init(&payload);
	buf_init(&logtail);
	if ((err = state_open_existing(cfg, id, 1, &st)) != SH_OK)
		goto out;
	if (st == NULL || (r = queue_get(cfg, id, &q)) == 0)
		goto out;		/* handled meanwhile */
	err = SH_E_STATE;
	if (r == -1)
		goto out;
	if (!force && (q.dead || q.next > time(NULL))) {
		err = SH_OK;		/* another runner made the attempt */
		goto out;
	}
	if ((r = state_payload(st, &payload, SH_MAX_MAX_BODY)) == -1)
		goto out;
	if (r == 0 || event_parse((const unsigned char *)payload.p,
	    payload.len, &ev) != SH_OK) {
		/* Nothing to run from: leave the queue (status still shows
		 * what is kept). */
		log_warnx("run event=%s: the kept payload is %s: dropped from "
		    "the queue", id, r == 1 ? "not a valid event" : "missing");
		if ((r = queue_lock(st)) != -1) {
			err = queue_drop(cfg, id);
			queue_unlock(r);
		}
		goto out;
	}
	parsed = 1;
	attempt = q.attempts + 1;
	err = attempt_hooks(cfg, st, &ev, &payload, &logtail, &failed, word,
	    sizeof(word));
	ended = time(NULL);
	if (err == SH_OK)
		err = attempt_handled(cfg, st);
	else if (err == SH_E_HOOK && attempt_failed(cfg, st, &q, word, ended,
	    &died) != SH_OK)
		err = SH_E_STATE;
	log_run(&ev, attempt, &q, &logtail, err, ended);
	if (died && failed != NULL)
		run_on_failure(cfg, &ev, (const unsigned char *)payload.p,
		    payload.len, failed->identity, &q);
out:
	if (parsed)
		event_free(&ev);
	buf_free(&payload);
	buf_free(&logtail);
	state_close(st);
	metrics_flush(cfg);
	return err;
}
