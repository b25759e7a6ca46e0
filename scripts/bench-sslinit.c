/*
 * What OpenSSL's start-up costs a process that is started per request (a
 * CGI program), for scripts/bench.  Each mode stops after one step of what
 * stripehook does before it can check a signature:
 *
 *	link	   nothing: the cost of loading and relocating libcrypto
 *	init	   OPENSSL_init_crypto with OPENSSL_INIT_LOAD_CONFIG, as the
 *		   first call into libcrypto does implicitly (reads the
 *		   system's openssl.cnf: its providers and policy)
 *	fetch	   init, then EVP_MAC_fetch("HMAC")
 *	mac	   fetch, then one HMAC-SHA256 of a 3431-byte buffer through
 *		   EVP_MAC (the digest is fetched at the first init)
 *	mac-noconf the same as mac after OPENSSL_init_crypto with
 *		   OPENSSL_INIT_NO_LOAD_CONFIG: what skipping the system's
 *		   configuration would save (measured only: skipping it
 *		   ignores the system's OpenSSL policy)
 *
 *	bench-sslinit MODE
 *
 * Exits 0 when the step succeeded, 1 when it failed, 2 on usage.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define BODY_LEN	3431
#define KEY		"whsec_bench_0123456789abcdefghijklmnopqrstuv"

static char	 digest[] = "SHA256";

static int
one_mac(EVP_MAC *mac)
{
	static unsigned char	 body[BODY_LEN];
	EVP_MAC_CTX		*ctx;
	OSSL_PARAM		 params[2];
	unsigned char		 md[EVP_MAX_MD_SIZE];
	size_t			 mdlen = 0;
	int			 ok;

	memset(body, 'x', sizeof(body));
	if ((ctx = EVP_MAC_CTX_new(mac)) == NULL)
		return -1;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = EVP_MAC_init(ctx, (const unsigned char *)KEY, strlen(KEY),
	    params) && EVP_MAC_update(ctx, body, sizeof(body)) &&
	    EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) && mdlen == 32;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -1;
}

int
main(int argc, char *argv[])
{
	EVP_MAC		*mac;
	uint64_t	 flags = OPENSSL_INIT_LOAD_CONFIG;
	int		 rc;

	if (argc != 2) {
		fprintf(stderr, "usage: bench-sslinit "
		    "link|init|fetch|mac|mac-noconf\n");
		return 2;
	}
	if (strcmp(argv[1], "link") == 0)
		return 0;
	if (strcmp(argv[1], "mac-noconf") == 0)
		flags = OPENSSL_INIT_NO_LOAD_CONFIG;
	else if (strcmp(argv[1], "init") != 0 &&
	    strcmp(argv[1], "fetch") != 0 && strcmp(argv[1], "mac") != 0) {
		fprintf(stderr, "bench-sslinit: bad mode\n");
		return 2;
	}
	if (!OPENSSL_init_crypto(flags, NULL))
		return 1;
	if (strcmp(argv[1], "init") == 0)
		return 0;
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return 1;
	rc = 0;
	if (strcmp(argv[1], "fetch") != 0)
		rc = one_mac(mac) == 0 ? 0 : 1;
	EVP_MAC_free(mac);
	return rc;
}
