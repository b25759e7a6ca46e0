/*
 * Fuzz target: one request through request_handle() (stripehook(8)
 * REQUESTS), as the CGI and FastCGI transports drive it, with the body read
 * from memory.
 *
 * Input layout:
 *   byte 0      flags: bit 0 no REQUEST_METHOD, bit 1 no CONTENT_LENGTH,
 *               bit 2 no Stripe-Signature, bit 3 drain before early
 *               answers (CGI), bit 4 the reader times out (-2) instead of
 *               reaching end of input, bit 5 configuration unusable,
 *               bits 6-7 livemode any/live/test/any
 *   byte 1      read chunk size (1 + value, bytes per read call)
 *   then three lines: REQUEST_METHOD, CONTENT_LENGTH, Stripe-Signature
 *   (each cut at a NUL, as an environment value would be), then the body.
 * Helpers that let the fuzzer past the signature: a CONTENT_LENGTH of "@"
 * is the body's true length; a signature starting with "@" becomes
 * "t=NOW,v1=HMAC" of the body followed by the rest of the line.
 *
 * The configuration is built in memory: one secret, state_dir none, and
 * one hook whose pattern no valid type matches (upper case), so no
 * process is ever started.  Checks: the answer has the form of
 * stripehook(8) REQUESTS (Status, Content-Type, one of the known bodies, no
 * trailing newline), never contains the secret, and the returned status is
 * the one written.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stripehook.h"
#include "fuzz.h"

#define FUZZ_SECRET	"whsec_fuzz_fixed_secret_for_the_request_target"
#define FUZZ_MAX_BODY	65536

#define F_NO_METHOD	0x01
#define F_NO_LENGTH	0x02
#define F_NO_SIG	0x04
#define F_DRAIN		0x08
#define F_TIMEOUT	0x10
#define F_NO_CONFIG	0x20
#define F_LIVEMODE(f)	(((f) >> 6) & 3)

static unsigned char	 fuzz_key[] = FUZZ_SECRET;
static struct sh_secret	 fuzz_secret = { fuzz_key, sizeof(fuzz_key) - 1 };
static char		 hook_prog[] = "/nonexistent/hook";
static char		 hook_pattern[] = "NEVER.*";
static char		 hook_identity[] = "NEVER.* /nonexistent/hook";
static char		*hook_argv[] = { hook_prog, NULL };
static struct sh_hook	 fuzz_hook = {
	hook_pattern, hook_argv, hook_identity, 1
};
static char		 env_path[] = "PATH=" SH_DEFAULT_PATH;
static char		*fuzz_env[] = { env_path, NULL };
static char		 cfg_path[] = "/fuzz/stripehook.conf";
static char		 cfg_secret_file[] = "/fuzz/secret";
static struct sh_config	 fuzz_cfg;

struct reader {
	const unsigned char	*p;
	size_t			 len, off, chunk;
	int			 timeout;	/* -2 at the end instead of 0 */
	struct sh_buf		 out;
};

static ssize_t
mem_read(void *ctx, void *buf, size_t len, int timeout)
{
	struct reader	*r = ctx;
	size_t		 n;

	FUZZ_ASSERT(timeout == SH_BODY_IDLE_TIMEOUT);
	FUZZ_ASSERT(len > 0);
	if (r->off == r->len)
		return r->timeout ? -2 : 0;
	n = r->len - r->off;
	if (n > len)
		n = len;
	if (n > r->chunk)
		n = r->chunk;
	memcpy(buf, r->p + r->off, n);
	r->off += n;
	return (ssize_t)n;
}

static int
mem_write(void *ctx, const void *buf, size_t len)
{
	struct reader	*r = ctx;

	return buf_append(&r->out, buf, len);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_cfg.path = cfg_path;
	fuzz_cfg.secret_file = cfg_secret_file;
	fuzz_cfg.tolerance = SH_DEFAULT_TOLERANCE;
	fuzz_cfg.max_body = FUZZ_MAX_BODY;
	fuzz_cfg.hook_timeout = 1;
	fuzz_cfg.limit_cpu = fuzz_cfg.limit_files = fuzz_cfg.limit_fsize = -1;
	fuzz_cfg.state_dir = NULL;
	fuzz_cfg.state_ttl = SH_DEFAULT_STATE_TTL;
	fuzz_cfg.env = fuzz_env;
	fuzz_cfg.nenv = 1;
	fuzz_cfg.hooks = &fuzz_hook;
	fuzz_cfg.nhooks = 1;
	fuzz_cfg.secrets.v = &fuzz_secret;
	fuzz_cfg.secrets.n = 1;
	return 0;
}

/* The next line of the input as a C string (cut at a NUL); NULL at end. */
static char *
next_line(const uint8_t **p, const uint8_t *end)
{
	const uint8_t	*nl;
	size_t		 len;
	char		*s;

	if (*p >= end)
		return NULL;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	len = nl != NULL ? (size_t)(nl - *p) : (size_t)(end - *p);
	if ((s = strndup((const char *)*p, len)) == NULL)
		abort();
	*p = nl != NULL ? nl + 1 : end;
	return s;
}

static void
check_answer(const struct reader *r, int status)
{
	static const char *bodies[] = {
		"{\"received\":true}",
		"{\"received\":true,\"duplicate\":true}",
		"{\"received\":true,\"ignored\":true}",
		"{\"error\":\"",
	};
	char		 want[32];
	const char	*body;
	size_t		 i;
	int		 known = 0;

	FUZZ_ASSERT(r->out.len > 0);
	FUZZ_ASSERT(memmem(r->out.p, r->out.len, FUZZ_SECRET,
	    sizeof(FUZZ_SECRET) - 1) == NULL);
	snprintf(want, sizeof(want), "Status: %d ", status);
	FUZZ_ASSERT(strncmp(r->out.p, want, strlen(want)) == 0);
	FUZZ_ASSERT(strstr(r->out.p,
	    "\r\nContent-Type: application/json\r\n") != NULL);
	FUZZ_ASSERT((body = strstr(r->out.p, "\r\n\r\n")) != NULL);
	body += 4;
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		if (strncmp(body, bodies[i], strlen(bodies[i])) == 0)
			known = 1;
	FUZZ_ASSERT(known);
	FUZZ_ASSERT(body[strlen(body) - 1] == '}');
	FUZZ_ASSERT(strlen(body) == (size_t)(r->out.p + r->out.len - body));
	if (status == 405)
		FUZZ_ASSERT(strstr(r->out.p, "\r\nAllow: POST\r\n") != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sh_request	 rq;
	struct reader		 r;
	const uint8_t		*p = data, *end = data + size;
	char			*method = NULL, *length = NULL, *sig = NULL;
	char			 lenbuf[32], good[SH_SIG_HEX_LEN + 1], tbuf[32];
	struct sh_buf		 sigbuf;
	unsigned		 flags;
	int			 status;

	if (size < 2)
		return 0;
	flags = data[0];
	memset(&r, 0, sizeof(r));
	r.chunk = (size_t)data[1] + 1;
	r.timeout = (flags & F_TIMEOUT) != 0;
	p = data + 2;
	method = next_line(&p, end);
	length = next_line(&p, end);
	sig = next_line(&p, end);
	r.p = p;
	r.len = (size_t)(end - p);
	buf_init(&r.out);
	buf_init(&sigbuf);

	if (length != NULL && strcmp(length, "@") == 0) {
		snprintf(lenbuf, sizeof(lenbuf), "%zu", r.len);
		free(length);
		if ((length = strdup(lenbuf)) == NULL)
			abort();
	}
	if (sig != NULL && sig[0] == '@') {
		snprintf(tbuf, sizeof(tbuf), "%lld", (long long)time(NULL));
		FUZZ_ASSERT(sig_hmac_hex(fuzz_key, sizeof(fuzz_key) - 1, tbuf,
		    strlen(tbuf), r.p, r.len, good) == 0);
		FUZZ_ASSERT(buf_printf(&sigbuf, "t=%s,v1=%s%s", tbuf, good,
		    sig + 1) > -1);
		free(sig);
		if ((sig = strdup(sigbuf.p)) == NULL)
			abort();
	}

	memset(&rq, 0, sizeof(rq));
	rq.method = (flags & F_NO_METHOD) ? NULL : method;
	rq.content_length = (flags & F_NO_LENGTH) ? NULL : length;
	rq.signature = (flags & F_NO_SIG) ? NULL : sig;
	rq.remote_addr = "192.0.2.1";
	rq.request_id = "fuzz";
	rq.content_type = "application/json";
	rq.read = mem_read;
	rq.write = mem_write;
	rq.ctx = &r;
	rq.drain_early = (flags & F_DRAIN) != 0;

	fuzz_cfg.livemode = F_LIVEMODE(flags) == 1 ? SH_LIVEMODE_LIVE :
	    F_LIVEMODE(flags) == 2 ? SH_LIVEMODE_TEST : SH_LIVEMODE_ANY;
	status = request_handle(&rq, (flags & F_NO_CONFIG) ? NULL : &fuzz_cfg,
	    "fuzz: configuration withheld");
	FUZZ_ASSERT(status == 200 || status == 400 || status == 405 ||
	    status == 411 || status == 413 || status == 500);
	if (flags & F_NO_CONFIG)
		FUZZ_ASSERT(status == 500);
	check_answer(&r, status);

	buf_free(&sigbuf);
	buf_free(&r.out);
	free(method);
	free(length);
	free(sig);
	return 0;
}
