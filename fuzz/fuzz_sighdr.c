/*
 * Fuzz target: the Stripe-Signature header grammar and the verifier
 * (stripehook(8) SIGNATURES).  Input: the header, a newline, then the
 * body.  The header is copied into a buffer of exactly its length, without
 * a terminating NUL, so a read past it is caught.
 *
 * Besides "no crash", it checks what stripehook(8) SIGNATURES promises:
 *   - a parsed header has one t of [1-9][0-9]{0,17}, at most 64 items,
 *     and pointers inside the header;
 *   - sig_verify() agrees with sig_parse() on "missing signature",
 *     "malformed signature" and "no v1 signature";
 *   - the fuzzed header verifies exactly when one of its v1 is the true
 *     HMAC and t is within tolerance (an oracle built from sig_hmac_hex);
 *   - a header made of the parsed t and the true v1, with every fuzzed v1
 *     added, verifies (any v1 may match), or fails only on tolerance.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stripehook.h"
#include "fuzz.h"

#define FUZZ_NOW	1735210000	/* a fixed "now" */
#define FUZZ_SECRET	"whsec_fuzz_fixed_secret_for_the_sighdr_target"

static unsigned char	 fuzz_key[] = FUZZ_SECRET;
static struct sh_secret	 fuzz_secret = { fuzz_key, sizeof(fuzz_key) - 1 };
static struct sh_secrets fuzz_secrets = { &fuzz_secret, 1 };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static int
within(long long t)
{
	return t >= FUZZ_NOW - SH_DEFAULT_TOLERANCE &&
	    t <= FUZZ_NOW + SH_DEFAULT_TOLERANCE;
}

/* Rebuilds "t=T" with each parsed v1 and the true v1: it must verify. */
static void
check_good(const struct sh_sighdr *h, const unsigned char *body, size_t len,
    const char *good)
{
	struct sh_buf	 b;
	enum sh_err	 rc;
	size_t		 i;

	buf_init(&b);
	FUZZ_ASSERT(buf_puts(&b, "t=") == 0 &&
	    buf_append(&b, h->t, h->tlen) == 0);
	/* Items beyond 63 fuzzed v1s would exceed the item limit. */
	for (i = 0; i < h->nv1 && i < SH_SIG_ITEMS_MAX - 2; i++) {
		FUZZ_ASSERT(buf_puts(&b, ",v1=") == 0 &&
		    buf_append(&b, h->v1[i], h->v1len[i]) == 0);
	}
	FUZZ_ASSERT(buf_printf(&b, ",v1=%s", good) > -1);
	if (b.len <= SH_SIG_HEADER_MAX) {
		rc = sig_verify(&fuzz_secrets, b.p, b.len, body, len,
		    FUZZ_NOW, SH_DEFAULT_TOLERANCE);
		if (within(h->tval))
			FUZZ_ASSERT(rc == SH_OK);
		else
			FUZZ_ASSERT(rc == SH_E_TOLERANCE);
	}
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sh_sighdr h;
	const uint8_t	*nl;
	char		*hdr, good[SH_SIG_HEX_LEN + 1];
	size_t		 hlen, blen, i;
	int		 matched = 0;
	const unsigned char *body;
	enum sh_err	 prc, vrc;

	nl = memchr(data, '\n', size);
	hlen = nl != NULL ? (size_t)(nl - data) : size;
	body = nl != NULL ? nl + 1 : data + size;
	blen = nl != NULL ? size - hlen - 1 : 0;
	if ((hdr = malloc(hlen ? hlen : 1)) == NULL)
		return 0;
	memcpy(hdr, data, hlen);

	prc = sig_parse(hdr, hlen, &h);
	FUZZ_ASSERT(prc == SH_OK || prc == SH_E_NO_SIG ||
	    prc == SH_E_MALFORMED_SIG || prc == SH_E_NO_V1);
	if (prc == SH_OK) {
		FUZZ_ASSERT(hlen <= SH_SIG_HEADER_MAX);
		FUZZ_ASSERT(h.t >= hdr && h.t + h.tlen <= hdr + hlen);
		FUZZ_ASSERT(h.tlen >= 1 && h.tlen <= SH_SIG_T_DIGITS_MAX);
		FUZZ_ASSERT(h.t[0] >= '1' && h.t[0] <= '9' && h.tval > 0);
		FUZZ_ASSERT(h.nv1 >= 1 && h.nv1 <= SH_SIG_ITEMS_MAX);
		for (i = 0; i < h.nv1; i++)
			FUZZ_ASSERT(h.v1[i] >= hdr &&
			    h.v1[i] + h.v1len[i] <= hdr + hlen);
	}

	vrc = sig_verify(&fuzz_secrets, hdr, hlen, body, blen, FUZZ_NOW,
	    SH_DEFAULT_TOLERANCE);
	if (prc != SH_OK)
		FUZZ_ASSERT(vrc == prc);
	else {
		FUZZ_ASSERT(sig_hmac_hex(fuzz_key, sizeof(fuzz_key) - 1, h.t,
		    h.tlen, body, blen, good) == 0);
		FUZZ_ASSERT(strlen(good) == SH_SIG_HEX_LEN);
		for (i = 0; i < h.nv1; i++)
			if (h.v1len[i] == SH_SIG_HEX_LEN &&
			    memcmp(h.v1[i], good, SH_SIG_HEX_LEN) == 0)
				matched = 1;
		if (!matched)
			FUZZ_ASSERT(vrc == SH_E_SIG_MISMATCH);
		else
			FUZZ_ASSERT(vrc == (within(h.tval) ? SH_OK :
			    SH_E_TOLERANCE));
		check_good(&h, body, blen, good);
	}
	free(hdr);
	return 0;
}
