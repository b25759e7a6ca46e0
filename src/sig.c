/*
 * The Stripe-Signature check of stripehook(8) SIGNATURES (the answers from
 * "missing signature" to "timestamp outside tolerance" in REQUESTS): the
 * header grammar, the HMAC-SHA256 of "t.body", the constant-time match
 * against every configured secret, and the tolerance.
 *
 * Pure: no I/O, no logging.  The only state is the HMAC algorithm handle,
 * fetched once per process (fetching per call is slow in OpenSSL 3.0) and
 * freed by sig_cleanup().  stripehook handles one request at a time per
 * process, so the cache needs no lock.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "stripehook.h"

#define SIG_SHA256_LEN	32		/* bytes of an HMAC-SHA256 */

static EVP_MAC	*sig_mac;		/* cached "HMAC"; see sig_cleanup() */

/* The digest name as OSSL_PARAM wants it (a char *, never written). */
static char	 sig_digest[] = "SHA256";

/*
 * 1 if s[0..len) is a timestamp as stripehook(8) SIGNATURES allows:
 * [1-9][0-9]{0,17}.
 * Eighteen digits stay below 10^18, so *val never overflows a long long.
 */
static int
sig_parse_t(const char *s, size_t len, long long *val)
{
	long long	 v = 0;
	size_t		 i;

	if (len == 0 || len > SH_SIG_T_DIGITS_MAX || s[0] < '1' || s[0] > '9')
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	*val = v;
	return 1;
}

/*
 * The header grammar of stripehook(8) SIGNATURES.  On SH_OK, out's pointers
 * point into hdr, which must outlive it; on any error out is all zero.
 *
 * Order of the checks, so that a header is judged malformed before anyone
 * looks for a v1 ("malformed signature" beats "no v1 signature"):
 *   1. NULL or empty: SH_E_NO_SIG ("missing signature").
 *   2. Over SH_SIG_HEADER_MAX bytes, or any NUL byte in it: malformed.
 *   3. Each ','-separated item, left to right: over SH_SIG_ITEMS_MAX items,
 *      no '=', an empty key, a second t, or a t value outside
 *      [1-9][0-9]{0,17}: malformed.  The item limit is checked before an
 *      item is stored, so out->v1 never overflows.
 *   4. No t at all: malformed.
 *   5. Only now, with the whole header well formed: no v1 is SH_E_NO_V1.
 * Nothing is trimmed: " v1=..." has the key " v1" and is ignored like any
 * other unknown key.  A v1 value is kept whatever it holds (even empty);
 * sig_verify() decides whether it can ever match.
 */
enum sh_err
sig_parse(const char *hdr, size_t len, struct sh_sighdr *out)
{
	const char	*p, *end, *ie, *eq, *v;
	size_t		 nitems = 0, klen, vlen;
	int		 have_t = 0;
	enum sh_err	 rc = SH_E_MALFORMED_SIG;

	memset(out, 0, sizeof(*out));
	if (hdr == NULL || len == 0)
		return SH_E_NO_SIG;
	if (len > SH_SIG_HEADER_MAX || memchr(hdr, '\0', len) != NULL)
		goto done;

	p = hdr;
	end = hdr + len;
	for (;;) {
		if ((ie = memchr(p, ',', (size_t)(end - p))) == NULL)
			ie = end;
		if (++nitems > SH_SIG_ITEMS_MAX)
			goto done;
		if ((eq = memchr(p, '=', (size_t)(ie - p))) == NULL || eq == p)
			goto done;
		klen = (size_t)(eq - p);
		v = eq + 1;
		vlen = (size_t)(ie - v);

		if (klen == 1 && p[0] == 't') {
			if (have_t || !sig_parse_t(v, vlen, &out->tval))
				goto done;
			have_t = 1;
			out->t = v;
			out->tlen = vlen;
		} else if (klen == 2 && p[0] == 'v' && p[1] == '1') {
			/* nv1 < nitems <= SH_SIG_ITEMS_MAX */
			out->v1[out->nv1] = v;
			out->v1len[out->nv1] = vlen;
			out->nv1++;
		}
		/* v0 and future schemes: ignored (stripehook(8) SIGNATURES). */

		if (ie == end)
			break;
		p = ie + 1;	/* a trailing ',' leaves an empty item: malformed */
	}

	if (!have_t)
		goto done;
	rc = out->nv1 == 0 ? SH_E_NO_V1 : SH_OK;
done:
	if (rc != SH_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

/*
 * Lowercase hex HMAC-SHA256 under key of t, ".", body (stripehook(8)
 * SIGNATURES: the body bytes unchanged, the key exactly as configured).
 * out gets 64 characters and a NUL.  Returns 0, or -1 for an empty key
 * (refused before OpenSSL sees it) or an OpenSSL failure, with out set
 * to "".
 */
int
sig_hmac_hex(const unsigned char *key, size_t keylen, const char *t,
    size_t tlen, const unsigned char *body, size_t len, char out[65])
{
	EVP_MAC_CTX		*ctx = NULL;
	OSSL_PARAM		 params[2];
	unsigned char		 md[EVP_MAX_MD_SIZE];
	size_t			 mdlen = 0;
	int			 rc = -1;

	out[0] = '\0';
	if (key == NULL || keylen == 0 || (t == NULL && tlen > 0) ||
	    (body == NULL && len > 0))
		goto done;
	if (sig_mac == NULL && (sig_mac = EVP_MAC_fetch(NULL, "HMAC",
	    NULL)) == NULL)
		goto done;
	if ((ctx = EVP_MAC_CTX_new(sig_mac)) == NULL)
		goto done;

	/* The key goes with every init: never re-key with a NULL key. */
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    sig_digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(ctx, key, keylen, params))
		goto done;
	if (tlen > 0 && !EVP_MAC_update(ctx, (const unsigned char *)t, tlen))
		goto done;
	if (!EVP_MAC_update(ctx, (const unsigned char *)".", 1))
		goto done;
	if (len > 0 && !EVP_MAC_update(ctx, body, len))
		goto done;
	if (!EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) ||
	    mdlen != SIG_SHA256_LEN)
		goto done;

	hex_encode(md, mdlen, out);
	rc = 0;
done:
	OPENSSL_cleanse(md, sizeof(md));
	EVP_MAC_CTX_free(ctx);		/* wipes the keyed state */
	return rc;
}

/*
 * 1 if a v1 value can ever match: SH_SIG_HEX_LEN lowercase hex
 * (stripehook(8) SIGNATURES).
 */
static int
sig_v1_wellformed(const char *v, size_t len)
{
	size_t	 i;

	if (len != SH_SIG_HEX_LEN)
		return 0;
	for (i = 0; i < len; i++)
		if (!((v[i] >= '0' && v[i] <= '9') ||
		    (v[i] >= 'a' && v[i] <= 'f')))
			return 0;
	return 1;
}

/*
 * |now - tval| <= tolerance, without signed overflow: tval is in
 * [1, 10^18), now is any time_t.  The difference is taken in unsigned
 * arithmetic, which wraps to the exact result because the true distance is
 * below 2^64.  A negative tolerance accepts nothing.
 */
static int
sig_within(long long tval, time_t now, long tolerance)
{
	unsigned long long	 diff;
	long long		 n = (long long)now;

	if (tolerance < 0)
		return 0;
	if (n >= tval)
		diff = (unsigned long long)n - (unsigned long long)tval;
	else
		diff = (unsigned long long)tval - (unsigned long long)n;
	return diff <= (unsigned long long)tolerance;
}

/*
 * stripehook(8) SIGNATURES, as Stripe's libraries do it, in the order of the
 * answers in REQUESTS, "missing signature" to "timestamp outside tolerance":
 *   1. parse the header (missing, malformed, no v1);
 *   2. for each secret, the expected v1 is the lowercase hex of
 *      HMAC-SHA256(secret, t "." body); every well-formed v1 is compared
 *      with it by CRYPTO_memcmp (lengths are equal by then); any match
 *      under any secret accepts (rolling sends one v1 per secret);
 *   3. only after a match: |now - t| <= tolerance, past or future.
 * Every pair is compared, match or not, so the time taken does not depend
 * on which secret or v1 matched.
 *
 * Beyond the header's list: SH_E_CONFIG (500 internal error) when there is
 * no secret or OpenSSL fails; that is our fault, not the sender's.
 */
enum sh_err
sig_verify(const struct sh_secrets *secrets, const char *hdr,
    size_t hdrlen, const unsigned char *body, size_t len, time_t now,
    long tolerance)
{
	struct sh_sighdr	 h;
	char			 expected[SH_SIG_HEX_LEN + 1];
	size_t			 i, j;
	int			 matched = 0;
	enum sh_err		 rc;

	if ((rc = sig_parse(hdr, hdrlen, &h)) != SH_OK)
		return rc;
	if (secrets == NULL || secrets->n == 0) {
		rc = SH_E_CONFIG;
		goto done;
	}

	for (i = 0; i < secrets->n; i++) {
		if (sig_hmac_hex(secrets->v[i].buf, secrets->v[i].len, h.t,
		    h.tlen, body, len, expected) == -1) {
			rc = SH_E_CONFIG;
			goto done;
		}
		for (j = 0; j < h.nv1; j++) {
			if (!sig_v1_wellformed(h.v1[j], h.v1len[j]))
				continue;
			matched |= CRYPTO_memcmp(expected, h.v1[j],
			    SH_SIG_HEX_LEN) == 0;
		}
	}

	if (!matched)
		rc = SH_E_SIG_MISMATCH;
	else if (!sig_within(h.tval, now, tolerance))
		rc = SH_E_TOLERANCE;
	else
		rc = SH_OK;
done:
	OPENSSL_cleanse(expected, sizeof(expected));
	return rc;
}

/* Frees the cached HMAC algorithm; the next sig_hmac_hex() fetches it
 * again. */
void
sig_cleanup(void)
{
	EVP_MAC_free(sig_mac);
	sig_mac = NULL;
}
