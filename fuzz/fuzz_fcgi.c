/*
 * Fuzz target: the FastCGI transport, through libfcgi, in memory.  The
 * input is the byte stream a web server would send on one connection
 * (FastCGI records: BEGIN_REQUEST, PARAMS, STDIN, possibly several
 * requests with FCGI_KEEP_CONN, or garbage).
 *
 * libfcgi's FCGX_Accept_r() wants a listening socket (it calls accept),
 * so a socketpair cannot stand in for the connection.  Instead the real
 * FastCGI app, fcgi_main(), runs in a thread on a unix listening socket
 * in a private temporary directory, with a configuration and secret file
 * written there at start (state_dir none, no hooks: nothing is ever
 * spawned).  Each input is one connection: the target writes the bytes,
 * shuts its side down (so a stalled body ends at once instead of after
 * the 30 s idle rule), and reads until the app closes the connection.
 * An app that never closes it is a hang: abort after FCGI_HANG seconds.
 * (Because of that shutdown, a request whose bytes all arrive in one
 * write while the connection stays open is not exercised here; that is
 * how web servers send small requests, and tests/hostile.sh covers it.)
 *
 * Known libfcgi defect, skipped so the fuzzer can go on: a name-value
 * pair whose 4-byte length is huge (in FCGI_GET_VALUES or PARAMS) makes
 * libfcgi's ReadParams compute a negative size, and its Malloc() asserts,
 * aborting the whole app (a peer that can write to the FastCGI socket can
 * kill a worker; see the fuzzing notes).  libfcgi_would_abort() finds
 * such inputs, conservatively.
 *
 * Coverage feedback comes from our code (fcgi.c, request.c and below);
 * libfcgi itself is not instrumented, but ASan's interceptors still watch
 * its memcpy/read calls.  Checks: no crash, the app answers or closes,
 * and nothing it writes contains the secret.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "stripehook.h"
#include "fuzz.h"

#define FUZZ_SECRET	"whsec_fuzz_fixed_secret_for_the_fcgi_target"
#define FCGI_HANG	20		/* seconds: the app must close by then */

static char		 tmpdir[256];
static char		 cfgpath[300], secpath[300], sockpath[300];
static pthread_t	 app;

static void
write_file(const char *path, const char *text)
{
	FILE	*f;
	int	 fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1 || (f = fdopen(fd, "w")) == NULL) {
		perror(path);
		abort();
	}
	fputs(text, f);
	if (fclose(f) != 0)
		abort();
}

static void
remove_tmpdir(void)
{
	unlink(sockpath);
	unlink(cfgpath);
	unlink(secpath);
	rmdir(tmpdir);
}

static void *
app_thread(void *arg)
{
	int	 fd = *(int *)arg;

	/* The app's signals are the main thread's business. */
	fcgi_main(fd, cfgpath);
	return NULL;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static int		 lfd;
	struct sockaddr_un	 sun;
	const char		*t = getenv("TMPDIR");
	char			 conf[1024];

	(void)argc;
	(void)argv;
	snprintf(tmpdir, sizeof(tmpdir), "%s/stripehook-fuzz.XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	snprintf(cfgpath, sizeof(cfgpath), "%s/stripehook.conf", tmpdir);
	snprintf(secpath, sizeof(secpath), "%s/secret", tmpdir);
	snprintf(sockpath, sizeof(sockpath), "%s/fcgi.sock", tmpdir);
	atexit(remove_tmpdir);
	write_file(secpath, FUZZ_SECRET "\n");
	snprintf(conf, sizeof(conf), "secret_file %s\nstate_dir none\n"
	    "max_body 65536\n", secpath);
	write_file(cfgpath, conf);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(sockpath) >= sizeof(sun.sun_path))
		abort();
	strcpy(sun.sun_path, sockpath);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(lfd, 16) == -1) {
		perror("listen");
		abort();
	}
	/* libfcgi may write to a peer that left: never die of SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (pthread_create(&app, NULL, app_thread, &lfd) != 0)
		abort();
	return 0;
}

#define FCGI_SANE_LEN	(1024 * 1024)	/* far below any int overflow */

/*
 * 1 when libfcgi could read a name or value length beyond FCGI_SANE_LEN
 * from this input.  Where libfcgi takes a length from depends on how it
 * frames records (padding, broken headers), so instead of modelling that,
 * every offset is tried: a 4-byte length is 4 input bytes with the high
 * bit set in the first, so an input without such 4 bytes of a huge value
 * cannot make libfcgi ask for a huge size.  Lengths up to 1 MiB (every
 * real parameter) still go through.
 */
static int
libfcgi_would_abort(const uint8_t *data, size_t size)
{
	size_t	 i;
	long	 v;

	for (i = 0; i + 4 <= size; i++) {
		if (data[i] < 0x80)
			continue;
		v = ((long)(data[i] & 0x7f) << 24) |
		    ((long)data[i + 1] << 16) | ((long)data[i + 2] << 8) |
		    data[i + 3];
		if (v > FCGI_SANE_LEN)
			return 1;
	}
	return 0;
}

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	struct sh_buf		 out;
	char			 buf[4096];
	size_t			 off = 0;
	ssize_t			 n;
	double			 deadline;
	int			 fd, wr_open = 1;

	if (libfcgi_would_abort(data, size))
		return 0;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, sockpath);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		abort();
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno != EAGAIN && errno != EINTR) {
			perror("connect");
			abort();
		}
		poll(NULL, 0, 1);
	}
	buf_init(&out);
	deadline = now() + FCGI_HANG;
	for (;;) {
		if (wr_open && off == size) {
			shutdown(fd, SHUT_WR);
			wr_open = 0;
		}
		pfd.fd = fd;
		pfd.events = POLLIN | (wr_open ? POLLOUT : 0);
		if (poll(&pfd, 1, 100) == -1 && errno != EINTR)
			abort();
		if (now() > deadline) {
			fprintf(stderr, "the FastCGI app kept the connection "
			    "open for %d s\n", FCGI_HANG);
			abort();
		}
		if (wr_open && (pfd.revents & (POLLOUT | POLLERR | POLLHUP))) {
			n = send(fd, data + off, size - off, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (n == -1 && errno != EAGAIN && errno != EINTR)
				wr_open = 0;	/* the app hung up early */
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(fd, buf, sizeof(buf), 0);
			if (n == 0 || (n == -1 && errno != EAGAIN &&
			    errno != EINTR))
				break;
			if (n > 0 && buf_append(&out, buf, (size_t)n) == -1)
				abort();
		}
	}
	FUZZ_ASSERT(out.len == 0 || memmem(out.p, out.len, FUZZ_SECRET,
	    sizeof(FUZZ_SECRET) - 1) == NULL);
	buf_free(&out);
	close(fd);
	return 0;
}
