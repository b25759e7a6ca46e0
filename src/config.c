/*
 * The configuration file (stripehook.conf(5)) and where it is found
 * (stripehook(8) DESCRIPTION); the secret file is read by secrets.c.
 * Loading never stops at the first error: every error is collected, with
 * file and line, so that "stripehook check" can print them all.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stripehook.h"

#define CONFIG_DEFAULT_PATH	SH_SYSCONFDIR "/stripehook.conf"
#define STATE_DIR_DEFAULT	SH_LOCALSTATEDIR "/lib/stripehook"
#define CONFIG_FILE_MAX		1048576		/* bytes of the configuration */
#define STRIPE_DEADLINE		30		/* seconds Stripe waits */
#define LIMIT_CPU_MAX		86400		/* hook_limits cpu=, seconds */
#define LIMIT_FILES_MAX		1048576		/* hook_limits files= */
#define LIMIT_FSIZE_MAX		1099511627776LL	/* hook_limits fsize=, bytes */
#define ENV_RESERVED_PREFIX	"STRIPE_"

/* ---- Diagnostics ---- */

__attribute__((format(printf, 3, 0)))
static void
diag_add(char ***v, size_t *n, const char *fmt, va_list ap)
{
	char	**nv, *msg;

	/* Out of memory loses the message; config_load still fails, since
	 * it counts its errors itself. */
	if (vasprintf(&msg, fmt, ap) == -1)
		return;
	if ((nv = reallocarray(*v, *n + 1, sizeof(*nv))) == NULL) {
		free(msg);
		return;
	}
	nv[(*n)++] = msg;
	*v = nv;
}

void
diag_error(struct sh_diag *d, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	diag_add(&d->errors, &d->nerrors, fmt, ap);
	va_end(ap);
}

void
diag_warning(struct sh_diag *d, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	diag_add(&d->warnings, &d->nwarnings, fmt, ap);
	va_end(ap);
}

void
diag_free(struct sh_diag *d)
{
	size_t	 i;

	for (i = 0; i < d->nerrors; i++)
		free(d->errors[i]);
	for (i = 0; i < d->nwarnings; i++)
		free(d->warnings[i]);
	free(d->errors);
	free(d->warnings);
	memset(d, 0, sizeof(*d));
}

/* ---- Where the configuration is (stripehook(8) DESCRIPTION) ---- */

/* $STRIPEHOOK_CONFIG (empty counts as unset), else the compiled-in path.
 * The result points into the environment or is static: copy it before
 * the environment changes. */
const char *
config_default_path(void)
{
	const char	*s;

	if ((s = getenv("STRIPEHOOK_CONFIG")) != NULL && *s != '\0')
		return s;
	return CONFIG_DEFAULT_PATH;
}

/* ---- The configuration file (stripehook.conf(5)) ---- */

struct parser {
	const char	 *path;
	struct sh_diag	 *diag;
	struct sh_config *cfg;
	unsigned	  nerr;		/* errors, even those diag lost */
	unsigned	 *seen;		/* per keyword: its first line */
	size_t		  hookcap;	/* slots allocated in cfg->hooks */
	char		**env;		/* env lines in file order */
	unsigned	 *envline;
	size_t		  nenv;
};

__attribute__((format(printf, 3, 4)))
static void
perr(struct parser *p, unsigned line, const char *fmt, ...)
{
	char	 msg[SH_CONFIG_LINE_MAX + 256];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->nerr++;
	if (line > 0)
		diag_error(p->diag, "%s:%u: %s", p->path, line, msg);
	else
		diag_error(p->diag, "%s: %s", p->path, msg);
}

static char *
pstrdup(struct parser *p, unsigned line, const char *s)
{
	char	*r;

	if ((r = strdup(s)) == NULL)
		perr(p, line, "%s", strerror(errno));
	return r;
}

/*
 * A decimal number from the file: digits only (no sign, no blank), no
 * overflow, within min..max.  0, or -1 after reporting.
 */
static int
pnum(struct parser *p, unsigned line, const char *what, const char *s,
    long long min, long long max, long long *out)
{
	switch (parse_decimal(s, min, max, out)) {
	case 0:
		return 0;
	case -1:
		perr(p, line, "%s: \"%s\" is not a number", what, s);
		return -1;
	default:
		perr(p, line, "%s: %s is outside %lld-%lld", what, s, min, max);
		return -1;
	}
}

/* stripehook.conf(5): "Every path must be absolute". */
static int
ppath(struct parser *p, unsigned line, const char *what, const char *s,
    char **out)
{
	if (s[0] != '/') {
		perr(p, line, "%s: %s is not an absolute path", what, s);
		return -1;
	}
	return (*out = pstrdup(p, line, s)) == NULL ? -1 : 0;
}

/*
 * The keys whose value is one decimal in a range, and where it goes: one
 * table, one setter (key_number).
 */
enum numtype { NUM_LONG, NUM_SIZE, NUM_INT };
static const struct numkey {
	const char	*name;
	long long	 min, max;
	size_t		 off;		/* in struct sh_config */
	enum numtype	 type;
} numkeys[] = {
	{ "tolerance", 1, SH_MAX_TOLERANCE,
	    offsetof(struct sh_config, tolerance), NUM_LONG },
	{ "max_body", 1, SH_MAX_MAX_BODY,
	    offsetof(struct sh_config, max_body), NUM_SIZE },
	{ "hook_timeout", 1, SH_MAX_HOOK_TIMEOUT,
	    offsetof(struct sh_config, hook_timeout), NUM_LONG },
	{ "state_ttl", SH_MIN_STATE_TTL, SH_MAX_STATE_TTL,
	    offsetof(struct sh_config, state_ttl), NUM_LONG },
	{ "retry_min", 1, SH_MAX_RETRY_MIN,
	    offsetof(struct sh_config, retry_min), NUM_LONG },
	{ "retry_max", 1, SH_MAX_RETRY_MAX,
	    offsetof(struct sh_config, retry_max), NUM_LONG },
	{ "retry_for", SH_MIN_RETRY_FOR, SH_MAX_RETRY_FOR,
	    offsetof(struct sh_config, retry_for), NUM_LONG },
	{ "runners", 1, SH_MAX_RUNNERS,
	    offsetof(struct sh_config, runners), NUM_INT },
	{ "database_timeout", 1, SH_MAX_DB_TIMEOUT,
	    offsetof(struct sh_config, database_timeout), NUM_LONG },
};

/* Sets av[0], a key of numkeys, to av[1]; 0 with *out set, or -1
 * (reported). */
static int
key_number(struct parser *p, unsigned line, char **av, long long *out)
{
	const struct numkey	*k;
	char			*field;
	size_t			 i;

	for (i = 0; i < sizeof(numkeys) / sizeof(numkeys[0]); i++)
		if (strcmp(numkeys[i].name, av[0]) == 0)
			break;
	if (i == sizeof(numkeys) / sizeof(numkeys[0]))
		abort();		/* the keyword table names no other */
	k = &numkeys[i];
	if (pnum(p, line, av[0], av[1], k->min, k->max, out) == -1)
		return -1;
	field = (char *)p->cfg + k->off;
	switch (k->type) {
	case NUM_LONG:
		*(long *)(void *)field = (long)*out;
		break;
	case NUM_SIZE:
		*(size_t *)(void *)field = (size_t)*out;
		break;
	case NUM_INT:
		*(int *)(void *)field = (int)*out;
		break;
	}
	return 0;
}

/* The keyword table's setter for the keys of numkeys. */
static void
key_numeric(struct parser *p, unsigned line, char **av, size_t ac)
{
	long long	 v;

	(void)ac;
	(void)key_number(p, line, av, &v);
}

static void
key_secret_file(struct parser *p, unsigned line, char **av, size_t ac)
{
	(void)ac;
	ppath(p, line, av[0], av[1], &p->cfg->secret_file);
}

/* hook_limits cpu=SECONDS files=N fsize=BYTES, any subset, each once. */
static void
key_hook_limits(struct parser *p, unsigned line, char **av, size_t ac)
{
	static const struct {
		const char	*name;
		long long	 max;
	} lim[] = {
		{ "cpu", LIMIT_CPU_MAX },
		{ "files", LIMIT_FILES_MAX },
		{ "fsize", LIMIT_FSIZE_MAX },
	};
	struct sh_config *cfg = p->cfg;
	long long	 v;
	size_t		 i, j, nlen;
	char		*eq, what[32];
	int		 given[3] = { 0, 0, 0 };

	for (i = 1; i < ac; i++) {
		if ((eq = strchr(av[i], '=')) == NULL)
			goto bad;
		nlen = (size_t)(eq - av[i]);
		for (j = 0; j < 3; j++)
			if (strlen(lim[j].name) == nlen &&
			    strncmp(av[i], lim[j].name, nlen) == 0)
				break;
		if (j == 3)
			goto bad;
		if (given[j]++) {
			perr(p, line, "hook_limits: %s given twice",
			    lim[j].name);
			continue;
		}
		snprintf(what, sizeof(what), "hook_limits %s", lim[j].name);
		if (pnum(p, line, what, eq + 1, 1, lim[j].max, &v) == -1)
			continue;
		switch (j) {
		case 0:
			cfg->limit_cpu = (long)v;
			break;
		case 1:
			cfg->limit_files = (long)v;
			break;
		default:
			cfg->limit_fsize = v;
			break;
		}
		continue;
 bad:
		perr(p, line, "hook_limits: \"%s\" is not cpu=SECONDS, "
		    "files=N or fsize=BYTES", av[i]);
	}
}

static void
key_state_dir(struct parser *p, unsigned line, char **av, size_t ac)
{
	(void)ac;
	free(p->cfg->state_dir);	/* the default */
	p->cfg->state_dir = NULL;
	if (strcmp(av[1], "none") == 0) {
		diag_warning(p->diag, "%s:%u: state_dir none: "
		    "de-duplication is off", p->path, line);
		return;
	}
	ppath(p, line, av[0], av[1], &p->cfg->state_dir);
}

static void
key_state_ttl(struct parser *p, unsigned line, char **av, size_t ac)
{
	long long	 v;

	(void)ac;
	if (key_number(p, line, av, &v) == 0 && v < SH_WARN_STATE_TTL)
		diag_warning(p->diag, "%s:%u: state_ttl %lld days is under "
		    "%d: Dashboard resends reach 15 days, CLI resends 30",
		    p->path, line, v, SH_WARN_STATE_TTL);
}

static void
key_livemode(struct parser *p, unsigned line, char **av, size_t ac)
{
	(void)ac;
	if (strcmp(av[1], "live") == 0)
		p->cfg->livemode = SH_LIVEMODE_LIVE;
	else if (strcmp(av[1], "test") == 0)
		p->cfg->livemode = SH_LIVEMODE_TEST;
	else if (strcmp(av[1], "any") == 0)
		p->cfg->livemode = SH_LIVEMODE_ANY;
	else
		perr(p, line, "livemode: \"%s\" is not live, test or any",
		    av[1]);
}

static void
key_log(struct parser *p, unsigned line, char **av, size_t ac)
{
	(void)ac;
	if (strcmp(av[1], "stderr") == 0)
		p->cfg->log_syslog = 0;
	else if (strcmp(av[1], "syslog") == 0)
		p->cfg->log_syslog = 1;
	else
		perr(p, line, "log: \"%s\" is not stderr or syslog", av[1]);
}

static void
key_user(struct parser *p, unsigned line, char **av, size_t ac)
{
	(void)ac;
	p->cfg->user = pstrdup(p, line, av[1]);
}

static int
env_name_valid(const char *s, size_t len)
{
	size_t	 i;
	char	 c;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		c = s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    c == '_' || (i > 0 && c >= '0' && c <= '9'))
			continue;
		return 0;
	}
	return 1;
}

/* env NAME=VALUE (stripehook.conf(5), stripehook(8) HOOKS).  The value is the rest of the word and may
 * be empty; STRIPE_* belongs to stripehook; PATH replaces the default. */
static void
key_env(struct parser *p, unsigned line, char **av, size_t ac)
{
	char		**nenv, *eq, *kv;
	unsigned	 *nline;
	size_t		  i, nlen;

	(void)ac;
	if ((eq = strchr(av[1], '=')) == NULL) {
		perr(p, line, "env: \"%s\" is not NAME=VALUE", av[1]);
		return;
	}
	nlen = (size_t)(eq - av[1]);
	if (!env_name_valid(av[1], nlen)) {
		perr(p, line, "env: \"%.*s\" is not a valid name", (int)nlen,
		    av[1]);
		return;
	}
	if (strncmp(av[1], ENV_RESERVED_PREFIX,
	    strlen(ENV_RESERVED_PREFIX)) == 0) {
		perr(p, line, "env: %.*s: STRIPE_* names are reserved",
		    (int)nlen, av[1]);
		return;
	}
	for (i = 0; i < p->nenv; i++)
		if (strncmp(p->env[i], av[1], nlen + 1) == 0) {
			perr(p, line, "env %.*s given twice (first on line %u)",
			    (int)nlen, av[1], p->envline[i]);
			return;
		}
	if ((kv = pstrdup(p, line, av[1])) == NULL)
		return;
	nenv = reallocarray(p->env, p->nenv + 1, sizeof(*nenv));
	if (nenv != NULL)
		p->env = nenv;
	nline = reallocarray(p->envline, p->nenv + 1, sizeof(*nline));
	if (nline != NULL)
		p->envline = nline;
	if (nenv == NULL || nline == NULL) {
		perr(p, line, "%s", strerror(errno));
		free(kv);
		return;
	}
	p->env[p->nenv] = kv;
	p->envline[p->nenv++] = line;
}

/* A pattern is a type (the alphabet of "invalid event type") with '*'. */
static int
pattern_valid(const char *s)
{
	size_t	 i, len = strlen(s);
	char	 c;

	if (len == 0 || len > SH_TYPE_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '[' || c == ']' || c == '*')
			continue;
		return 0;
	}
	return 1;
}

static void
hook_clear(struct sh_hook *h)
{
	size_t	 i;

	if (h->argv != NULL)
		for (i = 0; h->argv[i] != NULL; i++)
			free(h->argv[i]);
	free(h->argv);
	free(h->pattern);
	free(h->identity);
	memset(h, 0, sizeof(*h));
}

/*
 * on PATTERN PROGRAM [ARG...] (stripehook(8) HOOKS).  The identity is the line's words,
 * "on" included, joined by single spaces; two identical ones are an error.
 */
static void
key_on(struct parser *p, unsigned line, char **av, size_t ac)
{
	struct sh_config *cfg = p->cfg;
	struct sh_hook	 h, *nh;
	struct sh_buf	 id;
	size_t		 i, n;
	int		 bad = 0;

	if (!pattern_valid(av[1])) {
		perr(p, line, "on: \"%s\" is not a pattern (1-%d characters "
		    "of a-z 0-9 _ . [ ] *)", av[1], SH_TYPE_MAX);
		bad = 1;
	}
	if (av[2][0] != '/') {
		perr(p, line, "on: %s is not an absolute path", av[2]);
		bad = 1;
	}
	if (bad)
		return;

	buf_init(&id);
	for (i = 0; i < ac; i++)
		if ((i > 0 && buf_puts(&id, " ") == -1) ||
		    buf_puts(&id, av[i]) == -1) {
			perr(p, line, "%s", strerror(errno));
			buf_free(&id);
			return;
		}
	memset(&h, 0, sizeof(h));
	h.line = line;
	h.identity = id.p;	/* taken over from the buffer */
	if ((h.pattern = pstrdup(p, line, av[1])) == NULL)
		goto fail;
	/* ac - 2 words from the program on, plus the NULL. */
	if ((h.argv = calloc(ac - 1, sizeof(*h.argv))) == NULL) {
		perr(p, line, "%s", strerror(errno));
		goto fail;
	}
	for (i = 2; i < ac; i++)
		if ((h.argv[i - 2] = pstrdup(p, line, av[i])) == NULL)
			goto fail;
	/* Grown by doubling: loading stays linear in the on lines. */
	if (cfg->nhooks == p->hookcap) {
		n = p->hookcap ? p->hookcap * 2 : 8;
		if ((nh = reallocarray(cfg->hooks, n, sizeof(*nh))) == NULL) {
			perr(p, line, "%s", strerror(errno));
			goto fail;
		}
		cfg->hooks = nh;
		p->hookcap = n;
	}
	cfg->hooks[cfg->nhooks++] = h;
	return;
 fail:
	hook_clear(&h);
}


/* ---- ack receipt: ack, retry_*, runners, on_failure (stripehook.conf(5)) */

static void
key_ack(struct parser *p, unsigned line, char **av, size_t ac)
{
	(void)ac;
	if (strcmp(av[1], "hooks") == 0)
		p->cfg->ack = SH_ACK_HOOKS;
	else if (strcmp(av[1], "receipt") == 0)
		p->cfg->ack = SH_ACK_RECEIPT;
	else
		perr(p, line, "ack: \"%s\" is not hooks or receipt", av[1]);
}

/* on_failure PROGRAM [ARG...]: run as a hook is; its identity is the
 * line's words joined by single spaces. */
static void
key_on_failure(struct parser *p, unsigned line, char **av, size_t ac)
{
	struct sh_hook	*h;
	struct sh_buf	 id;
	size_t		 i;

	if (av[1][0] != '/') {
		perr(p, line, "on_failure: %s is not an absolute path", av[1]);
		return;
	}
	buf_init(&id);
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->argv = calloc(ac, sizeof(*h->argv))) == NULL)
		goto fail;
	for (i = 0; i < ac; i++)
		if ((i > 0 && buf_puts(&id, " ") == -1) ||
		    buf_puts(&id, av[i]) == -1)
			goto fail;
	for (i = 1; i < ac; i++)
		if ((h->argv[i - 1] = strdup(av[i])) == NULL)
			goto fail;
	h->identity = id.p;	/* taken over from the buffer */
	h->line = line;
	p->cfg->on_failure = h;
	return;
 fail:
	perr(p, line, "%s", strerror(errno));
	buf_free(&id);
	if (h != NULL)
		hook_clear(h);
	free(h);
}

/* database CONNINFO: a URI or key=value words (joined by single spaces,
 * as the line splits them); never repeated in a message (it may hold a
 * password, which is refused). */
static void
key_database(struct parser *p, unsigned line, char **av, size_t ac)
{
	struct sh_buf	 b;
	const char	*why;
	size_t		 i;

	buf_init(&b);
	for (i = 1; i < ac; i++)
		if ((i > 1 && buf_puts(&b, " ") == -1) ||
		    buf_puts(&b, av[i]) == -1) {
			perr(p, line, "%s", strerror(errno));
			goto out;
		}
	if ((why = pg_conninfo_problem(b.p)) != NULL) {
		perr(p, line, "database: %s", why);
		goto out;
	}
	p->cfg->database = b.p;		/* taken over from the buffer */
	buf_init(&b);
out:
	buf_free(&b);
}

static int
hook_cmp(const void *a, const void *b)
{
	const struct sh_hook *x = *(const struct sh_hook * const *)a;
	const struct sh_hook *y = *(const struct sh_hook * const *)b;
	int		 c;

	if ((c = strcmp(x->identity, y->identity)) != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * stripehook.conf(5): two identical on lines are an error, reported on
 * the later line.  Sorted, so that loading stays O(n log n) in the on
 * lines (a pairwise check took seconds for 20,000 of them).
 */
static void
check_identical_hooks(struct parser *p)
{
	struct sh_config *cfg = p->cfg;
	struct sh_hook	**v;
	size_t		  i, first = 0;

	if (cfg->nhooks < 2)
		return;
	if ((v = calloc(cfg->nhooks, sizeof(*v))) == NULL) {
		perr(p, 0, "%s", strerror(errno));
		return;
	}
	for (i = 0; i < cfg->nhooks; i++)
		v[i] = &cfg->hooks[i];
	qsort(v, cfg->nhooks, sizeof(*v), hook_cmp);
	for (i = 1; i < cfg->nhooks; i++) {
		if (strcmp(v[i]->identity, v[first]->identity) != 0) {
			first = i;
			continue;
		}
		perr(p, v[i]->line, "on line identical to line %u",
		    v[first]->line);
	}
	free(v);
}

static const struct keyword {
	const char	*name;
	int		 once;		/* single-value key: at most one line */
	size_t		 minv, maxv;	/* number of values after the key */
	const char	*usage;
	void		(*fn)(struct parser *, unsigned, char **, size_t);
} keywords[] = {
	{ "secret_file", 1, 1, 1, "secret_file PATH", key_secret_file },
	{ "tolerance", 1, 1, 1, "tolerance SECONDS", key_numeric },
	{ "max_body", 1, 1, 1, "max_body BYTES", key_numeric },
	{ "hook_timeout", 1, 1, 1, "hook_timeout SECONDS", key_numeric },
	{ "hook_limits", 1, 1, 3,
	    "hook_limits [cpu=SECONDS] [files=N] [fsize=BYTES]",
	    key_hook_limits },
	{ "state_dir", 1, 1, 1, "state_dir PATH|none", key_state_dir },
	{ "state_ttl", 1, 1, 1, "state_ttl DAYS", key_state_ttl },
	{ "livemode", 1, 1, 1, "livemode live|test|any", key_livemode },
	{ "log", 1, 1, 1, "log stderr|syslog", key_log },
	{ "user", 1, 1, 1, "user NAME", key_user },
	{ "env", 0, 1, 1, "env NAME=VALUE", key_env },
	{ "on", 0, 2, (size_t)-1, "on PATTERN PROGRAM [ARG...]", key_on },
	{ "ack", 1, 1, 1, "ack hooks|receipt", key_ack },
	{ "retry_min", 1, 1, 1, "retry_min SECONDS", key_numeric },
	{ "retry_max", 1, 1, 1, "retry_max SECONDS", key_numeric },
	{ "retry_for", 1, 1, 1, "retry_for SECONDS", key_numeric },
	{ "runners", 1, 1, 1, "runners N", key_numeric },
	{ "database", 1, 1, (size_t)-1, "database CONNINFO", key_database },
	{ "database_timeout", 1, 1, 1, "database_timeout SECONDS",
	    key_numeric },
	{ "on_failure", 1, 1, (size_t)-1, "on_failure PROGRAM [ARG...]",
	    key_on_failure },
};
#define NKEYWORDS	(sizeof(keywords) / sizeof(keywords[0]))

static size_t
keyword_index(const char *name)
{
	size_t	 i;

	for (i = 0; i < NKEYWORDS; i++)
		if (strcmp(keywords[i].name, name) == 0)
			break;
	return i;
}

/*
 * One line, without its LF and its trailing CR.  Words are split
 * on spaces and tabs, '#' at the start of a word starts a comment (so
 * "a#b" is one word), no quoting, escaping or expansion, and any control
 * byte but tab is an error.
 */
static void
parse_line(struct parser *p, unsigned line, const char *s, size_t len)
{
	char		 copy[SH_CONFIG_LINE_MAX + 1];
	char		*av[SH_CONFIG_LINE_MAX / 2 + 1];
	const struct keyword *kw;
	size_t		 i, ac = 0;
	unsigned char	 c;

	if (len > SH_CONFIG_LINE_MAX) {
		perr(p, line, "line longer than %d bytes", SH_CONFIG_LINE_MAX);
		return;
	}
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			perr(p, line, "control byte 0x%02x", c);
			return;
		}
	}
	memcpy(copy, s, len);
	copy[len] = '\0';

	for (i = 0; i < len; ) {
		if (copy[i] == ' ' || copy[i] == '\t') {
			copy[i++] = '\0';
			continue;
		}
		if (copy[i] == '#')
			break;
		av[ac++] = &copy[i];
		while (i < len && copy[i] != ' ' && copy[i] != '\t')
			i++;
	}
	if (ac == 0)
		return;
	av[ac] = NULL;

	for (kw = keywords; kw < keywords + NKEYWORDS; kw++)
		if (strcmp(kw->name, av[0]) == 0)
			break;
	if (kw == keywords + NKEYWORDS) {
		perr(p, line, "unknown key \"%s\"", av[0]);
		return;
	}
	if (kw->once) {
		unsigned *first = &p->seen[kw - keywords];

		if (*first != 0) {
			perr(p, line, "%s given twice (first on line %u)",
			    kw->name, *first);
			return;
		}
		*first = line;
	}
	if (ac - 1 < kw->minv) {
		perr(p, line, "%s: missing value (%s)", kw->name, kw->usage);
		return;
	}
	if (ac - 1 > kw->maxv) {
		perr(p, line, "%s: too many values (%s)", kw->name, kw->usage);
		return;
	}
	kw->fn(p, line, av, ac);
}

/* cfg->env: exactly one PATH entry (an env PATH= line or the default of
 * stripehook(8) HOOKS), then the other env lines in file order, then NULL. */
static int
build_env(struct parser *p)
{
	struct sh_config *cfg = p->cfg;
	size_t		  i, n = 1;
	char		 *path = NULL;

	for (i = 0; i < p->nenv; i++)
		if (strncmp(p->env[i], "PATH=", 5) == 0)
			path = p->env[i];
	if ((cfg->env = calloc(p->nenv + 2, sizeof(*cfg->env))) == NULL)
		return -1;
	if (path == NULL) {
		if ((cfg->env[0] = strdup("PATH=" SH_DEFAULT_PATH)) == NULL)
			return -1;
	} else
		cfg->env[0] = path;
	for (i = 0; i < p->nenv; i++)
		if (p->env[i] != path)
			cfg->env[n++] = p->env[i];
	cfg->nenv = n;
	/* Every string now belongs to cfg->env. */
	p->nenv = 0;
	return 0;
}

/* Reads the file, refusing one that group or others can write.
 * 0, or -1 after reporting. */
static int
read_config(struct parser *p, struct sh_buf *b)
{
	struct stat	 st;
	int		 fd, rc = -1;

	/* O_NONBLOCK: a FIFO in place of the file must not hang us. */
	if ((fd = open(p->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		perr(p, 0, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		perr(p, 0, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		perr(p, 0, "not a regular file");
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		perr(p, 0, "group or others can write it");
		goto out;
	}
	if (read_fd_all(fd, b, CONFIG_FILE_MAX) == -1) {
		if (errno == EFBIG)
			perr(p, 0, "larger than %d bytes", CONFIG_FILE_MAX);
		else
			perr(p, 0, "%s", strerror(errno));
		goto out;
	}
	rc = 0;
 out:
	close(fd);
	return rc;
}

/* With database, the records are there: state_dir absent or none. */
static void
check_database(struct parser *p)
{
	struct sh_config *cfg = p->cfg;
	struct sh_diag	 *d = p->diag;
	unsigned	  sd_line = p->seen[keyword_index("state_dir")];
	size_t		  i, k;

	if (cfg->database == NULL)
		return;
	if (sd_line != 0 && cfg->state_dir != NULL)
		perr(p, sd_line, "state_dir: with database, state_dir must be "
		    "absent or none");
	free(cfg->state_dir);
	cfg->state_dir = NULL;
	/* "state_dir none" warns that de-duplication is off: not so here. */
	for (i = k = 0; i < d->nwarnings; i++)
		if (strstr(d->warnings[i], "state_dir none") != NULL)
			free(d->warnings[i]);
		else
			d->warnings[k++] = d->warnings[i];
	d->nwarnings = k;
}

/* The keys of ack receipt that depend on others. */
static void
check_receipt(struct parser *p)
{
	struct sh_config *cfg = p->cfg;
	unsigned	  ack_line = p->seen[keyword_index("ack")];
	unsigned	  max_line = p->seen[keyword_index("retry_max")];

	if (cfg->ack == SH_ACK_RECEIPT && !records_on(cfg) && ack_line != 0)
		perr(p, ack_line, "ack receipt needs records: state_dir "
		    "must not be none");
	if (cfg->retry_max == -1)
		/* Unset: the default, or retry_min when that is larger. */
		cfg->retry_max = cfg->retry_min > SH_DEFAULT_RETRY_MAX ?
		    cfg->retry_min : SH_DEFAULT_RETRY_MAX;
	else if (cfg->retry_max < cfg->retry_min && max_line != 0)
		perr(p, max_line, "retry_max %ld is under retry_min %ld",
		    cfg->retry_max, cfg->retry_min);
}

/*
 * stripehook.conf(5).  Returns the configuration (the caller frees it with
 * config_free) or NULL with every error found in diag.
 */
struct sh_config *
config_load(const char *path, struct sh_diag *diag)
{
	struct parser	 p;
	struct sh_config *cfg = NULL;
	struct sh_buf	 b;
	unsigned	 seen[NKEYWORDS], line;
	size_t		 i, off, end, len;

	memset(&p, 0, sizeof(p));
	memset(seen, 0, sizeof(seen));
	p.path = path;
	p.diag = diag;
	p.seen = seen;
	buf_init(&b);

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		perr(&p, 0, "%s", strerror(errno));
		goto out;
	}
	p.cfg = cfg;
	cfg->tolerance = SH_DEFAULT_TOLERANCE;
	cfg->max_body = SH_DEFAULT_MAX_BODY;
	cfg->hook_timeout = SH_DEFAULT_HOOK_TIMEOUT;
	cfg->limit_cpu = cfg->limit_files = -1;
	cfg->limit_fsize = -1;
	cfg->state_ttl = SH_DEFAULT_STATE_TTL;
	cfg->livemode = SH_LIVEMODE_ANY;
	cfg->ack = SH_ACK_HOOKS;
	cfg->retry_min = SH_DEFAULT_RETRY_MIN;
	cfg->retry_max = -1;		/* default below */
	cfg->retry_for = SH_DEFAULT_RETRY_FOR;
	cfg->runners = SH_DEFAULT_RUNNERS;
	cfg->database_timeout = SH_DEFAULT_DB_TIMEOUT;
	if ((cfg->path = strdup(path)) == NULL ||
	    (cfg->state_dir = strdup(STATE_DIR_DEFAULT)) == NULL) {
		perr(&p, 0, "%s", strerror(errno));
		goto out;
	}

	if (read_config(&p, &b) == -1)
		goto out;
	/* An editor's byte order mark would read as part of the first key. */
	if (b.len >= 3 && memcmp(b.p, "\357\273\277", 3) == 0) {
		perr(&p, 1, "starts with a UTF-8 byte order mark (EF BB BF): "
		    "save the file without it");
		goto out;
	}

	for (off = 0, line = 1; off < b.len; off = end + 1, line++) {
		const char *nl = memchr(b.p + off, '\n', b.len - off);

		end = nl != NULL ? (size_t)(nl - b.p) : b.len;
		len = end - off;
		if (len > 0 && b.p[off + len - 1] == '\r')	/* CRLF */
			len--;
		parse_line(&p, line, b.p + off, len);
	}

	check_identical_hooks(&p);
	/* keywords[0] is secret_file; a bad one was reported already. */
	if (cfg->secret_file == NULL && p.seen[0] == 0)
		perr(&p, 0, "secret_file is required");
	check_database(&p);
	check_receipt(&p);
	if (p.nerr == 0 && build_env(&p) == -1)
		perr(&p, 0, "%s", strerror(errno));
	/* Under ack receipt no hook runs inside a request. */
	if (p.nerr == 0 && cfg->nhooks > 0 && cfg->ack == SH_ACK_HOOKS &&
	    (long long)cfg->nhooks * cfg->hook_timeout > STRIPE_DEADLINE)
		diag_warning(diag, "%s: %zu hooks x hook_timeout %ld s can "
		    "exceed Stripe's %d s delivery timeout", path,
		    cfg->nhooks, cfg->hook_timeout, STRIPE_DEADLINE);

 out:
	for (i = 0; i < p.nenv; i++)
		free(p.env[i]);
	free(p.env);
	free(p.envline);
	buf_free(&b);
	if (p.nerr > 0) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

void
config_free(struct sh_config *cfg)
{
	size_t	 i;

	if (cfg == NULL)
		return;
	secrets_free(&cfg->secrets);
	for (i = 0; i < cfg->nhooks; i++)
		hook_clear(&cfg->hooks[i]);
	free(cfg->hooks);
	if (cfg->on_failure != NULL) {
		hook_clear(cfg->on_failure);
		free(cfg->on_failure);
	}
	if (cfg->env != NULL)
		for (i = 0; cfg->env[i] != NULL; i++)
			free(cfg->env[i]);
	free(cfg->env);
	free(cfg->user);
	free(cfg->state_dir);
	free(cfg->database);
	free(cfg->secret_file);
	free(cfg->path);
	free(cfg);
}

void
diag_print(const struct sh_diag *d, int flags)
{
	size_t	 i;

	for (i = 0; i < d->nerrors; i++) {
		if (flags & SH_LOAD_LOG)
			log_warnx("%s", d->errors[i]);
		else
			fprintf(stderr, "%s\n", d->errors[i]);
	}
	if (!(flags & SH_LOAD_WARNINGS))
		return;
	for (i = 0; i < d->nwarnings; i++) {
		if (flags & SH_LOAD_LOG)
			log_warnx("warning: %s", d->warnings[i]);
		else
			fprintf(stderr, "warning: %s\n", d->warnings[i]);
	}
}

struct sh_config *
config_load_diag(const char *path, int flags, struct sh_diag *d)
{
	struct sh_config *cfg;

	if (path == NULL)
		path = config_default_path();
	memset(d, 0, sizeof(*d));
	cfg = config_load(path, d);
	if (cfg != NULL && (flags & SH_LOAD_SECRETS))
		(void)config_load_secrets(cfg, d);
	if (d->nerrors == 0 && cfg == NULL)
		diag_error(d, "%s: cannot load the configuration", path);
	if (d->nerrors > 0 && cfg != NULL && !(flags & SH_LOAD_PARTIAL)) {
		config_free(cfg);
		cfg = NULL;
	}
	return cfg;
}

struct sh_config *
config_load_report(const char *path, int flags, size_t *nerrors)
{
	struct sh_config *cfg;
	struct sh_diag	  d;
	size_t		  n;

	cfg = config_load_diag(path, flags, &d);
	/* Out of memory may lose a message, never the failure. */
	if ((n = d.nerrors) == 0 && cfg == NULL)
		n = 1;
	diag_print(&d, flags);
	diag_free(&d);
	if (nerrors != NULL)
		*nerrors = n;
	return cfg;
}
