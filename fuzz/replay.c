/*
 * Replays a fuzz target's corpus in an ordinary build: links with one
 * target and runs LLVMFuzzerTestOneInput over every file of the given
 * directories (or the given files), in name order, printing TAP: one line
 * per directory.  Without arguments it replays $top_srcdir/fuzz/corpus/NAME
 * (FUZZ_NAME, set when it is built for a target), which is how `make
 * check` runs it.  `make check` runs it in every build flavour (plain,
 * sanitizers, valgrind), so an input that once crashed, committed to the
 * corpus, stays fixed.  A crash or a broken invariant aborts the run,
 * which the test harness reports as a failure, after the name of the
 * input on stderr.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stripehook.h"
#include "fuzz.h"

#define REPLAY_MAX_INPUT	(1024 * 1024)	/* bytes of one input */

/* Runs the target on one file; 0, or -1 when it cannot be read. */
static int
replay_file(const char *path)
{
	struct sh_buf	 b;
	int		 fd, rc = -1;

	buf_init(&b);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		goto out;
	if (read_fd_all(fd, &b, REPLAY_MAX_INPUT) == -1)
		goto out;
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, b.len);
	/* An exact-size copy, so reads past the input are caught. */
	LLVMFuzzerTestOneInput((const uint8_t *)b.p, b.len);
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	buf_free(&b);
	return rc;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir; the count in *n.  -1 if unreadable. */
static int
replay_dir(const char *dir, size_t *n)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		**names = NULL, **nn, *path;
	size_t		 nnames = 0, i;
	int		 rc = 0;

	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&path, "%s/%s", dir, de->d_name) == -1) {
			rc = -1;
			break;
		}
		if (stat(path, &st) == -1 || !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		if ((nn = reallocarray(names, nnames + 1,
		    sizeof(*names))) == NULL) {
			free(path);
			rc = -1;
			break;
		}
		names = nn;
		names[nnames++] = path;
	}
	closedir(d);
	if (names != NULL)
		qsort(names, nnames, sizeof(*names), by_name);
	for (i = 0; i < nnames; i++) {
		if (rc == 0 && replay_file(names[i]) == -1) {
			fprintf(stderr, "replay: %s: %s\n", names[i],
			    strerror(errno));
			rc = -1;
		}
		if (rc == 0)
			(*n)++;
		free(names[i]);
	}
	free(names);
	return rc;
}

int
main(int argc, char *argv[])
{
	struct stat	 st;
	size_t		 n;
	int		 i, failed = 0;
	const char	*top;
	char		*dflt[3], *corpus = NULL;

	if (argc < 2) {
#ifdef FUZZ_NAME
		if ((top = getenv("top_srcdir")) == NULL || *top == '\0')
			top = ".";
		dflt[0] = argv[0];
		if (asprintf(&corpus, "%s/fuzz/corpus/%s", top,
		    FUZZ_NAME) == -1)
			return 2;
		dflt[1] = corpus;
		dflt[2] = NULL;
		argv = dflt;
		argc = 2;
#else
		(void)top;
		(void)dflt;
		(void)corpus;
		fprintf(stderr, "usage: %s corpus-dir|file ...\n", argv[0]);
		return 2;
#endif
	}
	LLVMFuzzerInitialize(&argc, &argv);
	printf("1..%d\n", argc - 1);
	fflush(stdout);
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISREG(st.st_mode)) {
			n = 1;
			if (replay_file(argv[i]) == -1) {
				printf("not ok %d - %s: %s\n", i, argv[i],
				    strerror(errno));
				failed = 1;
				continue;
			}
		} else if (replay_dir(argv[i], &n) == -1 || n == 0) {
			/* An empty or missing corpus is a mistake too. */
			printf("not ok %d - %s: %s\n", i, argv[i],
			    n == 0 ? "no inputs" : strerror(errno));
			failed = 1;
			fflush(stdout);
			continue;
		}
		printf("ok %d - %s: %zu inputs replayed\n", i, argv[i], n);
		fflush(stdout);
	}
	free(corpus);
	return failed;
}
