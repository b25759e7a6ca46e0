/*
 * A growable byte buffer, always NUL-terminated after an append, and the
 * escaping used for everything from outside that reaches a log line.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "stripehook.h"

void
buf_init(struct sh_buf *b)
{
	b->p = NULL;
	b->len = b->cap = 0;
}

void
buf_free(struct sh_buf *b)
{
	if (b->p != NULL) {
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	buf_init(b);
}

void
buf_reset(struct sh_buf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

/* Makes room for n more bytes plus a NUL. */
static int
buf_grow(struct sh_buf *b, size_t n)
{
	size_t	 need, ncap;
	char	*np;

	if (n > SIZE_MAX - b->len - 1) {
		errno = ENOMEM;
		return -1;
	}
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap = (ncap > SIZE_MAX / 2) ? need : ncap * 2;
	if ((np = realloc(b->p, ncap)) == NULL)
		return -1;
	b->p = np;
	b->cap = ncap;
	return 0;
}

int
buf_append(struct sh_buf *b, const void *data, size_t n)
{
	if (buf_grow(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
buf_puts(struct sh_buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_printf(struct sh_buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_grow(b, (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* Lowercase, by hand: OpenSSL's hex helpers use colons or upper case. */
void
hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t	 i;

	for (i = 0; i < len; i++) {
		*out++ = hex[in[i] >> 4];
		*out++ = hex[in[i] & 0xf];
	}
	*out = '\0';
}

/* Escapes for a bare word (space too) or, quoted, for inside "..." */
static int
escape(struct sh_buf *b, const char *src, size_t len, int quoted)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t	 i;
	char	 e[5];

	/* Worst case four bytes out for each byte in. */
	if (len > (SIZE_MAX - 1) / 4 || buf_grow(b, len * 4) == -1)
		return -1;
	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '\\': buf_append(b, "\\\\", 2); continue;
		case '"':  buf_append(b, "\\\"", 2); continue;
		case '\n': buf_append(b, "\\n", 2);  continue;
		case '\r': buf_append(b, "\\r", 2);  continue;
		case '\t': buf_append(b, "\\t", 2);  continue;
		default:
			break;
		}
		if (s[i] < 0x20 || s[i] >= 0x7f || (s[i] == ' ' && !quoted)) {
			e[0] = '\\';
			e[1] = 'x';
			hex_encode(&s[i], 1, e + 2);
			buf_append(b, e, 4);
		} else
			buf_append(b, &s[i], 1);
	}
	return 0;
}

int
buf_escape(struct sh_buf *b, const char *src, size_t len)
{
	return escape(b, src, len, 0);
}

int
buf_qescape(struct sh_buf *b, const char *src, size_t len)
{
	return escape(b, src, len, 1);
}

int
parse_decimal(const char *s, long long min, long long max, long long *out)
{
	char		*end;
	long long	 v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return -1;
	if (errno == ERANGE || v < min || v > max)
		return -2;
	*out = v;
	return 0;
}

int
read_fd_all(int fd, struct sh_buf *b, size_t max)
{
	char	 tmp[65536];
	ssize_t	 n;

	for (;;) {
		n = read(fd, tmp, sizeof(tmp));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return 0;
		if ((size_t)n > max - b->len) {
			errno = EFBIG;
			return -1;
		}
		if (buf_append(b, tmp, (size_t)n) == -1)
			return -1;
	}
}
