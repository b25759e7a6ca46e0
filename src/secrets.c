/*
 * The secret file (stripehook.conf(5) SECRET FILE): read with read(2),
 * never through stdio, refused when others can read it or anyone but its
 * owner can write it, one secret per line.  Every buffer that held a
 * secret is wiped.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "stripehook.h"

#define SECRET_FILE_MAX		65536		/* bytes of a secret file */
#define SECRET_PREFIX		"whsec_"

void
secrets_free(struct sh_secrets *s)
{
	size_t	 i;

	for (i = 0; i < s->n; i++) {
		OPENSSL_cleanse(s->v[i].buf, s->v[i].len);
		free(s->v[i].buf);
	}
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/*
 * Reads the whole secret file with read(2) into buf (SECRET_FILE_MAX + 1
 * bytes, so that a larger file shows).  Refuses a file that is not
 * regular, that others can read, or that anyone but its owner can write.
 * The bytes never pass through stdio.  0, or -1 after reporting.
 */
static int
read_secret_file(const char *path, unsigned char *buf, size_t *lenp,
    struct sh_diag *diag)
{
	struct stat	 st;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		diag_error(diag, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		diag_error(diag, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		diag_error(diag, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & S_IROTH) {
		diag_error(diag, "%s: others can read it", path);
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		diag_error(diag, "%s: group or others can write it", path);
		goto out;
	}
	for (;;) {
		n = read(fd, buf + len, SECRET_FILE_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			diag_error(diag, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > SECRET_FILE_MAX) {
			diag_error(diag, "%s: larger than %d bytes", path,
			    SECRET_FILE_MAX);
			goto out;
		}
	}
	*lenp = len;
	rc = 0;
 out:
	close(fd);
	return rc;
}

static int
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/*
 * stripehook.conf(5) SECRET FILE: one secret per line; a trailing CR and surrounding blanks are
 * stripped, blank lines skipped, no comments.  Refused when it holds no
 * secret or a secret holds whitespace or control bytes; a secret without
 * the whsec_ prefix is a warning.  Messages name the file and line, never
 * the secret.  On success *out holds the secrets (free with secrets_free);
 * on failure it is left empty.
 */
int
secrets_load(const char *path, struct sh_secrets *out, struct sh_diag *diag)
{
	struct sh_secrets s = { NULL, 0 };
	struct sh_secret *nv;
	unsigned char	*buf, *p, *e, *nl;
	size_t		 len = 0, i;
	unsigned	 line;
	int		 rc = -1, bad = 0;

	out->v = NULL;
	out->n = 0;
	if ((buf = malloc(SECRET_FILE_MAX + 1)) == NULL) {
		diag_error(diag, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (read_secret_file(path, buf, &len, diag) == -1)
		goto out;

	for (p = buf, line = 1; p < buf + len; p = nl + 1, line++) {
		if ((nl = memchr(p, '\n', (size_t)(buf + len - p))) == NULL)
			nl = buf + len;
		e = nl;
		if (e > p && e[-1] == '\r')
			e--;
		while (p < e && is_blank(*p))
			p++;
		while (e > p && is_blank(e[-1]))
			e--;
		if (p == e)
			continue;
		for (i = 0; p + i < e; i++)
			/* Printable ASCII only: a pasted non-breaking
			 * space or other non-ASCII byte is whitespace
			 * or garbage, never part of a Stripe secret. */
			if ((unsigned char)p[i] <= 0x20 ||
			    (unsigned char)p[i] >= 0x7f)
				break;
		if (p + i < e) {
			diag_error(diag, "%s:%u: secret holds whitespace, "
			    "control or non-ASCII bytes", path, line);
			bad = 1;
			continue;
		}
		if ((size_t)(e - p) < strlen(SECRET_PREFIX) ||
		    memcmp(p, SECRET_PREFIX, strlen(SECRET_PREFIX)) != 0)
			diag_warning(diag, "%s:%u: secret lacks the %s prefix",
			    path, line, SECRET_PREFIX);
		if ((nv = reallocarray(s.v, s.n + 1, sizeof(*nv))) == NULL) {
			diag_error(diag, "%s: %s", path, strerror(errno));
			goto out;
		}
		s.v = nv;
		/* One more byte for a NUL, so a careless %s stops there. */
		if ((s.v[s.n].buf = malloc((size_t)(e - p) + 1)) == NULL) {
			diag_error(diag, "%s: %s", path, strerror(errno));
			goto out;
		}
		memcpy(s.v[s.n].buf, p, (size_t)(e - p));
		s.v[s.n].buf[e - p] = '\0';
		s.v[s.n++].len = (size_t)(e - p);
	}
	if (bad)
		goto out;
	if (s.n == 0) {
		diag_error(diag, "%s: holds no secret", path);
		goto out;
	}
	*out = s;
	s.v = NULL;
	s.n = 0;
	rc = 0;
 out:
	secrets_free(&s);
	OPENSSL_cleanse(buf, SECRET_FILE_MAX + 1);
	free(buf);
	return rc;
}

/* Loads cfg->secret_file.  On success the old secrets are wiped and
 * replaced; on failure cfg->secrets is left as it was. */
int
config_load_secrets(struct sh_config *cfg, struct sh_diag *diag)
{
	struct sh_secrets s;

	if (cfg->secret_file == NULL) {
		diag_error(diag, "%s: secret_file is required", cfg->path);
		return -1;
	}
	if (secrets_load(cfg->secret_file, &s, diag) == -1)
		return -1;
	secrets_free(&cfg->secrets);
	cfg->secrets = s;
	return 0;
}
