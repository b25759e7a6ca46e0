/*
 * Unit tests of the configuration and secret files (stripehook.conf(5),
 * and where the configuration is found, stripehook(8)), as tables of
 * cases.  Every expected value is written out from the man pages' text.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stripehook.h"
#include "tap.h"

#define MAXFILES	512
#define SECRET_LINE	"secret_file /etc/stripehook/secret\n"

static char	*files[MAXFILES];
static int	 nfiles;
static char	 tmpdir[1024];
static const char *cur;		/* the file last written */

/* Writes a temporary file with the given bytes and mode. */
static const char *
mkfile_n(const char *data, size_t len, mode_t mode)
{
	char	 path[1200];
	int	 fd;

	snprintf(path, sizeof(path), "%s/t_config.XXXXXX", tmpdir);
	if ((fd = mkstemp(path)) == -1 ||
	    write(fd, data, len) != (ssize_t)len || close(fd) == -1 ||
	    chmod(path, mode) == -1 || nfiles == MAXFILES) {
		perror("temporary file");
		exit(2);
	}
	files[nfiles] = strdup(path);
	return cur = files[nfiles++];
}

static const char *
mkfile(const char *text, mode_t mode)
{
	return mkfile_n(text, strlen(text), mode);
}

/* Loads a configuration file made of text (mode 0600). */
static struct sh_config *
load(const char *text, struct sh_diag *d)
{
	memset(d, 0, sizeof(*d));
	return config_load(mkfile(text, 0600), d);
}

/* 1 when diag holds exactly this error. */
__attribute__((format(printf, 2, 3)))
static int
has_error(const struct sh_diag *d, const char *fmt, ...)
{
	char	 want[8192];
	va_list	 ap;
	size_t	 i;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	for (i = 0; i < d->nerrors; i++)
		if (strcmp(d->errors[i], want) == 0)
			return 1;
	for (i = 0; i < d->nerrors; i++)
		printf("#   error: %s\n", d->errors[i]);
	printf("#   wanted: %s\n", want);
	return 0;
}

/* 1 when some warning contains the text. */
static int
has_warning(const struct sh_diag *d, const char *text)
{
	size_t	 i;

	for (i = 0; i < d->nwarnings; i++)
		if (strstr(d->warnings[i], text) != NULL)
			return 1;
	return 0;
}

/* A case's name: its first line, or what an empty text means. */
static const char *
case_name(const char *text, char *buf, size_t len)
{
	if (*text == '\0')
		return "only secret_file (the defaults)";
	snprintf(buf, len, "%.*s", (int)strcspn(text, "\n"), text);
	return buf;
}

/* The file (with a secret_file line added) must load. */
static struct sh_config *
accepted(const char *text, struct sh_diag *d)
{
	struct sh_config *cfg;
	char		 buf[8192], name[256];
	size_t		 i;

	snprintf(buf, sizeof(buf), "%s" SECRET_LINE, text);
	cfg = load(buf, d);
	ok(cfg != NULL, "accepted: %s", case_name(text, name, sizeof(name)));
	for (i = 0; i < d->nerrors; i++)
		printf("#   error: %s\n", d->errors[i]);
	return cfg;
}

/*
 * One field of a loaded configuration as text, so that one table can name
 * fields of any type.  "(null)" for a NULL string.
 */
static const char *
field(const struct sh_config *c, const char *name, char *buf, size_t len)
{
	if (strcmp(name, "tolerance") == 0)
		snprintf(buf, len, "%ld", c->tolerance);
	else if (strcmp(name, "max_body") == 0)
		snprintf(buf, len, "%zu", c->max_body);
	else if (strcmp(name, "hook_timeout") == 0)
		snprintf(buf, len, "%ld", c->hook_timeout);
	else if (strcmp(name, "cpu") == 0)
		snprintf(buf, len, "%ld", c->limit_cpu);
	else if (strcmp(name, "files") == 0)
		snprintf(buf, len, "%ld", c->limit_files);
	else if (strcmp(name, "fsize") == 0)
		snprintf(buf, len, "%lld", c->limit_fsize);
	else if (strcmp(name, "state_dir") == 0)
		snprintf(buf, len, "%s", c->state_dir ? c->state_dir : "(null)");
	else if (strcmp(name, "state_ttl") == 0)
		snprintf(buf, len, "%ld", c->state_ttl);
	else if (strcmp(name, "livemode") == 0)
		snprintf(buf, len, "%s", c->livemode == SH_LIVEMODE_LIVE ?
		    "live" : c->livemode == SH_LIVEMODE_TEST ? "test" : "any");
	else if (strcmp(name, "log") == 0)
		snprintf(buf, len, "%s", c->log_syslog ? "syslog" : "stderr");
	else if (strcmp(name, "user") == 0)
		snprintf(buf, len, "%s", c->user ? c->user : "(null)");
	else if (strcmp(name, "secret_file") == 0)
		snprintf(buf, len, "%s", c->secret_file);
	else if (strcmp(name, "nenv") == 0)
		snprintf(buf, len, "%zu", c->nenv);
	else if (strncmp(name, "env", 3) == 0 && name[3] >= '0' &&
	    name[3] <= '9' && (size_t)(name[3] - '0') <= c->nenv)
		snprintf(buf, len, "%s", c->env[name[3] - '0'] ?
		    c->env[name[3] - '0'] : "(null)");
	else if (strcmp(name, "nhooks") == 0)
		snprintf(buf, len, "%zu", c->nhooks);
	else if (strcmp(name, "warnings") == 0)
		return NULL;	/* handled by the caller */
	else if (strncmp(name, "hook", 4) == 0 && name[4] >= '0' &&
	    name[4] <= '9' && (size_t)(name[4] - '0') < c->nhooks &&
	    name[5] == '.') {
		const struct sh_hook *h = &c->hooks[name[4] - '0'];
		const char *f = name + 6;

		if (strcmp(f, "pattern") == 0)
			snprintf(buf, len, "%s", h->pattern);
		else if (strcmp(f, "identity") == 0)
			snprintf(buf, len, "%s", h->identity);
		else if (strcmp(f, "line") == 0)
			snprintf(buf, len, "%u", h->line);
		else if (f[0] == 'a' && f[1] >= '0' && f[1] <= '9')
			snprintf(buf, len, "%s", h->argv[f[1] - '0'] ?
			    h->argv[f[1] - '0'] : "(null)");
		else
			snprintf(buf, len, "?%s", name);
	} else
		snprintf(buf, len, "?%s", name);
	return buf;
}

/*
 * Files that load (a secret_file line is appended), with the values they
 * give: FIELD=VALUE pairs separated by ';', where FIELD is a name field()
 * knows, and "warnings=N" counts the warnings.
 */
static const struct acceptance {
	const char	*text;
	const char	*want;
} acceptances[] = {
	{ "", "tolerance=300;max_body=1048576;hook_timeout=20;cpu=-1;"
	    "files=-1;fsize=-1;state_dir=" SH_LOCALSTATEDIR "/lib/stripehook;"
	    "state_ttl=30;livemode=any;log=stderr;user=(null);"
	    "secret_file=/etc/stripehook/secret;nenv=1;"
	    "env0=PATH=/usr/local/bin:/usr/bin:/bin;env1=(null);nhooks=0;"
	    "warnings=0" },
	{ "tolerance 1\n", "tolerance=1" },
	{ "tolerance 86400\n", "tolerance=86400" },
	{ "tolerance 007\n", "tolerance=7" },
	{ "max_body 1\n", "max_body=1" },
	{ "max_body 67108864\n", "max_body=67108864" },
	{ "hook_timeout 1\n", "hook_timeout=1" },
	{ "hook_timeout 3600\n", "hook_timeout=3600" },
	{ "state_ttl 4\n", "state_ttl=4;warnings=1" },
	{ "state_ttl 3650\n", "state_ttl=3650;warnings=0" },
	{ "state_ttl 29\n", "state_ttl=29;warnings=1" },
	{ "state_ttl 30\n", "state_ttl=30;warnings=0" },
	{ "tolerance 600\nmax_body 2048\nhook_timeout 5\nstate_ttl 60\n",
	    "tolerance=600;max_body=2048;hook_timeout=5;state_ttl=60;"
	    "warnings=0" },
	{ "hook_limits cpu=10 files=64 fsize=1048576\n",
	    "cpu=10;files=64;fsize=1048576" },
	{ "hook_limits files=5\n", "cpu=-1;files=5;fsize=-1" },
	{ "hook_limits fsize=1 cpu=1\n", "cpu=1;files=-1;fsize=1" },
	{ "state_dir none\n", "state_dir=(null);warnings=1" },
	{ "state_dir /srv/state\n", "state_dir=/srv/state" },
	{ "livemode live\n", "livemode=live" },
	{ "livemode test\n", "livemode=test" },
	{ "livemode any\n", "livemode=any" },
	{ "log syslog\n", "log=syslog" },
	{ "log stderr\n", "log=stderr" },
	{ "user www-data\n", "user=www-data" },
	{ "env B=1\nenv A_2=\nenv _c=x=y\nenv PATH=/opt/bin\n"
	    "env stripe_x=lower\n", "nenv=5;env0=PATH=/opt/bin;env1=B=1;"
	    "env2=A_2=;env3=_c=x=y;env4=stripe_x=lower;env5=(null)" },
	{ "env AB=1\nenv A=2\n", "nenv=3" },
	{ "env GREETING=gr\xc3\xbc\xc3\x9f" "e\n",
	    "env1=GREETING=gr\xc3\xbc\xc3\x9f" "e" },
	{ "on v1.billing.meter.error_report_triggered /bin/true\n"
	    "on a[b]*.9_z /bin/x a#b c\n", "nhooks=2;hook1.pattern=a[b]*.9_z;"
	    "hook1.a1=a#b;hook1.a2=c;hook1.a3=(null);warnings=1" },
	{ "on * /bin/x a\non * /bin/x b\non * /bin/x\n", "nhooks=3" },
	{ "on * /bin/x\n", "nhooks=1;warnings=0" },
	{ "hook_timeout 30\non * /bin/x\n", "warnings=0" },
	{ "hook_timeout 31\non * /bin/x\n", "warnings=1" },
	{ "# a comment\n   # indented comment\n\n  \t \n"
	    "tolerance 5 # trailing comment\n"
	    "max_body\t\t 9\t#tab then comment\n#tolerance 6\n",
	    "tolerance=5;max_body=9" },
	{ "tolerance 7\r\non * /bin/x a\r\n",
	    "tolerance=7;hook0.a0=/bin/x;hook0.a1=a" },
};

static void
test_acceptances(void)
{
	const struct acceptance *a;
	struct sh_config *cfg;
	struct sh_diag	 d;
	char		 want[1024], buf[1024], name[256], *pair, *save, *eq;
	const char	*got;

	for (a = acceptances; a < acceptances + sizeof(acceptances) /
	    sizeof(acceptances[0]); a++) {
		cfg = accepted(a->text, &d);
		snprintf(want, sizeof(want), "%s", a->want);
		for (pair = strtok_r(want, ";", &save); cfg != NULL &&
		    pair != NULL; pair = strtok_r(NULL, ";", &save)) {
			eq = strchr(pair, '=');
			*eq = '\0';
			if (strcmp(pair, "warnings") == 0) {
				is_int(d.nwarnings, atoi(eq + 1),
				    "  %s: %s warnings", case_name(a->text,
				    name, sizeof(name)), eq + 1);
				continue;
			}
			got = field(cfg, pair, buf, sizeof(buf));
			is_str(got, eq + 1, "  %s: %s is %s", case_name(a->text,
			    name, sizeof(name)), pair, eq + 1);
		}
		config_free(cfg);
		diag_free(&d);
	}
}

#define LIMITS_USAGE	"(hook_limits [cpu=SECONDS] [files=N] [fsize=BYTES])"
#define NOT_A_PATTERN	"is not a pattern (1-255 characters of a-z 0-9 _ . " \
			"[ ] *)"

/* Files refused with exactly one error, "FILE:LINE: MESSAGE" (a
 * secret_file line is appended). */
static const struct refusal {
	int		 line;
	const char	*text;
	const char	*msg;
} refusals[] = {
	{ 1, "hook_limits cpu=0\n",
	    "hook_limits cpu: 0 is outside 1-86400" },
	{ 1, "hook_limits cpu=86401\n",
	    "hook_limits cpu: 86401 is outside 1-86400" },
	{ 1, "hook_limits files=0\n",
	    "hook_limits files: 0 is outside 1-1048576" },
	{ 1, "hook_limits fsize=99999999999999999999\n", "hook_limits fsize: "
	    "99999999999999999999 is outside 1-1099511627776" },
	{ 1, "hook_limits cpu=-1\n", "hook_limits cpu: \"-1\" is not a number" },
	{ 1, "hook_limits cpu=\n", "hook_limits cpu: \"\" is not a number" },
	{ 1, "hook_limits cpu=10 cpu=20\n", "hook_limits: cpu given twice" },
	{ 1, "hook_limits mem=5\n", "hook_limits: \"mem=5\" is not "
	    "cpu=SECONDS, files=N or fsize=BYTES" },
	{ 1, "hook_limits cpu\n", "hook_limits: \"cpu\" is not cpu=SECONDS, "
	    "files=N or fsize=BYTES" },
	{ 1, "hook_limits\n", "hook_limits: missing value " LIMITS_USAGE },
	{ 1, "hook_limits cpu=1 files=1 fsize=1 cpu=1\n",
	    "hook_limits: too many values " LIMITS_USAGE },
	{ 2, "hook_limits cpu=1\nhook_limits files=1\n",
	    "hook_limits given twice (first on line 1)" },
	{ 2, "secret_file /a\n", "secret_file given twice (first on line 1)" },
	{ 1, "state_dir var/state\n",
	    "state_dir: var/state is not an absolute path" },
	{ 1, "state_dir\n", "state_dir: missing value (state_dir PATH|none)" },
	{ 1, "state_dir /a /b\n",
	    "state_dir: too many values (state_dir PATH|none)" },
	{ 1, "livemode Live\n", "livemode: \"Live\" is not live, test or any" },
	{ 1, "livemode true\n", "livemode: \"true\" is not live, test or any" },
	{ 1, "log file\n", "log: \"file\" is not stderr or syslog" },
	{ 1, "user a b\n", "user: too many values (user NAME)" },
	{ 1, "user\n", "user: missing value (user NAME)" },
	{ 2, "user a\nuser b\n", "user given twice (first on line 1)" },
	{ 1, "secret-file /a\n", "unknown key \"secret-file\"" },
	{ 1, "Tolerance 5\n", "unknown key \"Tolerance\"" },
	{ 1, "env STRIPE_X=1\n", "env: STRIPE_X: STRIPE_* names are reserved" },
	{ 1, "env STRIPE_EVENT_ID=evt\n",
	    "env: STRIPE_EVENT_ID: STRIPE_* names are reserved" },
	{ 1, "env 1X=a\n", "env: \"1X\" is not a valid name" },
	{ 1, "env X-Y=a\n", "env: \"X-Y\" is not a valid name" },
	{ 1, "env =a\n", "env: \"\" is not a valid name" },
	{ 1, "env NOVALUE\n", "env: \"NOVALUE\" is not NAME=VALUE" },
	{ 1, "env A=1 B=2\n", "env: too many values (env NAME=VALUE)" },
	{ 1, "env\n", "env: missing value (env NAME=VALUE)" },
	{ 2, "env A=1\nenv A=2\n", "env A given twice (first on line 1)" },
	{ 2, "env PATH=/a\nenv PATH=/b\n",
	    "env PATH given twice (first on line 1)" },
	{ 1, "on * bin/archive\n", "on: bin/archive is not an absolute path" },
	{ 1, "on Charge.* /bin/x\n", "on: \"Charge.*\" " NOT_A_PATTERN },
	{ 1, "on charge-x /bin/x\n", "on: \"charge-x\" " NOT_A_PATTERN },
	{ 1, "on *\n", "on: missing value (on PATTERN PROGRAM [ARG...])" },
	{ 1, "on\n", "on: missing value (on PATTERN PROGRAM [ARG...])" },
	{ 2, "on * /bin/x a\non\t*  /bin/x   a\n",
	    "on line identical to line 1" },
	{ 1, "tolerance 5#c\n", "tolerance: \"5#c\" is not a number" },
	{ 1, "tolerance 7\r\r\n", "control byte 0x0d" },
	{ 1, "tolerance\r7\n", "control byte 0x0d" },
	{ 1, "user a\x01" "b\n", "control byte 0x01" },
	{ 1, "user ab\x7f\n", "control byte 0x7f" },
	{ 1, "user a\vb\n", "control byte 0x0b" },
	{ 1, "user a\fb\n", "control byte 0x0c" },
	{ 1, "# comment \x1b[0m\n", "control byte 0x1b" },
	{ 1, "\xef\xbb\xbf" "tolerance 5\n", "starts with a UTF-8 byte order "
	    "mark (EF BB BF): save the file without it" },
};

static void
refused(int line, const char *text, const char *msg)
{
	struct sh_config *cfg;
	struct sh_diag	 d;
	char		 buf[8192];
	int		 found;

	snprintf(buf, sizeof(buf), "%s" SECRET_LINE, text);
	cfg = load(buf, &d);
	found = has_error(&d, "%s:%d: %s", cur, line, msg);
	ok(cfg == NULL && d.nerrors == 1 && found, "refused with \"%s\": "
	    "%.*s", msg, (int)strcspn(text, "\n"), text);
	config_free(cfg);
	diag_free(&d);
}

static void
test_refusals(void)
{
	const struct refusal *r;

	for (r = refusals; r < refusals + sizeof(refusals) /
	    sizeof(refusals[0]); r++)
		refused(r->line, r->text, r->msg);
}

/* The numeric keys: their bounds, and the words that are no number. */
static const struct number_key {
	const char	*key, *min, *max, *below, *above;
} number_keys[] = {
	{ "tolerance", "1", "86400", "0", "86401" },
	{ "max_body", "1", "67108864", "0", "67108865" },
	{ "hook_timeout", "1", "3600", "0", "3601" },
	{ "state_ttl", "4", "3650", "3", "3651" },
	{ "retry_min", "1", "86400", "0", "86401" },
	{ "retry_for", "60", "2592000", "59", "2592001" },
	{ "runners", "1", "64", "0", "65" },
};

/* Files refused with two errors, the first containing a text: the second
 * is "secret_file is required" or the like. */
static void
refused_twice(const char *text, const char *first)
{
	struct sh_config *cfg;
	struct sh_diag	 d;

	cfg = load(text, &d);
	ok(cfg == NULL && d.nerrors == 2 && strstr(d.errors[0], first) != NULL,
	    "refused with \"%s\": %.*s", first, (int)strcspn(text, "\n"),
	    text);
	config_free(cfg);
	diag_free(&d);
}

static void
test_numbers(void)
{
	static const char *bad[] = {
		"abc", "+5", "-1", "5x", "0x10", "1.5", "5#"
	};
	const struct number_key *k;
	char		 text[256], msg[256];
	size_t		 i;

	for (k = number_keys; k < number_keys + sizeof(number_keys) /
	    sizeof(number_keys[0]); k++) {
		const char *out[] = { k->below, k->above,
		    "99999999999999999999" };

		for (i = 0; i < 3; i++) {
			snprintf(text, sizeof(text), "%s %s\n", k->key, out[i]);
			snprintf(msg, sizeof(msg), "%s: %s is outside %s-%s",
			    k->key, out[i], k->min, k->max);
			refused(1, text, msg);
		}
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(text, sizeof(text), "%s %s\n", k->key, bad[i]);
			snprintf(msg, sizeof(msg), "%s: \"%s\" is not a number",
			    k->key, bad[i]);
			refused(1, text, msg);
		}
		snprintf(msg, sizeof(msg), "%s given twice (first on line 1)",
		    k->key);
		snprintf(text, sizeof(text), "%s %s\n%s %s\n", k->key, k->max,
		    k->key, k->max);
		refused(2, text, msg);
		/* Without a secret_file line: two errors. */
		snprintf(text, sizeof(text), "%s\n", k->key);
		refused_twice(text, ": missing value");
		snprintf(text, sizeof(text), "%s %s %s\n", k->key, k->min,
		    k->min);
		refused_twice(text, ": too many values");
	}
}

/* ack receipt's keys (stripehook.conf(5)): ranges, defaults, the rules
 * between them, and on_failure as a hook. */
static void
test_receipt(void)
{
	struct sh_config *cfg;
	struct sh_diag	 d;

	cfg = accepted("", &d);
	if (cfg != NULL) {
		is_int(cfg->ack, SH_ACK_HOOKS, "ack default hooks");
		is_int(cfg->retry_min, 30, "retry_min default 30");
		is_int(cfg->retry_max, 3600, "retry_max default 3600");
		is_int(cfg->retry_for, 259200, "retry_for default 259200");
		is_int(cfg->runners, 1, "runners default 1");
		ok(cfg->on_failure == NULL, "no on_failure");
	}
	config_free(cfg);
	diag_free(&d);

	/* retry_min, retry_for and runners are in number_keys. */
	refused(1, "retry_max 0\n", "retry_max: 0 is outside 1-604800");
	refused(1, "retry_max 604801\n",
	    "retry_max: 604801 is outside 1-604800");
	refused(1, "retry_max 1x\n", "retry_max: \"1x\" is not a number");
	refused(2, "retry_min 60\nretry_max 59\n",
	    "retry_max 59 is under retry_min 60");
	refused(1, "retry_max 29\n", "retry_max 29 is under retry_min 30");

	cfg = accepted("ack receipt\nretry_min 1\nretry_max 604800\n"
	    "retry_for 60\nrunners 64\n", &d);
	if (cfg != NULL) {
		is_int(cfg->ack, SH_ACK_RECEIPT, "ack receipt");
		is_int(cfg->retry_min, 1, "retry_min 1");
		is_int(cfg->retry_max, 604800, "retry_max 604800");
		is_int(cfg->retry_for, 60, "retry_for 60");
		is_int(cfg->runners, 64, "runners 64");
	}
	config_free(cfg);
	diag_free(&d);
	cfg = accepted("retry_min 7200\n", &d);
	if (cfg != NULL)
		is_int(cfg->retry_max, 7200,
		    "retry_max unset follows a larger retry_min");
	config_free(cfg);
	diag_free(&d);
	cfg = accepted("retry_min 5\nretry_max 5\n", &d);
	if (cfg != NULL)
		is_int(cfg->retry_max, 5, "retry_max equal to retry_min");
	config_free(cfg);
	diag_free(&d);

	cfg = accepted("ack hooks\n", &d);
	if (cfg != NULL)
		is_int(cfg->ack, SH_ACK_HOOKS, "ack hooks");
	config_free(cfg);
	diag_free(&d);
	refused(1, "ack later\n", "ack: \"later\" is not hooks or receipt");
	refused(2, "ack receipt\nack receipt\n",
	    "ack given twice (first on line 1)");
	refused(1, "ack receipt\nstate_dir none\n",
	    "ack receipt needs records: state_dir must not be none");
	refused(2, "state_dir none\nack receipt\n",
	    "ack receipt needs records: state_dir must not be none");

	cfg = accepted("on_failure /etc/stripehook/alert  dead  now\n", &d);
	if (cfg != NULL && cfg->on_failure != NULL) {
		is_str(cfg->on_failure->argv[0], "/etc/stripehook/alert",
		    "on_failure program");
		is_str(cfg->on_failure->argv[1], "dead", "on_failure arg 1");
		is_str(cfg->on_failure->argv[2], "now", "on_failure arg 2");
		ok(cfg->on_failure->argv[3] == NULL, "on_failure argv ends");
		is_str(cfg->on_failure->identity,
		    "on_failure /etc/stripehook/alert dead now",
		    "on_failure identity");
	} else
		ok(0, "on_failure set");
	config_free(cfg);
	diag_free(&d);
	refused(1, "on_failure alert\n",
	    "on_failure: alert is not an absolute path");
	refused(2, "on_failure /bin/true\non_failure /bin/true\n",
	    "on_failure given twice (first on line 1)");
	cfg = load("on_failure\n" SECRET_LINE, &d);
	ok(cfg == NULL && d.nerrors == 1 &&
	    strstr(d.errors[0], "on_failure: missing value") != NULL,
	    "on_failure without a program refused");
	config_free(cfg);
	diag_free(&d);

	/* No hook runs inside a request: no warning about Stripe's wait. */
	cfg = accepted("ack receipt\nhook_timeout 3600\non * /bin/true\n", &d);
	ok(cfg != NULL && !has_warning(&d, "delivery timeout"),
	    "ack receipt: no hook_timeout warning");
	config_free(cfg);
	diag_free(&d);
	cfg = accepted("hook_timeout 3600\non * /bin/true\n", &d);
	ok(cfg != NULL && has_warning(&d, "delivery timeout"),
	    "ack hooks: hook_timeout warning kept");
	config_free(cfg);
	diag_free(&d);
}

static void
test_default_path(void)
{
	unsetenv("STRIPEHOOK_CONFIG");
	is_str(config_default_path(), SH_SYSCONFDIR "/stripehook.conf",
	    "default path without STRIPEHOOK_CONFIG");
	setenv("STRIPEHOOK_CONFIG", "", 1);
	is_str(config_default_path(), SH_SYSCONFDIR "/stripehook.conf",
	    "empty STRIPEHOOK_CONFIG counts as unset");
	setenv("STRIPEHOOK_CONFIG", "./test.conf", 1);
	is_str(config_default_path(), "./test.conf",
	    "STRIPEHOOK_CONFIG is used");
	unsetenv("STRIPEHOOK_CONFIG");
}

/* The example of stripehook.conf(5). */
static void
test_example(void)
{
	struct sh_config *cfg;
	struct sh_diag	 d;
	char		 buf[512];
	static const char *want[][2] = {
		{ "state_dir", "/var/lib/stripehook" },
		{ "livemode", "live" },
		{ "nenv", "2" },
		{ "env0", "PATH=/usr/local/bin:/usr/bin:/bin" },
		{ "env1", "ORDER_DB=/var/lib/shop/orders.db" },
		{ "env2", "(null)" },
		{ "nhooks", "3" },
		{ "hook0.pattern", "payment_intent.succeeded" },
		{ "hook0.a0", "/etc/stripehook/hooks/fulfil-order" },
		{ "hook0.a1", "(null)" },
		{ "hook0.line", "5" },
		{ "hook0.identity", "on payment_intent.succeeded "
		    "/etc/stripehook/hooks/fulfil-order" },
		{ "hook1.pattern", "charge.dispute.*" },
		{ "hook1.a0", "/etc/stripehook/hooks/alert" },
		{ "hook1.a1", "dispute" },
		{ "hook1.a2", "(null)" },
		{ "hook1.identity", "on charge.dispute.* "
		    "/etc/stripehook/hooks/alert dispute" },
		{ "hook2.pattern", "*" },
		{ "hook2.line", "7" },
	};
	size_t		 i;

	cfg = load(
	    "secret_file   /etc/stripehook/secret\n"
	    "state_dir     /var/lib/stripehook\n"
	    "livemode      live\n"
	    "env           ORDER_DB=/var/lib/shop/orders.db\n"
	    "on payment_intent.succeeded  /etc/stripehook/hooks/fulfil-order\n"
	    "on charge.dispute.*          /etc/stripehook/hooks/alert dispute\n"
	    "on *                         /etc/stripehook/hooks/archive\n",
	    &d);
	ok(cfg != NULL, "the example of stripehook.conf(5) loads");
	if (cfg == NULL)
		return;
	is_str(cfg->path, cur, "path kept");
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		is_str(field(cfg, want[i][0], buf, sizeof(buf)), want[i][1],
		    "  example: %s", want[i][0]);
	ok(has_warning(&d, "3 hooks x hook_timeout 20 s can exceed Stripe's "
	    "30 s delivery timeout"), "hooks x hook_timeout warning");
	config_free(cfg);
	diag_free(&d);
}

/* What the table cannot say: warnings' text, a NUL byte, line length,
 * files without a secret_file line or a final LF. */
static void
test_special(void)
{
	struct sh_config *cfg;
	struct sh_diag	 d;
	char		 text[8192], pat[300];

	cfg = accepted("state_ttl 29\nstate_dir none\n", &d);
	ok(has_warning(&d, "Dashboard resends reach 15 days, CLI resends 30"),
	    "state_ttl 29: warning text");
	ok(has_warning(&d, "state_dir none: de-duplication is off"),
	    "state_dir none: warning text");
	config_free(cfg);
	diag_free(&d);
	cfg = accepted("hook_timeout 31\non * /bin/x\n", &d);
	ok(has_warning(&d, "1 hooks x hook_timeout 31 s can exceed "
	    "Stripe's 30 s delivery timeout"), "1 hook x 31 s: warning text");
	config_free(cfg);
	diag_free(&d);

	cfg = load("tolerance 5\n", &d);
	ok(cfg == NULL && has_error(&d, "%s: secret_file is required", cur),
	    "secret_file is required");
	config_free(cfg);
	diag_free(&d);
	cfg = load("secret_file secret\n", &d);
	ok(cfg == NULL && d.nerrors == 1 && has_error(&d,
	    "%s:1: secret_file: secret is not an absolute path", cur),
	    "relative secret_file refused, once");
	config_free(cfg);
	diag_free(&d);

	cfg = load("secret_file /s\r\ntolerance 7\r", &d);
	ok(cfg != NULL && strcmp(cfg->secret_file, "/s") == 0,
	    "CR stripped from a path; CR at the end without LF accepted");
	config_free(cfg);
	diag_free(&d);
	cfg = load("secret_file /s", &d);
	ok(cfg != NULL, "last line without LF");
	config_free(cfg);
	diag_free(&d);
	memset(&d, 0, sizeof(d));
	cfg = config_load(mkfile_n(SECRET_LINE "user a\0b\n",
	    sizeof(SECRET_LINE "user a\0b\n") - 1, 0600), &d);
	ok(cfg == NULL && has_error(&d, "%s:2: control byte 0x00", cur),
	    "NUL byte refused");
	config_free(cfg);
	diag_free(&d);

	memset(text, 0, sizeof(text));
	memcpy(text, "user ", 5);
	memset(text + 5, 'u', SH_CONFIG_LINE_MAX - 5);
	strcat(text, "\n");
	config_free(accepted(text, &d));
	diag_free(&d);
	memset(text + 5, 'u', SH_CONFIG_LINE_MAX - 4);
	text[SH_CONFIG_LINE_MAX + 1] = '\n';
	text[SH_CONFIG_LINE_MAX + 2] = '\0';
	refused(1, text, "line longer than 4096 bytes");

	memset(pat, 'a', 255);
	pat[255] = '\0';
	snprintf(text, sizeof(text), "on %s /bin/x\n", pat);
	config_free(accepted(text, &d));
	diag_free(&d);
	memset(pat, 'a', 256);
	pat[256] = '\0';
	snprintf(text, sizeof(text), "on %s /bin/x\n", pat);
	refused_twice(text, "is not a pattern");
}

/* Counts strcmp(3) calls made by config_load (the test is linked with
 * -Wl,--wrap=strcmp): a deterministic measure of its work. */
static unsigned long strcmp_calls;
int __real_strcmp(const char *, const char *);
int __wrap_strcmp(const char *, const char *);

int
__wrap_strcmp(const char *a, const char *b)
{
	strcmp_calls++;
	return __real_strcmp(a, b);
}

#define MANY_HOOKS	20000

/*
 * Loading is not quadratic in the on lines: 20,000 distinct ones (and one
 * repeated at the end) take a number of string comparisons proportional
 * to n log n, far below the n^2 / 2 (2e8) of a pairwise check.  Counted,
 * not timed, so that a loaded machine or valgrind cannot make it flake.
 */
static void
test_many_hooks(void)
{
	struct sh_config *cfg;
	struct sh_buf	 b;
	struct sh_diag	 d;
	unsigned long	 calls;
	int		 i;

	buf_init(&b);
	buf_puts(&b, SECRET_LINE);
	for (i = 0; i < MANY_HOOKS; i++)
		buf_printf(&b, "on t.%d /bin/x\n", i);
	buf_puts(&b, "on t.7 /bin/x\n");
	memset(&d, 0, sizeof(d));
	mkfile_n(b.p, b.len, 0600);
	strcmp_calls = 0;
	cfg = config_load(cur, &d);
	calls = strcmp_calls;
	ok(cfg == NULL && d.nerrors == 1 && has_error(&d, "%s:%d: on line "
	    "identical to line 9", cur, MANY_HOOKS + 2),
	    "%d on lines: the repeated one is found", MANY_HOOKS);
	ok(calls < 50UL * MANY_HOOKS, "%d on lines: %lu string comparisons, "
	    "under %lu (a pairwise check makes about %lu)", MANY_HOOKS, calls,
	    50UL * MANY_HOOKS, (unsigned long)MANY_HOOKS * MANY_HOOKS / 2);
	config_free(cfg);
	diag_free(&d);
	buf_free(&b);
}

static void
test_several_errors(void)
{
	struct sh_config *cfg;
	struct sh_diag	 d;

	cfg = load("tolerance 0\n"
	    "bogus 1\n"
	    "livemode maybe\n"
	    "# fine\n"
	    "tolerance 5\n"
	    "state_dir none\n"
	    "on * /bin/x\n"
	    "on * /bin/x\n"
	    "env STRIPE_A=1\n", &d);
	ok(cfg == NULL, "several errors: refused");
	is_int(d.nerrors, 7, "every error collected");
	if (d.nerrors == 7) {
		ok(has_error(&d, "%s:1: tolerance: 0 is outside 1-86400", cur),
		    "line 1");
		ok(has_error(&d, "%s:2: unknown key \"bogus\"", cur), "line 2");
		ok(has_error(&d, "%s:3: livemode: \"maybe\" is not live, "
		    "test or any", cur), "line 3");
		ok(has_error(&d, "%s:5: tolerance given twice (first on line "
		    "1)", cur), "line 5");
		ok(has_error(&d, "%s:8: on line identical to line 7", cur),
		    "line 8");
		ok(has_error(&d, "%s:9: env: STRIPE_A: STRIPE_* names are "
		    "reserved", cur), "line 9");
		ok(has_error(&d, "%s: secret_file is required", cur),
		    "missing secret_file");
		ok(strstr(d.errors[0], ":1: ") != NULL &&
		    strstr(d.errors[6], "secret_file") != NULL,
		    "line errors first, the missing secret_file last");
	}
	ok(has_warning(&d, "de-duplication is off"), "warnings still given");
	config_free(cfg);
	diag_free(&d);
}

/* The file itself: missing, writable by others, not a regular file. */
static void
test_config_file(void)
{
	static const struct {
		mode_t		 mode;
		const char	*error;		/* NULL: accepted */
	} modes[] = {
		{ 0664, "group or others can write it" },
		{ 0602, "group or others can write it" },
		{ 0644, NULL },
		{ 0600, NULL },
	};
	struct sh_config *cfg;
	struct sh_diag	 d;
	char		 missing[1200], want[1400];
	const char	*p;
	size_t		 i;

	snprintf(missing, sizeof(missing), "%s/t_config.missing.%ld", tmpdir,
	    (long)getpid());
	memset(&d, 0, sizeof(d));
	cfg = config_load(missing, &d);
	snprintf(want, sizeof(want), "%s: %s", missing, strerror(ENOENT));
	ok(cfg == NULL && d.nerrors == 1 && strcmp(d.errors[0], want) == 0,
	    "missing config refused, naming the file and the reason");
	config_free(cfg);
	diag_free(&d);

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		p = mkfile(SECRET_LINE, modes[i].mode);
		memset(&d, 0, sizeof(d));
		cfg = config_load(p, &d);
		if (modes[i].error == NULL)
			ok(cfg != NULL, "mode %04o accepted",
			    (unsigned)modes[i].mode);
		else
			ok(cfg == NULL && has_error(&d, "%s: %s", p,
			    modes[i].error), "mode %04o refused",
			    (unsigned)modes[i].mode);
		config_free(cfg);
		diag_free(&d);
	}

	memset(&d, 0, sizeof(d));
	cfg = config_load(tmpdir, &d);
	ok(cfg == NULL && has_error(&d, "%s: not a regular file", tmpdir),
	    "directory refused");
	config_free(cfg);
	diag_free(&d);
}

/*
 * config_load_diag, the transports' loader: the diagnostics come back to
 * the caller (the first error is each request's log line under CGI and
 * FastCGI), nothing is printed, and a configuration whose secrets fail is
 * returned only with SH_LOAD_PARTIAL.
 */
static void
test_load_diag(void)
{
	struct sh_config *cfg;
	struct sh_diag	 d;
	char		 text[2400], missing[1200], want[1400];
	const char	*p, *secret;

	p = mkfile("secret_file relative\n", 0600);
	cfg = config_load_diag(p, SH_LOAD_SECRETS, &d);
	snprintf(want, sizeof(want), "%s:1: secret_file: relative is not an "
	    "absolute path", p);
	ok(cfg == NULL && d.nerrors >= 1 && strcmp(d.errors[0], want) == 0,
	    "config_load_diag: a bad file gives NULL and its first error");
	diag_free(&d);

	snprintf(missing, sizeof(missing), "%s/t_config.nosecret.%ld", tmpdir,
	    (long)getpid());
	snprintf(text, sizeof(text), "secret_file %s\nstate_dir none\n",
	    missing);
	p = mkfile(text, 0600);
	cfg = config_load_diag(p, SH_LOAD_SECRETS, &d);
	ok(cfg == NULL && d.nerrors == 1 && strncmp(d.errors[0], missing,
	    strlen(missing)) == 0,
	    "config_load_diag: a missing secret file gives NULL, naming it");
	diag_free(&d);
	cfg = config_load_diag(p, SH_LOAD_SECRETS | SH_LOAD_PARTIAL, &d);
	ok(cfg != NULL && d.nerrors == 1,
	    "config_load_diag: SH_LOAD_PARTIAL keeps the configuration");
	config_free(cfg);
	diag_free(&d);
	cfg = config_load_diag(p, 0, &d);
	ok(cfg != NULL && d.nerrors == 0,
	    "config_load_diag: without SH_LOAD_SECRETS the secret file is "
	    "not read");
	config_free(cfg);
	diag_free(&d);

	secret = mkfile("whsec_one\n", 0600);
	snprintf(text, sizeof(text), "secret_file %s\nstate_dir none\n",
	    secret);
	cfg = config_load_diag(mkfile(text, 0600), SH_LOAD_SECRETS, &d);
	ok(cfg != NULL && d.nerrors == 0 && cfg->secrets.n == 1,
	    "config_load_diag: a good file loads with its secrets");
	config_free(cfg);
	diag_free(&d);
}

/* ---- Secrets ---- */

static void
secrets_ok(const char *data, size_t len, mode_t mode, const char *what,
    struct sh_secrets *s, struct sh_diag *d)
{
	const char *p = mkfile_n(data, len, mode);
	size_t	 i;

	memset(d, 0, sizeof(*d));
	ok(secrets_load(p, s, d) == 0, "%s", what);
	for (i = 0; i < d->nerrors; i++)
		printf("#   error: %s\n", d->errors[i]);
}

static void
secrets_bad(const char *data, size_t len, mode_t mode, const char *msg,
    int line)
{
	struct sh_secrets s = { NULL, 0 };
	struct sh_diag	 d;
	const char	*p = mkfile_n(data, len, mode);
	size_t		 i;
	int		 leaked = 0;

	memset(&d, 0, sizeof(d));
	ok(secrets_load(p, &s, &d) == -1, "secret file refused: %s", msg);
	ok(s.n == 0 && s.v == NULL, "  %s: no secret loaded", msg);
	if (line > 0)
		ok(has_error(&d, "%s:%d: %s", p, line, msg),
		    "  %s: the error names the file and line %d", msg, line);
	else
		ok(has_error(&d, "%s: %s", p, msg),
		    "  %s: the error names the file", msg);
	for (i = 0; i < d.nerrors; i++)
		if (strstr(d.errors[i], "whsec_") != NULL ||
		    strstr(d.errors[i], "SECRET") != NULL)
			leaked = 1;
	ok(!leaked, "  %s: the error does not contain the secret", msg);
	secrets_free(&s);
	diag_free(&d);
}

#define S(lit)	lit, sizeof(lit) - 1

/* Secret files refused: the message, and the line it names (0: none). */
#define WS_MSG	"secret holds whitespace, control or non-ASCII bytes"
static const struct {
	const char	*data;
	size_t		 len;
	mode_t		 mode;
	const char	*msg;
	int		 line;
} bad_secrets[] = {
	{ S("whsec_one\n"), 0644, "others can read it", 0 },
	{ S("whsec_one\n"), 0604, "others can read it", 0 },
	{ S("whsec_one\n"), 0660, "group or others can write it", 0 },
	{ S("whsec_one\n"), 0620, "group or others can write it", 0 },
	{ S("whsec_one\n"), 0602, "group or others can write it", 0 },
	{ S(""), 0600, "holds no secret", 0 },
	{ S("\n \r\n\t\n"), 0600, "holds no secret", 0 },
	{ S("whsec_ok\nwhsec_a b\n"), 0600, WS_MSG, 2 },
	{ S("whsec_a\tb\n"), 0600, WS_MSG, 1 },
	{ S("whsec_a\rb\n"), 0600, WS_MSG, 1 },
	{ S("whsec_ab\r \n"), 0600, WS_MSG, 1 },
	{ S("whsec_a\x01" "b\n"), 0600, WS_MSG, 1 },
	{ S("whsec_a\x7f\n"), 0600, WS_MSG, 1 },
	{ S("SECRET\0X\n"), 0600, WS_MSG, 1 },
	{ S("whsec_a\vb\n"), 0600, WS_MSG, 1 },
	{ S("whsec_a\xc2\xa0\n"), 0600, WS_MSG, 1 },
	{ S("whsec_\xff\n"), 0600, WS_MSG, 1 },
};

static void
test_secrets(void)
{
	struct sh_secrets s;
	struct sh_diag	 d;
	struct sh_config *cfg;
	char		 big[65538], text[2048];
	const char	*sp;
	size_t		 i;

	secrets_ok(S("whsec_one\n"), 0600, "0600 accepted", &s, &d);
	is_int(s.n, 1, "one secret");
	if (s.n == 1) {
		is_int(s.v[0].len, 9, "length");
		ok(memcmp(s.v[0].buf, "whsec_one", 9) == 0, "bytes");
	}
	is_int(d.nwarnings, 0, "no warning");
	secrets_free(&s);
	ok(s.n == 0 && s.v == NULL, "secrets_free empties");
	diag_free(&d);

	secrets_ok(S("whsec_one\n"), 0640, "0640 accepted", &s, &d);
	secrets_free(&s);
	diag_free(&d);
	secrets_ok(S("whsec_one\n"), 0400, "0400 accepted", &s, &d);
	secrets_free(&s);
	diag_free(&d);

	secrets_ok(S("\n  whsec_a \r\n\t\r\n\twhsec_bb\t\r\n\nwhsec_ccc"),
	    0600, "CRLF, blanks and blank lines", &s, &d);
	is_int(s.n, 3, "three secrets");
	if (s.n == 3) {
		ok(s.v[0].len == 7 && memcmp(s.v[0].buf, "whsec_a", 7) == 0,
		    "secret 1 stripped");
		ok(s.v[1].len == 8 && memcmp(s.v[1].buf, "whsec_bb", 8) == 0,
		    "secret 2 stripped");
		ok(s.v[2].len == 9 && memcmp(s.v[2].buf, "whsec_ccc", 9) == 0,
		    "secret 3 without a final LF");
	}
	secrets_free(&s);
	diag_free(&d);

	sp = mkfile("whsec_x\nplainsecret\n", 0600);
	memset(&d, 0, sizeof(d));
	ok(secrets_load(sp, &s, &d) == 0, "secret without prefix accepted");
	is_int(d.nwarnings, 1, "  one warning");
	if (d.nwarnings == 1) {
		snprintf(text, sizeof(text), "%s:2: secret lacks the whsec_ "
		    "prefix", sp);
		is_str(d.warnings[0], text, "  warning names file and line");
		ok(strstr(d.warnings[0], "plainsecret") == NULL,
		    "  warning does not contain the secret");
	}
	secrets_free(&s);
	diag_free(&d);

	for (i = 0; i < sizeof(bad_secrets) / sizeof(bad_secrets[0]); i++)
		secrets_bad(bad_secrets[i].data, bad_secrets[i].len,
		    bad_secrets[i].mode, bad_secrets[i].msg, bad_secrets[i].line);

	memset(big, 'a', sizeof(big));
	secrets_ok(big, 65536, 0600, "65536 bytes accepted", &s, &d);
	secrets_free(&s);
	diag_free(&d);
	secrets_bad(big, 65537, 0600, "larger than 65536 bytes", 0);

	memset(&d, 0, sizeof(d));
	snprintf(text, sizeof(text), "%s/t_config.missing.%ld", tmpdir,
	    (long)getpid());
	ok(secrets_load(text, &s, &d) == -1 && d.nerrors == 1 &&
	    strstr(d.errors[0], strerror(ENOENT)) != NULL &&
	    strncmp(d.errors[0], text, strlen(text)) == 0,
	    "missing secret file refused");
	diag_free(&d);
	memset(&d, 0, sizeof(d));
	ok(secrets_load(tmpdir, &s, &d) == -1 && has_error(&d, "%s: not a "
	    "regular file", tmpdir), "directory refused");
	diag_free(&d);

	/* Through the configuration. */
	sp = mkfile("whsec_first\nwhsec_second\n", 0640);
	snprintf(text, sizeof(text), "secret_file %s\n", sp);
	cfg = load(text, &d);
	ok(cfg != NULL, "config for secrets loads");
	if (cfg != NULL) {
		ok(config_load_secrets(cfg, &d) == 0, "config_load_secrets");
		is_int(cfg->secrets.n, 2, "two secrets in file order");
		if (cfg->secrets.n == 2)
			ok(cfg->secrets.v[1].len == 12 &&
			    memcmp(cfg->secrets.v[1].buf, "whsec_second",
			    12) == 0, "second secret");
		/* A failing reload keeps the secrets loaded before. */
		chmod(sp, 0644);
		ok(config_load_secrets(cfg, &d) == -1 &&
		    has_error(&d, "%s: others can read it", sp),
		    "reload of a readable file refused");
		is_int(cfg->secrets.n, 2, "old secrets kept");
	}
	config_free(cfg);
	diag_free(&d);
}

int
main(void)
{
	const char	*t;
	int		 i;

	if ((t = getenv("TMPDIR")) == NULL || *t == '\0')
		t = "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s", t);

	test_default_path();
	test_acceptances();
	test_refusals();
	test_numbers();
	test_receipt();
	test_example();
	test_special();
	test_many_hooks();
	test_several_errors();
	test_config_file();
	test_load_diag();
	test_secrets();

	for (i = 0; i < nfiles; i++) {
		unlink(files[i]);
		free(files[i]);
	}
	return tap_done();
}
