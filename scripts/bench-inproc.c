/*
 * In-process cost of verify + parse, for scripts/bench under
 * valgrind --tool=callgrind --toggle-collect=bench_loop.
 *
 *	bench-inproc stripehook|floor SIZE N
 *	bench-inproc rss
 *
 * Builds one valid event of exactly SIZE bytes (an invoice-like event
 * whose line items hold strings, numbers, booleans, nulls, nested objects
 * and non-ASCII UTF-8), signs it, then runs bench_loop N times:
 *
 *   stripehook: sig_verify() + event_parse() + event_free(), as a request
 *               does (from the build's libstripehook.a);
 *   floor:      the same work done directly: EVP_MAC HMAC-SHA256 over
 *               t "." body, lowercase hex, CRYPTO_memcmp against the v1,
 *               then json_tokener_parse_ex in strict mode with UTF-8
 *               validation at depth 64, the parse end checked, "id" and
 *               "type" read, the tree put.
 *
 * One warm-up call runs before, outside the measured function, so one-time
 * set-up (the cached EVP_MAC fetch, the provider load) is not counted.
 * Exits 1 if any call fails.
 *
 * "rss" prints the process's resident set (total, anonymous, file pages,
 * kB) before and after the first EVP_MAC_fetch("HMAC"): what OpenSSL 3
 * adds to any process that computes an HMAC through EVP_MAC.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "stripehook.h"

#define SECRET		"whsec_bench_0123456789abcdefghijklmnopqrstuv"
#define TSTAMP		"1735210000"
#define HEAD		"{\"id\":\"evt_1QbJ4nLkdIwHu7ixBench0001\"," \
			"\"object\":\"event\",\"api_version\":\"2024-06-20\"," \
			"\"created\":1735210000,\"livemode\":false," \
			"\"pending_webhooks\":1,\"request\":{\"id\":null," \
			"\"idempotency_key\":null}," \
			"\"type\":\"invoice.paid\",\"data\":{\"object\":{" \
			"\"id\":\"in_1QbJ4nLkdIwHu7ix0a2B3c4D\"," \
			"\"object\":\"invoice\",\"lines\":["
#define ITEM		"{\"id\":\"il_1QbJ4nLkdIwHu7ix%07d\"," \
			"\"object\":\"line_item\",\"amount\":4999," \
			"\"currency\":\"eur\",\"description\":\"Pro plan " \
			"\xc3\x97 1 (at \xe2\x82\xac" "49.99 / month)\"," \
			"\"discountable\":true,\"livemode\":false," \
			"\"metadata\":{},\"period\":{\"end\":1737888400," \
			"\"start\":1735210000},\"proration\":false," \
			"\"quantity\":1,\"type\":\"subscription\"," \
			"\"unit_amount_decimal\":\"4999.5\",\"tax_rates\":[]," \
			"\"discount_amounts\":[{\"amount\":0,\"discount\":" \
			"null}],\"plan\":null}"
#define TAIL_FMT	"],\"pad\":\"%s\"}}}\n"

static struct sh_secrets	 secrets;
static EVP_MAC			*mac;
static char			 digest[] = "SHA256";
static char			 header[128];
static char			 v1[65];
static unsigned char		*body;
static size_t			 blen;

/* An event of exactly size bytes, or NULL if size is too small. */
static unsigned char *
make_event(size_t size)
{
	char	 item[1024], *b, *pad;
	size_t	 len, ilen, tlen, i;

	if ((b = malloc(size + 1)) == NULL)
		return NULL;
	len = strlen(HEAD);
	memcpy(b, HEAD, len);
	tlen = strlen(TAIL_FMT) - 2;	/* without "%s" */
	for (i = 0;; i++) {
		ilen = (size_t)snprintf(item, sizeof(item), "%s" ITEM,
		    i ? "," : "", (int)i);
		if (len + ilen + tlen > size)
			break;
		memcpy(b + len, item, ilen);
		len += ilen;
	}
	if (len + tlen > size) {
		free(b);
		return NULL;
	}
	if ((pad = malloc(size - len - tlen + 1)) == NULL) {
		free(b);
		return NULL;
	}
	memset(pad, 'x', size - len - tlen);
	pad[size - len - tlen] = '\0';
	snprintf(b + len, size - len + 1, TAIL_FMT, pad);
	free(pad);
	return (unsigned char *)b;
}

static int
hmac_hex(const unsigned char *b, size_t len, char out[65])
{
	static const char	 hex[] = "0123456789abcdef";
	EVP_MAC_CTX		*ctx;
	OSSL_PARAM		 params[2];
	unsigned char		 md[EVP_MAX_MD_SIZE];
	size_t			 mdlen, i;
	int			 ok;

	if ((ctx = EVP_MAC_CTX_new(mac)) == NULL)
		return -1;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = EVP_MAC_init(ctx, (const unsigned char *)SECRET, strlen(SECRET),
	    params) && EVP_MAC_update(ctx, (const unsigned char *)TSTAMP,
	    strlen(TSTAMP)) && EVP_MAC_update(ctx,
	    (const unsigned char *)".", 1) && EVP_MAC_update(ctx, b, len) &&
	    EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) && mdlen == 32;
	EVP_MAC_CTX_free(ctx);
	if (!ok)
		return -1;
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[64] = '\0';
	return 0;
}

static int
run_stripehook(void)
{
	struct sh_event	 ev;

	if (sig_verify(&secrets, header, strlen(header), body, blen,
	    (time_t)atoll(TSTAMP), SH_DEFAULT_TOLERANCE) != SH_OK)
		return -1;
	if (event_parse(body, blen, &ev) != SH_OK)
		return -1;
	event_free(&ev);
	return 0;
}

static int
run_floor(void)
{
	struct json_tokener	*tok;
	struct json_object	*root, *id, *type;
	char			 expected[65];
	size_t			 end;
	int			 rc = -1;

	if (hmac_hex(body, blen, expected) == -1 ||
	    CRYPTO_memcmp(expected, v1, 64) != 0)
		return -1;
	if ((tok = json_tokener_new_ex(SH_JSON_DEPTH)) == NULL)
		return -1;
	json_tokener_set_flags(tok,
	    JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, (const char *)body, (int)blen);
	if (json_tokener_get_error(tok) == json_tokener_success) {
		end = json_tokener_get_parse_end(tok);
		while (end < blen && body[end] == '\n')
			end++;
		if (end == blen &&
		    json_object_object_get_ex(root, "id", &id) &&
		    json_object_object_get_ex(root, "type", &type) &&
		    json_object_get_string(id) != NULL &&
		    json_object_get_string(type) != NULL)
			rc = 0;
	}
	json_object_put(root);
	json_tokener_free(tok);
	return rc;
}

/* "VmRSS RssAnon RssFile" of this process, kB, on one line. */
static void
print_rss(const char *when)
{
	char	 line[256];
	long	 v[3] = { -1, -1, -1 };
	FILE	*f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			v[0] = atol(line + 6);
		else if (strncmp(line, "RssAnon:", 8) == 0)
			v[1] = atol(line + 8);
		else if (strncmp(line, "RssFile:", 8) == 0)
			v[2] = atol(line + 8);
	}
	fclose(f);
	printf("RSS %s rss_kb=%ld anon_kb=%ld file_kb=%ld\n", when, v[0], v[1],
	    v[2]);
}

/* The measured function: callgrind counts only inside it. */
__attribute__((noinline)) int bench_loop(int (*)(void), long);
__attribute__((noinline)) int
bench_loop(int (*fn)(void), long n)
{
	long	 i;
	int	 bad = 0;

	for (i = 0; i < n; i++)
		bad |= fn();
	return bad;
}

int
main(int argc, char *argv[])
{
	struct sh_secret	 s;
	int			 (*fn)(void);
	long			 n;

	if (argc == 2 && strcmp(argv[1], "rss") == 0) {
		print_rss("before");
		if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
			return 1;
		print_rss("after");
		EVP_MAC_free(mac);
		return 0;
	}
	if (argc != 4 || (n = atol(argv[3])) < 1 || atol(argv[2]) < 1) {
		fprintf(stderr, "usage: bench-inproc stripehook|floor SIZE N\n");
		return 2;
	}
	if (strcmp(argv[1], "stripehook") == 0)
		fn = run_stripehook;
	else if (strcmp(argv[1], "floor") == 0)
		fn = run_floor;
	else {
		fprintf(stderr, "bench-inproc: bad mode\n");
		return 2;
	}
	blen = (size_t)atol(argv[2]);
	if ((body = make_event(blen)) == NULL) {
		fprintf(stderr, "bench-inproc: size too small\n");
		return 2;
	}
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    hmac_hex(body, blen, v1) == -1) {
		fprintf(stderr, "bench-inproc: HMAC failed\n");
		return 1;
	}
	snprintf(header, sizeof(header), "t=%s,v1=%s", TSTAMP, v1);
	s.buf = (unsigned char *)SECRET;
	s.len = strlen(SECRET);
	secrets.v = &s;
	secrets.n = 1;

	if (fn() == -1) {			/* warm-up, not measured */
		fprintf(stderr, "bench-inproc: %s refused the event\n",
		    argv[1]);
		return 1;
	}
	if (bench_loop(fn, n) != 0)
		return 1;
	printf("INPROC mode=%s size=%zu n=%ld ok\n", argv[1], blen, n);
	sig_cleanup();
	EVP_MAC_free(mac);
	free(body);
	return 0;
}
