/*
 * Unit tests of the Stripe-Signature parser and verifier (stripehook(8)
 * SIGNATURES; the answers "missing signature" to "timestamp outside
 * tolerance" of REQUESTS).
 *
 * Every expected MAC is a known answer from outside the code under test:
 * the vectors of Stripe's official libraries (tests/data/vectors/README.md)
 * or `openssl dgst -sha256 -hmac KEY` as quoted beside each value.  The
 * vector files are read at run time from $SHARED_VECTORS (set by the test
 * harness, so `make distcheck` finds them in the source tree), else from
 * tests/data/vectors under the current directory.
 *
 * The raw HMAC vectors of tests/data/vectors/README.md (key test_secret, no
 * timestamp) cannot go through sig_hmac_hex(), which always MACs
 * t "." body and so can never produce a MAC of a message without a '.'.
 * Calling EVP_MAC directly would test OpenSSL, not this code.  They serve
 * instead to check the command the extra vectors come from:
 *     printf '' | openssl dgst -sha256 -hmac test_secret
 *     printf '%s' '{"obj1":"hello","obj2":"world"}' |
 *         openssl dgst -sha256 -hmac test_secret
 * print f7f9bd47... and bebb1a64... as the README says.
 */
#include "config.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stripehook.h"
#include "tap.h"

#define MAX_KEYS	8
#define TOL		SH_DEFAULT_TOLERANCE

/* README vector 1: stripe-dotnet. */
#define DOTNET_FILE	"dotnet-event_test_signature.json"
#define DOTNET_SIZE	484
#define DOTNET_KEY	"webhook_secret"
#define DOTNET_T	"1533204620"
#define DOTNET_TV	1533204620LL
#define DOTNET_V1	"2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7"
#define DOTNET_V1_NOLF	"8c506d7d19ece69e9a38e398964787dda54eeb2583381ffc7f56070c28d7f119"

/* README vector 2: stripe-python / stripe-php. */
#define PY_FILE		"python-php-dummy-payload.json"
#define PY_SIZE		125
#define PY_T		"12345"
#define PY_TV		12345LL
#define PY_KEY		"whsec_test_secret"
#define PY_V1		"07b1ede164afb7b5de91267ffa656f568c65d6e0783ce0ac55ee094643578eda"
#define PY_V1_UPPER	"07B1EDE164AFB7B5DE91267FFA656F568C65D6E0783CE0AC55EE094643578EDA"
#define PY_KEY_BARE	"test_secret"
#define PY_V1_BARE	"9a08738f5a7e17753f8d538b41a195c18c97368138af8f25b21e174aab387d17"
#define PY_KEY_ROLLED	"whsec_test_secret_rolled_key"
#define PY_V1_ROLLED	"59e6e8306462e09454903d9b6c4cb12d95aecf6fe4deba61995a4447f6361a45"

/* README vector 4: payload {} at t 1700000000. */
#define EMPTY_T		"1700000000"
#define EMPTY_TV	1700000000LL
#define EMPTY_V1	"ceb8863f7208fa249a6cd8f951e993c7563412aca65866f6272283debe143ab3"

/*
 * Extra vectors, each from the command quoted above it.
 */
/* printf '999999999999999999.{}' | openssl dgst -sha256 -hmac whsec_test_secret */
#define BIG_T		"999999999999999999"
#define BIG_TV		999999999999999999LL
#define BIG_V1		"574c561a2a9746f111b46a8da0f3e0d572de07ad825353434c4dc528a7c69594"
/* printf '1700000000.a\000b\377\r\n' | openssl dgst -sha256 -hmac whsec_binary_body */
#define BIN_KEY		"whsec_binary_body"
#define BIN_BODY	"a\0b\377\r\n"
#define BIN_V1		"8c423a5e18d97f6b607b1329971ebfbbdc14dedc30a617f203a02e4b788e57a8"
/* printf '1700000000.' | openssl dgst -sha256 -hmac whsec_empty_body */
#define NOBODY_KEY	"whsec_empty_body"
#define NOBODY_V1	"4c00eff7bb27f83fbc8f8c9c739ce9e507236fb783a50151c1e03fc40de453ce"
/* A key longer than SHA-256's 64-byte block (HMAC hashes it first):
 * printf '1700000000.{}' | openssl dgst -sha256 -hmac \
 *     whsec_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef */
#define LONG_KEY	"whsec_0123456789abcdef0123456789abcdef" \
			"0123456789abcdef0123456789abcdef"
#define LONG_V1		"050c4040aff8fd844f429edbba3aa417395435f9d6961b2295b32a4ce5c881ec"
/* printf '%s' '1712345678.{"id":"evt_1","object":"event","type":"invoice.paid"}' |
 *     openssl dgst -sha256 -hmac whsec_cross_check */
#define CC_KEY		"whsec_cross_check"
#define CC_T		"1712345678"
#define CC_TV		1712345678LL
#define CC_BODY		"{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"invoice.paid\"}"
#define CC_V1		"0bad20c20382cb72e35986f10cf9c7eaaaec98ced50dee24afcd14c2dc507ade"

/* Reads a vector file whole; 0 or -1. */
static int
read_vector(const char *name, struct sh_buf *b)
{
	const char	*dir;
	char		 path[4096], chunk[4096];
	FILE		*f;
	size_t		 n;
	int		 rc = -1;

	if ((dir = getenv("SHARED_VECTORS")) == NULL || *dir == '\0')
		dir = "tests/data/vectors";
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return -1;
	if ((f = fopen(path, "rb")) == NULL) {
		printf("# cannot open %s\n", path);
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(b, chunk, n) == -1)
			goto done;
	if (!ferror(f))
		rc = 0;
done:
	fclose(f);
	return rc;
}

/* sig_verify under the NULL-terminated list of keys. */
static enum sh_err
verify_keys(const char *const *keys, const char *hdr, size_t hdrlen,
    const void *body, size_t len, time_t now, long tol)
{
	struct sh_secret	 v[MAX_KEYS];
	struct sh_secrets	 s = { v, 0 };

	for (; *keys != NULL && s.n < MAX_KEYS; keys++, s.n++) {
		v[s.n].buf = (unsigned char *)*keys;
		v[s.n].len = strlen(*keys);
	}
	return sig_verify(&s, hdr, hdrlen, body, len, now, tol);
}

/* The common case: one key, a NUL-free header, the default tolerance. */
static enum sh_err
verify1(const char *key, const char *hdr, const void *body, size_t len,
    time_t now)
{
	const char	*keys[2] = { key, NULL };

	return verify_keys(keys, hdr, strlen(hdr), body, len, now, TOL);
}

static enum sh_err
parse_str(const char *hdr, struct sh_sighdr *h)
{
	return sig_parse(hdr, strlen(hdr), h);
}

static void
test_stripe_vectors(void)
{
	struct sh_buf	 dn, py;
	char		 hex[65];
	const char	*both[] = { PY_KEY, PY_KEY_ROLLED, NULL };
	const char	*both_rev[] = { PY_KEY_ROLLED, PY_KEY, NULL };
	const char	*bare_first[] = { PY_KEY_BARE, PY_KEY, NULL };
	const char	*rolled_hdr;

	buf_init(&dn);
	buf_init(&py);

	/* Vector 1: stripe-dotnet, body with one trailing LF. */
	ok(read_vector(DOTNET_FILE, &dn) == 0, "read %s", DOTNET_FILE);
	is_int(dn.len, DOTNET_SIZE, "%s is %d bytes", DOTNET_FILE, DOTNET_SIZE);
	if (dn.len == DOTNET_SIZE) {
		ok(dn.p[dn.len - 1] == '\n', "dotnet body ends in LF");
		is_int(sig_hmac_hex((const unsigned char *)DOTNET_KEY,
		    strlen(DOTNET_KEY), DOTNET_T, strlen(DOTNET_T),
		    (unsigned char *)dn.p, dn.len, hex), 0,
		    "dotnet vector: sig_hmac_hex succeeds");
		is_str(hex, DOTNET_V1,
		    "dotnet vector: the MAC is the published v1");
		is_int(sig_hmac_hex((const unsigned char *)DOTNET_KEY,
		    strlen(DOTNET_KEY), DOTNET_T, strlen(DOTNET_T),
		    (unsigned char *)dn.p, dn.len - 1, hex), 0,
		    "dotnet hmac without LF");
		is_str(hex, DOTNET_V1_NOLF, "dotnet v1 without trailing LF");
		is_int(verify1(DOTNET_KEY, "t=" DOTNET_T ",v1=" DOTNET_V1,
		    dn.p, dn.len, DOTNET_TV), SH_OK,
		    "dotnet vector: sig_verify accepts it");
		is_int(verify1(DOTNET_KEY, "t=" DOTNET_T ",v1=" DOTNET_V1,
		    dn.p, dn.len - 1, DOTNET_TV), SH_E_SIG_MISMATCH,
		    "dotnet: trimmed body refused");
		is_int(verify1(DOTNET_KEY, "t=" DOTNET_T ",v1=" DOTNET_V1_NOLF,
		    dn.p, dn.len - 1, DOTNET_TV), SH_OK,
		    "dotnet: LF-less vector verifies the LF-less body");
		is_int(verify1(DOTNET_KEY, "t=" DOTNET_T ",v1=" DOTNET_V1,
		    dn.p, dn.len, DOTNET_TV + TOL + 1), SH_E_TOLERANCE,
		    "dotnet: stale at the real clock's distance");
	}

	/* Vector 2: stripe-python / stripe-php, rolling secrets. */
	ok(read_vector(PY_FILE, &py) == 0, "read %s", PY_FILE);
	is_int(py.len, PY_SIZE, "%s is %d bytes", PY_FILE, PY_SIZE);
	if (py.len == PY_SIZE) {
		const unsigned char *b = (unsigned char *)py.p;

		sig_hmac_hex((const unsigned char *)PY_KEY, strlen(PY_KEY),
		    PY_T, strlen(PY_T), b, py.len, hex);
		is_str(hex, PY_V1, "python v1 under whsec_test_secret");
		sig_hmac_hex((const unsigned char *)PY_KEY_BARE,
		    strlen(PY_KEY_BARE), PY_T, strlen(PY_T), b, py.len, hex);
		is_str(hex, PY_V1_BARE, "python v1 under test_secret");
		sig_hmac_hex((const unsigned char *)PY_KEY_ROLLED,
		    strlen(PY_KEY_ROLLED), PY_T, strlen(PY_T), b, py.len, hex);
		is_str(hex, PY_V1_ROLLED, "python v1 under the rolled key");

		is_int(verify1(PY_KEY, "t=" PY_T ",v1=" PY_V1, b, py.len,
		    PY_TV), SH_OK, "python verifies");
		is_int(verify1(PY_KEY_BARE, "t=" PY_T ",v1=" PY_V1, b,
		    py.len, PY_TV), SH_E_SIG_MISMATCH,
		    "prefix-stripped secret does not verify");
		is_int(verify1(PY_KEY, "t=" PY_T ",v1=" PY_V1_BARE, b,
		    py.len, PY_TV), SH_E_SIG_MISMATCH,
		    "MAC under the stripped key does not verify under whsec_");
		is_int(verify_keys(bare_first, "t=" PY_T ",v1=" PY_V1,
		    strlen("t=" PY_T ",v1=" PY_V1), b, py.len, PY_TV, TOL),
		    SH_OK, "second secret matches after a first that does not");

		rolled_hdr = "t=" PY_T ",v1=" PY_V1 ",v1=" PY_V1_ROLLED;
		is_int(verify1(PY_KEY, rolled_hdr, b, py.len, PY_TV), SH_OK,
		    "rolled header, old secret");
		is_int(verify1(PY_KEY_ROLLED, rolled_hdr, b, py.len, PY_TV),
		    SH_OK, "rolled header, new secret");
		is_int(verify_keys(both, rolled_hdr, strlen(rolled_hdr), b,
		    py.len, PY_TV, TOL), SH_OK, "rolled header, both secrets");
		is_int(verify_keys(both_rev, rolled_hdr, strlen(rolled_hdr),
		    b, py.len, PY_TV, TOL), SH_OK,
		    "rolled header, both secrets reversed");
		is_int(verify1(PY_KEY_BARE, rolled_hdr, b, py.len, PY_TV),
		    SH_E_SIG_MISMATCH, "rolled header, unrelated secret");
		is_int(verify1(PY_KEY, "t=" PY_T ",v1=" PY_V1_ROLLED, b,
		    py.len, PY_TV), SH_E_SIG_MISMATCH,
		    "new secret's v1 alone does not verify under the old");

		/* Uppercase hex never matches (stripehook(8) SIGNATURES: lowercase). */
		is_int(verify1(PY_KEY, "t=" PY_T ",v1=" PY_V1_UPPER, b,
		    py.len, PY_TV), SH_E_SIG_MISMATCH, "uppercase v1 refused");
		/* Only v1 counts: the right MAC as v0 is no v1. */
		is_int(verify1(PY_KEY, "t=" PY_T ",v0=" PY_V1, b, py.len,
		    PY_TV), SH_E_NO_V1, "right MAC under v0 is no v1");
		/* A different t changes the message. */
		is_int(verify1(PY_KEY, "t=12346,v1=" PY_V1, b, py.len,
		    12346), SH_E_SIG_MISMATCH, "other t does not verify");
		/* One changed body byte. */
		py.p[10] ^= 1;
		is_int(verify1(PY_KEY, "t=" PY_T ",v1=" PY_V1, b, py.len,
		    PY_TV), SH_E_SIG_MISMATCH, "changed body refused");
		py.p[10] ^= 1;
	}

	buf_free(&dn);
	buf_free(&py);
}

static void
test_extra_vectors(void)
{
	char	 hex[65];

	/* Vector 4 of the README. */
	is_int(sig_hmac_hex((const unsigned char *)PY_KEY, strlen(PY_KEY),
	    EMPTY_T, strlen(EMPTY_T), (const unsigned char *)"{}", 2, hex), 0,
	    "body {}: sig_hmac_hex succeeds");
	is_str(hex, EMPTY_V1, "body {}: the MAC is the known answer");

	/* openssl dgst cross-checks. */
	sig_hmac_hex((const unsigned char *)PY_KEY, strlen(PY_KEY), BIG_T,
	    strlen(BIG_T), (const unsigned char *)"{}", 2, hex);
	is_str(hex, BIG_V1, "18-digit t: the MAC is the openssl one");
	sig_hmac_hex((const unsigned char *)BIN_KEY, strlen(BIN_KEY), EMPTY_T,
	    strlen(EMPTY_T), (const unsigned char *)BIN_BODY,
	    sizeof(BIN_BODY) - 1, hex);
	is_str(hex, BIN_V1, "binary body (NUL, 0xff, CRLF) hmac");
	sig_hmac_hex((const unsigned char *)NOBODY_KEY, strlen(NOBODY_KEY),
	    EMPTY_T, strlen(EMPTY_T), NULL, 0, hex);
	is_str(hex, NOBODY_V1, "empty body hmac");
	sig_hmac_hex((const unsigned char *)LONG_KEY, strlen(LONG_KEY),
	    EMPTY_T, strlen(EMPTY_T), (const unsigned char *)"{}", 2, hex);
	is_str(hex, LONG_V1, "key over one block hmac");
	sig_hmac_hex((const unsigned char *)CC_KEY, strlen(CC_KEY), CC_T,
	    strlen(CC_T), (const unsigned char *)CC_BODY, strlen(CC_BODY), hex);
	is_str(hex, CC_V1, "event body hmac");

	is_int(verify1(BIN_KEY, "t=" EMPTY_T ",v1=" BIN_V1, BIN_BODY,
	    sizeof(BIN_BODY) - 1, EMPTY_TV), SH_OK, "binary body verifies");
	is_int(verify1(NOBODY_KEY, "t=" EMPTY_T ",v1=" NOBODY_V1, "", 0,
	    EMPTY_TV), SH_OK, "empty body verifies");
	is_int(verify1(LONG_KEY, "t=" EMPTY_T ",v1=" LONG_V1, "{}", 2,
	    EMPTY_TV), SH_OK, "long key verifies");
	is_int(verify1(CC_KEY, "t=" CC_T ",v1=" CC_V1, CC_BODY,
	    strlen(CC_BODY), CC_TV), SH_OK, "event body verifies");

	/* Refusals of sig_hmac_hex itself. */
	is_int(sig_hmac_hex((const unsigned char *)"", 0, EMPTY_T,
	    strlen(EMPTY_T), (const unsigned char *)"{}", 2, hex), -1,
	    "empty key refused");
	is_str(hex, "", "no output for an empty key");
	is_int(sig_hmac_hex(NULL, 3, EMPTY_T, strlen(EMPTY_T),
	    (const unsigned char *)"{}", 2, hex), -1, "NULL key refused");
	is_int(sig_hmac_hex((const unsigned char *)PY_KEY, strlen(PY_KEY),
	    EMPTY_T, strlen(EMPTY_T), NULL, 2, hex), -1,
	    "NULL body with a length refused");

	/* The cache is refetched after sig_cleanup(). */
	sig_cleanup();
	sig_hmac_hex((const unsigned char *)PY_KEY, strlen(PY_KEY), EMPTY_T,
	    strlen(EMPTY_T), (const unsigned char *)"{}", 2, hex);
	is_str(hex, EMPTY_V1, "hmac after sig_cleanup");
}

/* The header cases stripe-dotnet refuses (README), plus our own. */
static void
test_refused_headers(void)
{
	static const char *const malformed[] = {
		/* stripe-dotnet's list */
		"t=,v1=" PY_V1,
		"t,v1=,v0=",
		"t,v1=,v0",
		"t,v1=,",
		"t,,",
		",,",
		"t",
		"i'm not even a real signature header",
		/* empty keys and items */
		"=",
		"=" PY_T,
		"t=" PY_T ",=x,v1=" PY_V1,
		"t=" PY_T ",v1=" PY_V1 ",",
		",t=" PY_T ",v1=" PY_V1,
		"t=" PY_T ",,v1=" PY_V1,
		/* no t, or two */
		"v1=" PY_V1,
		"v0=x,v1=" PY_V1,
		"t=" PY_T ",t=" PY_T ",v1=" PY_V1,
		"t=" PY_T ",v1=" PY_V1 ",t=12346",
		"t=,t=" PY_T ",v1=" PY_V1,
		/* t outside [1-9][0-9]{0,17} */
		"t=0,v1=" PY_V1,
		"t=012345,v1=" PY_V1,
		"t=00,v1=" PY_V1,
		"t=-12345,v1=" PY_V1,
		"t=+12345,v1=" PY_V1,
		"t=12345a,v1=" PY_V1,
		"t=1.5,v1=" PY_V1,
		"t=0x10,v1=" PY_V1,
		"t=1e5,v1=" PY_V1,
		"t=1000000000000000000,v1=" PY_V1,	/* 19 digits */
		"t=9999999999999999999999,v1=" PY_V1,
		"t=12=34,v1=" PY_V1,
		/* no trimming: spaces around t's value or key */
		"t= 12345,v1=" PY_V1,
		"t=12345 ,v1=" PY_V1,
		" t=12345,v1=" PY_V1,
		"t =12345,v1=" PY_V1,
		"t=12345\t,v1=" PY_V1,
		NULL
	};
	const char *const	*p;
	struct sh_sighdr	 h;

	for (p = malformed; *p != NULL; p++) {
		is_int(parse_str(*p, &h), SH_E_MALFORMED_SIG,
		    "malformed: '%s'", *p);
		is_int(verify1(PY_KEY, *p, "{}", 2, PY_TV), SH_E_MALFORMED_SIG,
		    "verify refuses malformed: '%s'", *p);
	}

	/* Row 7: missing or empty. */
	is_int(sig_parse(NULL, 0, &h), SH_E_NO_SIG, "NULL header");
	is_int(sig_parse("", 0, &h), SH_E_NO_SIG, "empty header");
	is_int(sig_parse("t=1", 0, &h), SH_E_NO_SIG, "zero length header");
	is_int(verify1(PY_KEY, "", "{}", 2, PY_TV), SH_E_NO_SIG,
	    "verify: empty header");
	{
		const char	*keys[] = { PY_KEY, NULL };

		is_int(verify_keys(keys, NULL, 0, "{}", 2, PY_TV, TOL),
		    SH_E_NO_SIG, "verify: NULL header");
	}

	/* Embedded NUL bytes, counted in the length. */
	{
		static const char nul1[] = "t=12345\0,v1=" PY_V1;
		static const char nul2[] = "t=12345,v1=" PY_V1 "\0";
		static const char nul3[] = "\0";
		static const char nul4[] = "t=12345,x=\0,v1=" PY_V1;
		const char	*keys[] = { PY_KEY, NULL };

		is_int(sig_parse(nul1, sizeof(nul1) - 1, &h),
		    SH_E_MALFORMED_SIG, "NUL after t's value");
		is_int(sig_parse(nul2, sizeof(nul2) - 1, &h),
		    SH_E_MALFORMED_SIG, "NUL at the end");
		is_int(sig_parse(nul3, sizeof(nul3) - 1, &h),
		    SH_E_MALFORMED_SIG, "a lone NUL");
		is_int(sig_parse(nul4, sizeof(nul4) - 1, &h),
		    SH_E_MALFORMED_SIG, "NUL in an ignored item");
		is_int(verify_keys(keys, nul2, sizeof(nul2) - 1, "{}", 2,
		    PY_TV, TOL), SH_E_MALFORMED_SIG, "verify: NUL at the end");
	}

	/* Row 9, only when the rest is well formed. */
	is_int(parse_str("t=12345", &h), SH_E_NO_V1, "t alone: no v1");
	is_int(parse_str("t=12345,v0=abc", &h), SH_E_NO_V1, "v0 only: no v1");
	is_int(parse_str("t=12345,x=", &h), SH_E_NO_V1,
	    "empty value of another key: no v1");
	is_int(parse_str("t=12345,V1=" PY_V1, &h), SH_E_NO_V1,
	    "V1 is not v1");
	is_int(parse_str("t=12345,v10=" PY_V1, &h), SH_E_NO_V1,
	    "v10 is not v1");
	is_int(parse_str("t=12345, v1=" PY_V1, &h), SH_E_NO_V1,
	    "' v1' is not v1");
	is_int(parse_str("t=12345,v1 =" PY_V1, &h), SH_E_NO_V1,
	    "'v1 ' is not v1");
	is_int(verify1(PY_KEY, "t=12345, v1=" PY_V1, "{}", 2, PY_TV),
	    SH_E_NO_V1, "verify: ' v1' is not v1");
	/* Malformed beats no v1. */
	is_int(parse_str("t=12345,x", &h), SH_E_MALFORMED_SIG,
	    "item without '=' and no v1: malformed");
	is_int(parse_str("t=012345", &h), SH_E_MALFORMED_SIG,
	    "bad t and no v1: malformed");
	is_int(parse_str("v0=abc", &h), SH_E_MALFORMED_SIG,
	    "no t and no v1: malformed");
	is_int(parse_str("t=12345,t=12345", &h), SH_E_MALFORMED_SIG,
	    "two t and no v1: malformed");
}

static void
test_parse_fields(void)
{
	struct sh_sighdr	 h;
	const char		*hdr;

	hdr = "t=12345,v1=,v0=zz,v1=" PY_V1 ",v1==x";
	is_int(parse_str(hdr, &h), SH_OK, "empty and odd v1 values parse");
	is_int(h.tval, 12345, "t=12345 is parsed as 12345");
	is_int(h.tlen, 5, "t=12345 has a 5-character value");
	ok(h.t == hdr + 2, "t points into the header");
	is_int(h.nv1, 3, "three v1 items");
	is_int(h.v1len[0], 0, "first v1 empty");
	is_int(h.v1len[1], SH_SIG_HEX_LEN, "second v1 is 64");
	ok(h.v1[1] == strstr(hdr, PY_V1), "v1 points into the header");
	is_int(h.v1len[2], 2, "third v1 is '=x'");

	is_int(parse_str("t=" BIG_T ",v1=a", &h), SH_OK,
	    "an 18-digit t is accepted");
	is_int(h.tval, BIG_TV, "an 18-digit t is parsed exactly");
	is_int(parse_str("t=1,v1=a", &h), SH_OK, "t=1 is accepted");
	is_int(h.tval, 1, "t=1 is parsed as 1");
	is_int(parse_str("v1=a,x=y,t=9", &h), SH_OK,
	    "t after v1 and other keys is accepted");
	is_int(h.tval, 9, "t after v1 is parsed as 9");
	is_int(parse_str("t=12345,v1=a,v2=b,v0=c,x=", &h), SH_OK,
	    "other keys ignored");
	is_int(h.nv1, 1, "one v1 among others");

	/* On error nothing is left behind. */
	is_int(parse_str("t=12345", &h), SH_E_NO_V1,
	    "t alone: \"no v1 signature\"");
	ok(h.t == NULL && h.tlen == 0 && h.tval == 0, "no v1: t cleared");
	is_int(parse_str("t=12345,v1=" PY_V1 ",x", &h), SH_E_MALFORMED_SIG,
	    "malformed after a v1");
	ok(h.t == NULL && h.nv1 == 0, "malformed: t and v1 cleared");
}

/* v1 values that are kept but can never match. */
static void
test_v1_values(void)
{
	static const char *const never[] = {
		"t=" PY_T ",v1=",
		"t=" PY_T ",v1=" PY_V1_UPPER,
		"t=" PY_T ",v1=" PY_V1 "0",			/* 65 */
		"t=" PY_T ",v1=07b1ede164afb7b5de91267ffa656f568c65d6e0783ce0ac55ee094643578ed",	/* 63 */
		"t=" PY_T ",v1= " PY_V1,
		"t=" PY_T ",v1=" PY_V1 " ",
		"t=" PY_T ",v1=07b1ede164afb7b5de91267ffa656f568c65d6e0783ce0ac55ee094643578edg",
		NULL
	};
	const char *const	*p;
	struct sh_buf		 py;

	buf_init(&py);
	if (read_vector(PY_FILE, &py) == -1 || py.len != PY_SIZE) {
		ok(0, "read %s for the v1 cases", PY_FILE);
		buf_free(&py);
		return;
	}
	for (p = never; *p != NULL; p++)
		is_int(verify1(PY_KEY, *p, py.p, py.len, PY_TV),
		    SH_E_SIG_MISMATCH, "never matches: '%s'", *p);
	is_int(verify1(PY_KEY, "t=" PY_T ",v1=,v1=" PY_V1, py.p,
	    py.len, PY_TV), SH_OK, "empty v1 beside a good one");
	is_int(verify1(PY_KEY, "t=" PY_T ",v1=" PY_V1_UPPER ",v1=" PY_V1
	    ",v1=x", py.p, py.len, PY_TV), SH_OK,
	    "good v1 among bad ones");
	buf_free(&py);
}

/* Header size and item limits (stripehook(8) SIGNATURES: 8 KiB, 64 items). */
static void
test_limits(void)
{
	struct sh_buf		 b;
	struct sh_sighdr	 h;
	const char		*keys[] = { PY_KEY, NULL };
	const char		*good = "t=" EMPTY_T ",v1=" EMPTY_V1;
	int			 i;

	buf_init(&b);

	/* Exactly SH_SIG_HEADER_MAX bytes: fine; one more: malformed. */
	buf_puts(&b, good);
	buf_puts(&b, ",x=");
	while (b.len < SH_SIG_HEADER_MAX)
		buf_puts(&b, "a");
	is_int(b.len, SH_SIG_HEADER_MAX, "built an 8192-byte header");
	is_int(verify_keys(keys, b.p, b.len, "{}", 2, EMPTY_TV, TOL), SH_OK,
	    "8192-byte header verifies");
	buf_puts(&b, "a");
	is_int(verify_keys(keys, b.p, b.len, "{}", 2, EMPTY_TV, TOL),
	    SH_E_MALFORMED_SIG, "8193-byte header malformed");
	is_int(sig_parse(b.p, b.len, &h), SH_E_MALFORMED_SIG,
	    "parse: 8193 bytes malformed");
	/* Length is judged before anything else. */
	buf_reset(&b);
	while (b.len <= SH_SIG_HEADER_MAX)
		buf_puts(&b, "t");
	is_int(sig_parse(b.p, b.len, &h), SH_E_MALFORMED_SIG,
	    "overlong garbage malformed");
	is_int(sig_parse(b.p, 1, &h), SH_E_MALFORMED_SIG,
	    "the same, one byte of it: malformed");

	/* 64 items: fine; 65: malformed. */
	buf_reset(&b);
	buf_puts(&b, good);			/* 2 items */
	for (i = 2; i < SH_SIG_ITEMS_MAX; i++)
		buf_puts(&b, ",x=1");
	is_int(verify_keys(keys, b.p, b.len, "{}", 2, EMPTY_TV, TOL), SH_OK,
	    "64 items verify");
	buf_puts(&b, ",x=1");
	is_int(verify_keys(keys, b.p, b.len, "{}", 2, EMPTY_TV, TOL),
	    SH_E_MALFORMED_SIG, "65 items malformed");

	/* 63 v1 items, the good one last. */
	buf_reset(&b);
	buf_puts(&b, "t=" EMPTY_T);
	for (i = 1; i < SH_SIG_ITEMS_MAX - 1; i++)
		buf_puts(&b, ",v1=" PY_V1);
	buf_puts(&b, ",v1=" EMPTY_V1);
	is_int(sig_parse(b.p, b.len, &h), SH_OK, "t and 63 v1 parse");
	is_int(h.nv1, SH_SIG_ITEMS_MAX - 1, "63 v1 kept");
	is_int(verify_keys(keys, b.p, b.len, "{}", 2, EMPTY_TV, TOL), SH_OK,
	    "last of 63 v1 matches");

	/* 64 v1 items and no t: the array is full, still malformed. */
	buf_reset(&b);
	for (i = 0; i < SH_SIG_ITEMS_MAX; i++)
		buf_printf(&b, "%sv1=%d", i ? "," : "", i);
	is_int(sig_parse(b.p, b.len, &h), SH_E_MALFORMED_SIG,
	    "64 v1 without t malformed");
	buf_puts(&b, ",v1=x");
	is_int(sig_parse(b.p, b.len, &h), SH_E_MALFORMED_SIG,
	    "65 v1 malformed");
	buf_puts(&b, ",t=1");
	is_int(sig_parse(b.p, b.len, &h), SH_E_MALFORMED_SIG,
	    "65 v1 and a t malformed");

	/* Thousands of items inside 8 KiB. */
	buf_reset(&b);
	buf_puts(&b, good);
	while (b.len + 4 <= SH_SIG_HEADER_MAX)
		buf_puts(&b, ",x=1");
	ok(b.len > 8000, "built a header of %zu bytes", b.len);
	is_int(verify_keys(keys, b.p, b.len, "{}", 2, EMPTY_TV, TOL),
	    SH_E_MALFORMED_SIG, "2000 items malformed");
	buf_reset(&b);
	while (b.len < SH_SIG_HEADER_MAX)
		buf_puts(&b, ",");
	is_int(sig_parse(b.p, b.len, &h), SH_E_MALFORMED_SIG,
	    "8192 commas malformed");
	buf_reset(&b);
	buf_puts(&b, good);
	while (b.len + 6 <= SH_SIG_HEADER_MAX)
		buf_puts(&b, ",v1=ab");
	is_int(verify_keys(keys, b.p, b.len, "{}", 2, EMPTY_TV, TOL),
	    SH_E_MALFORMED_SIG, "1000 v1 items malformed");

	buf_free(&b);
}

/* Row 11: after a match, |now - t| <= tolerance, both sides. */
static void
test_tolerance(void)
{
	const char	*keys[] = { PY_KEY, NULL };
	const char	*hdr = "t=" EMPTY_T ",v1=" EMPTY_V1;
	const char	*big = "t=" BIG_T ",v1=" BIG_V1;
	const char	*bad = "t=" EMPTY_T ",v1=" PY_V1;
	size_t		 hl = strlen(hdr), bl = strlen(big);

	is_int(verify1(PY_KEY, hdr, "{}", 2, EMPTY_TV), SH_OK, "now == t");
	is_int(verify1(PY_KEY, hdr, "{}", 2, EMPTY_TV + TOL), SH_OK,
	    "t in the past by exactly the tolerance");
	is_int(verify1(PY_KEY, hdr, "{}", 2, EMPTY_TV + TOL + 1),
	    SH_E_TOLERANCE, "t in the past by the tolerance + 1");
	is_int(verify1(PY_KEY, hdr, "{}", 2, EMPTY_TV - TOL), SH_OK,
	    "t in the future by exactly the tolerance");
	is_int(verify1(PY_KEY, hdr, "{}", 2, EMPTY_TV - TOL - 1),
	    SH_E_TOLERANCE, "t in the future by the tolerance + 1");
	is_int(verify1(PY_KEY, hdr, "{}", 2, EMPTY_TV + 86400 * 365),
	    SH_E_TOLERANCE, "a year old");
	is_int(verify_keys(keys, hdr, hl, "{}", 2, EMPTY_TV + 10, 10), SH_OK,
	    "tolerance 10, 10 s old");
	is_int(verify_keys(keys, hdr, hl, "{}", 2, EMPTY_TV - 11, 10),
	    SH_E_TOLERANCE, "tolerance 10, 11 s ahead");
	is_int(verify_keys(keys, hdr, hl, "{}", 2, EMPTY_TV, 0), SH_OK,
	    "tolerance 0, same second");
	is_int(verify_keys(keys, hdr, hl, "{}", 2, EMPTY_TV, -1),
	    SH_E_TOLERANCE, "negative tolerance accepts nothing");
	is_int(verify_keys(keys, hdr, hl, "{}", 2, EMPTY_TV - 86400,
	    SH_MAX_TOLERANCE), SH_OK, "maximum tolerance, a day ahead");

	/* Tolerance is judged only after a match. */
	is_int(verify1(PY_KEY, bad, "{}", 2, EMPTY_TV + TOL + 1),
	    SH_E_SIG_MISMATCH, "stale and wrong: mismatch first");
	is_int(verify1(PY_KEY, bad, "{}", 2, EMPTY_TV), SH_E_SIG_MISMATCH,
	    "fresh and wrong: mismatch");

	/* Extreme values: no signed overflow (run under UBSan). */
	is_int(verify1(PY_KEY, big, "{}", 2, (time_t)BIG_TV), SH_OK,
	    "18-digit t at now == t");
	is_int(verify1(PY_KEY, big, "{}", 2, 0), SH_E_TOLERANCE,
	    "18-digit t, now 0");
	is_int(verify1(PY_KEY, big, "{}", 2, (time_t)EMPTY_TV),
	    SH_E_TOLERANCE, "18-digit t, now 2023");
	if (sizeof(time_t) == sizeof(long long)) {
		is_int(verify_keys(keys, big, bl, "{}", 2, (time_t)LLONG_MIN,
		    SH_MAX_TOLERANCE), SH_E_TOLERANCE,
		    "18-digit t, most negative now");
		is_int(verify_keys(keys, big, bl, "{}", 2, (time_t)LLONG_MAX,
		    SH_MAX_TOLERANCE), SH_E_TOLERANCE,
		    "18-digit t, largest now");
		is_int(verify_keys(keys, hdr, hl, "{}", 2, (time_t)LLONG_MIN,
		    LONG_MAX), SH_E_TOLERANCE,
		    "most negative now, huge tolerance");
		/* LLONG_MAX - t is below LONG_MAX; LLONG_MIN's distance
		 * is above it. */
		is_int(verify_keys(keys, hdr, hl, "{}", 2, (time_t)LLONG_MAX,
		    LONG_MAX), SH_OK, "largest now, huge tolerance");
	}
	is_int(verify_keys(keys, hdr, hl, "{}", 2, -1, TOL), SH_E_TOLERANCE,
	    "negative now");
}

static void
test_multiple_secrets(void)
{
	const char	*three[] = { "whsec_a", NOBODY_KEY, CC_KEY, NULL };
	const char	*none[] = { NULL };
	const char	*empty[] = { "", NULL };
	const char	*hdr = "t=" CC_T ",v1=" CC_V1;
	size_t		 hl = strlen(hdr);

	is_int(verify_keys(three, hdr, hl, CC_BODY, strlen(CC_BODY), CC_TV,
	    TOL), SH_OK, "third of three secrets matches");
	three[2] = "whsec_c";
	is_int(verify_keys(three, hdr, hl, CC_BODY, strlen(CC_BODY), CC_TV,
	    TOL), SH_E_SIG_MISMATCH, "none of three secrets matches");
	is_int(verify_keys(three, "t=" CC_T ",v1=" CC_V1 ",v1=" NOBODY_V1,
	    strlen("t=" CC_T ",v1=" CC_V1 ",v1=" NOBODY_V1), "", 0, CC_TV,
	    TOL), SH_E_SIG_MISMATCH,
	    "v1 of another t does not match under its secret");

	/* No usable secret: our fault, not the sender's. */
	is_int(verify_keys(none, hdr, hl, CC_BODY, strlen(CC_BODY), CC_TV,
	    TOL), SH_E_CONFIG, "no secret: internal error");
	is_int(sig_verify(NULL, hdr, hl, (const unsigned char *)CC_BODY,
	    strlen(CC_BODY), CC_TV, TOL), SH_E_CONFIG,
	    "NULL secrets: internal error");
	is_int(verify_keys(empty, hdr, hl, CC_BODY, strlen(CC_BODY), CC_TV,
	    TOL), SH_E_CONFIG, "empty secret: internal error");
	/* The header is judged first. */
	is_int(verify_keys(none, "t", 1, CC_BODY, strlen(CC_BODY), CC_TV,
	    TOL), SH_E_MALFORMED_SIG, "no secret, malformed header");
}

int
main(void)
{
	test_stripe_vectors();
	test_extra_vectors();
	test_refused_headers();
	test_parse_fields();
	test_v1_values();
	test_limits();
	test_tolerance();
	test_multiple_secrets();
	sig_cleanup();
	return tap_done();
}
