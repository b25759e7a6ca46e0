/*
 * One request, from the checks of stripehook(8) REQUESTS to the answer and
 * the log line of LOGGING.  The transport (CGI or FastCGI) hands in the
 * parameters and a reader/writer; nothing here knows which it is.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "stripehook.h"

/* Outcomes of a request that got as far as the hooks. */
enum outcome {
	OUT_ERROR = 0,
	OUT_HANDLED,
	OUT_UNHANDLED,
	OUT_DUPLICATE,
	OUT_IGNORED,
	OUT_QUEUED
};

/*
 * Fills rq from a transport's parameters (the CGI environment, a FastCGI
 * request's parameter list) through get, and clears everything else: the
 * parameters stripehook(8) REQUESTS reads, and for the log the remote
 * address, the request id (REQUEST_ID, else HTTP_X_REQUEST_ID) and the
 * content type.
 */
void
request_params(struct sh_request *rq,
    const char *(*get)(void *arg, const char *name), void *arg)
{
	memset(rq, 0, sizeof(*rq));
	rq->method = get(arg, "REQUEST_METHOD");
	rq->content_length = get(arg, "CONTENT_LENGTH");
	rq->signature = get(arg, "HTTP_STRIPE_SIGNATURE");
	rq->remote_addr = get(arg, "REMOTE_ADDR");
	if ((rq->request_id = get(arg, "REQUEST_ID")) == NULL)
		rq->request_id = get(arg, "HTTP_X_REQUEST_ID");
	rq->content_type = get(arg, "CONTENT_TYPE");
}

/*
 * Reads up to max bytes and throws them away, stopping at end of input or
 * after SH_BODY_IDLE_TIMEOUT seconds without progress.  Used before an
 * early answer under CGI: fcgiwrap turns an answer given before the body
 * was consumed into a 502 (REQUESTS).
 */
static void
drain(struct sh_request *rq, size_t max)
{
	char	 tmp[16384];
	size_t	 got = 0;
	ssize_t	 n;

	while (got < max) {
		n = rq->read(rq->ctx, tmp,
		    max - got < sizeof(tmp) ? max - got : sizeof(tmp),
		    SH_BODY_IDLE_TIMEOUT);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
}

/*
 * How much to drain before an early answer: the announced length when it
 * is a number (the web server sends no more), else up to end of input;
 * never more than SH_DRAIN_MAX.
 */
static size_t
drain_limit(const char *cl)
{
	long long	 v;

	if (parse_decimal(cl, 0, SH_DRAIN_MAX, &v) == 0)
		return (size_t)v;
	return SH_DRAIN_MAX;
}

/*
 * RFC 3875 4.1.2: CONTENT_LENGTH is 1*digit.  stripehook(8) REQUESTS:
 * unset or empty is "length required" (411), anything but ASCII digits
 * "bad content length" (400), over max_body, however many digits, "body
 * too large" (413).
 */
static enum sh_err
parse_length(const char *s, size_t max, size_t *out)
{
	long long	 v;

	if (s == NULL || *s == '\0')
		return SH_E_LENGTH_REQUIRED;
	switch (parse_decimal(s, 0, (long long)max, &v)) {
	case 0:
		*out = (size_t)v;
		return SH_OK;
	case -1:
		return SH_E_BAD_LENGTH;
	default:
		return SH_E_TOO_LARGE;
	}
}

/*
 * Reads exactly len bytes.  "incomplete body": fewer (end of input, an error, or no
 * progress for SH_BODY_IDLE_TIMEOUT seconds) is an incomplete body.
 */
static enum sh_err
read_body(struct sh_request *rq, unsigned char *body, size_t len)
{
	size_t	 got = 0;
	ssize_t	 n;

	while (got < len) {
		n = rq->read(rq->ctx, body + got, len - got,
		    SH_BODY_IDLE_TIMEOUT);
		if (n <= 0)
			return SH_E_INCOMPLETE;
		got += (size_t)n;
	}
	return SH_OK;
}

/* stripehook.conf(5) livemode: 1 when the event may run hooks. */
int
request_livemode_accepted(const struct sh_config *cfg,
    const struct sh_event *ev)
{
	switch (cfg->livemode) {
	case SH_LIVEMODE_LIVE:
		return ev->livemode == 1;
	case SH_LIVEMODE_TEST:
		return ev->livemode == 0;
	default:
		return 1;
	}
}

/* 1 when some configured hook matches the type. */
int
request_hooks_match(const struct sh_config *cfg, const char *type)
{
	size_t	 i;

	for (i = 0; i < cfg->nhooks; i++)
		if (hook_match(cfg->hooks[i].pattern, type))
			return 1;
	return 0;
}

/* Appends " key=value" with the value escaped, or "-" when absent. */
static void
log_kv(struct sh_buf *b, const char *key, const char *val)
{
	buf_printf(b, " %s=", key);
	if (val == NULL || *val == '\0')
		buf_puts(b, "-");
	else
		buf_escape(b, val, strlen(val));
}

/* Writes the answer; returns its status, *sent 0 when it could not be
 * written (the client is gone). */
static int
answer(struct sh_request *rq, enum sh_err err, enum outcome out, int *sent)
{
	struct sh_buf	 b;
	const char	*body;
	int		 status, rc;

	status = sh_err_status(err);
	buf_init(&b);
	buf_printf(&b, "Status: %d %s\r\nContent-Type: application/json\r\n",
	    status, sh_err_reason(err));
	if (err == SH_E_METHOD)
		buf_puts(&b, "Allow: POST\r\n");
	buf_puts(&b, "\r\n");
	if (err != SH_OK)
		buf_printf(&b, "{\"error\":\"%s\"}", sh_err_string(err));
	else {
		switch (out) {
		case OUT_DUPLICATE:
			body = "{\"received\":true,\"duplicate\":true}";
			break;
		case OUT_IGNORED:
			body = "{\"received\":true,\"ignored\":true}";
			break;
		case OUT_QUEUED:
			body = "{\"received\":true,\"queued\":true}";
			break;
		default:
			body = "{\"received\":true}";
			break;
		}
		buf_puts(&b, body);
	}
	rc = (b.p == NULL) ? -1 : rq->write(rq->ctx, b.p, b.len);
	buf_free(&b);
	*sent = rc != -1;
	if (rc == -1)
		log_warnx("could not write the answer (status %d)", status);
	return status;
}

/*
 * The early answers, "internal error" to "body too large": a usable
 * configuration, the method, the announced length.  SH_OK with *len set,
 * or the error to answer at once.
 */
static enum sh_err
check_early(const struct sh_request *rq, const struct sh_config *cfg,
    const char *cfg_why, size_t *len)
{
	if (cfg == NULL) {
		log_warnx("configuration unusable: %s",
		    cfg_why ? cfg_why : "unknown");
		return SH_E_CONFIG;
	}
	if (rq->method == NULL || strcmp(rq->method, "POST") != 0)
		return SH_E_METHOD;
	return parse_length(rq->content_length, cfg->max_body, len);
}

/*
 * LOGGING: the request's one key=value line, everything from outside
 * escaped; ev NULL before an event was parsed, logtail the hooks' part,
 * outword the outcome of a request answered without error.
 */
static void
log_request(const struct sh_request *rq, const struct sh_event *ev,
    const struct sh_buf *logtail, int status, int sent, enum sh_err err,
    const char *outword, double t0)
{
	struct sh_buf	 line;
	char		 tbuf[32];
	time_t		 now;
	struct tm	 tm;

	buf_init(&line);
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_printf(&line, "time=%s", tbuf);
	log_kv(&line, "remote", rq->remote_addr);
	log_kv(&line, "request_id", rq->request_id);
	log_kv(&line, "content_type", rq->content_type);
	log_kv(&line, "event", ev != NULL ? ev->id : NULL);
	log_kv(&line, "type", ev != NULL ? ev->type : NULL);
	log_kv(&line, "livemode", ev == NULL || ev->livemode < 0 ? NULL :
	    ev->livemode ? "true" : "false");
	if (logtail->len > 0)
		buf_append(&line, logtail->p, logtail->len);
	buf_printf(&line, " status=%d%s", status, sent ? "" :
	    " answer=unsent");
	if (err != SH_OK)
		buf_printf(&line, " error=\"%s\"", sh_err_string(err));
	else
		buf_printf(&line, " outcome=%s", outword);
	buf_printf(&line, " total=%.3f", mono_now() - t0);
	if (line.p != NULL)
		log_line(err == SH_OK ? LOG_INFO : status >= 500 ? LOG_ERR :
		    LOG_WARNING, line.p);
	buf_free(&line);
}

int
request_handle(struct sh_request *rq, const struct sh_config *cfg,
    const char *cfg_why)
{
	static const char *outwords[] = {
		"error", "handled", "unhandled", "duplicate", "ignored",
		"queued"
	};
	struct sh_event	 ev;
	struct sh_buf	 logtail;
	unsigned char	*body = NULL;
	size_t		 len = 0;
	enum sh_err	 err;
	enum outcome	 out = OUT_ERROR;
	int		 have_ev = 0, dup = 0, status, sent;
	double		 t0 = mono_now();

	buf_init(&logtail);
	memset(&ev, 0, sizeof(ev));

	/* The early answers, "internal error" to "body too large". */
	if ((err = check_early(rq, cfg, cfg_why, &len)) != SH_OK)
		goto early;
	if ((body = malloc(len ? len : 1)) == NULL) {
		log_warn("malloc %zu", len);
		err = SH_E_CONFIG;
		goto early;
	}
	if ((err = read_body(rq, body, len)) != SH_OK)
		goto done;

	/* The signature, verified over the raw bytes before any parsing. */
	err = sig_verify(&cfg->secrets, rq->signature,
	    rq->signature ? strlen(rq->signature) : 0, body, len,
	    time(NULL), cfg->tolerance);
	if (err != SH_OK)
		goto done;

	/* "invalid json" to "invalid event type". */
	if ((err = event_parse(body, len, &ev)) != SH_OK)
		goto done;
	have_ev = 1;

	/* livemode: answered ignored. */
	if (!request_livemode_accepted(cfg, &ev)) {
		out = OUT_IGNORED;
		goto done;
	}
	if (!request_hooks_match(cfg, ev.type)) {
		out = OUT_UNHANDLED;
		goto done;
	}
	if (cfg->ack == SH_ACK_RECEIPT) {
		/* stripehook(8) ACK ON RECEIPT: queued, never run here. */
		err = deliver_queue(cfg, &ev, body, len, &dup, &logtail);
		if (err == SH_OK)
			out = dup == 1 ? OUT_DUPLICATE : OUT_QUEUED;
		goto done;
	}
	/* "event in progress", records, "hook failed". */
	err = request_run_hooks(cfg, &ev, body, len, &dup, &logtail);
	if (err == SH_OK)
		out = dup ? OUT_DUPLICATE : OUT_HANDLED;
	goto done;

early:
	if (rq->drain_early)
		drain(rq, drain_limit(rq->content_length));
done:
	status = answer(rq, err, out, &sent);
	metrics_request(cfg, status, have_ev);

	/* LOGGING: one key=value line, everything from outside escaped. */
	log_request(rq, have_ev ? &ev : NULL, &logtail, status, sent, err,
	    outwords[out], t0);
	buf_free(&logtail);

	if (have_ev)
		event_free(&ev);
	free(body);
	return status;
}
