/*
 * The FastCGI floor of scripts/bench: the least a libfcgi application can
 * do for a webhook.  It accepts requests on fd 0 (a listening socket, as
 * spawn-fcgi hands it over), reads the whole body, and answers 200 with
 * stripehook's success body; no signature, no parsing, no log.  The
 * no-hook rows of stripehook run behind the same nginx location with the
 * same number of processes, so the difference is stripehook's own work.
 *
 *	spawn-fcgi -s SOCK -F N -- bench-fcgi-floor
 */
#include <stdio.h>

#include <fcgiapp.h>

#define ANSWER	"Status: 200 OK\r\n" \
		"Content-Type: application/json\r\n" \
		"\r\n" \
		"{\"received\":true}"

int
main(void)
{
	FCGX_Request	 req;
	char		 buf[65536];

	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0) {
		fprintf(stderr, "bench-fcgi-floor: cannot initialise libfcgi\n");
		return 1;
	}
	while (FCGX_Accept_r(&req) >= 0) {
		/* The body ends with the empty FCGI_STDIN record. */
		while (FCGX_GetStr(buf, (int)sizeof(buf), req.in) > 0)
			continue;
		FCGX_PutStr(ANSWER, (int)sizeof(ANSWER) - 1, req.out);
		FCGX_Finish_r(&req);
	}
	return 0;
}
