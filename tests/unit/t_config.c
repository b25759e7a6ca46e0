/*
 * Unit tests of the configuration and secret files (SPEC sections 1 and 6).
 * Every expected value is written out from the SPEC's text.
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

/* The file (with a secret_file line added) must be refused with exactly
 * one error: "FILE:LINE: msg". */
static void
refused(int line, const char *text, const char *msg)
{
	struct sh_config *cfg;
	struct sh_diag	 d;
	char		 buf[8192];

	snprintf(buf, sizeof(buf), "%s" SECRET_LINE, text);
	cfg = load(buf, &d);
	ok(cfg == NULL, "refused: %.*s", (int)strcspn(text, "\n"), text);
	is_int(d.nerrors, 1, "  one error");
	ok(has_error(&d, "%s:%d: %s", cur, line, msg), "  error is \"%s\"",
	    msg);
	config_free(cfg);
	diag_free(&d);
}

#define refused1(text, msg)	refused(1, text, msg)

/* The file (with a secret_file line added) must load. */
static struct sh_config *
accepted(const char *text, struct sh_diag *d)
{
	struct sh_config *cfg;
	char		 buf[8192];
	size_t		 i;

	snprintf(buf, sizeof(buf), "%s" SECRET_LINE, text);
	cfg = load(buf, d);
	ok(cfg != NULL, "accepted: %.*s", (int)strcspn(text, "\n"), text);
	for (i = 0; i < d->nerrors; i++)
		printf("#   error: %s\n", d->errors[i]);
	return cfg;
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

static void
test_defaults(void)
{
	struct sh_config *cfg;
	struct sh_diag	 d;

	cfg = accepted("", &d);
	if (cfg == NULL)
		return;
	is_str(cfg->path, cur, "path kept");
	is_str(cfg->secret_file, "/etc/stripehook/secret", "secret_file");
	is_int(cfg->tolerance, 300, "tolerance default 300");
	is_int(cfg->max_body, 1048576, "max_body default 1048576");
	is_int(cfg->hook_timeout, 20, "hook_timeout default 20");
	is_int(cfg->limit_cpu, -1, "no cpu limit");
	is_int(cfg->limit_files, -1, "no files limit");
	is_int(cfg->limit_fsize, -1, "no fsize limit");
	is_str(cfg->state_dir, SH_LOCALSTATEDIR "/lib/stripehook",
	    "state_dir default");
	is_int(cfg->state_ttl, 30, "state_ttl default 30");
	is_int(cfg->livemode, SH_LIVEMODE_ANY, "livemode default any");
	is_int(cfg->log_syslog, 0, "log default stderr");
	ok(cfg->user == NULL, "no user");
	is_int(cfg->nenv, 1, "one env entry");
	is_str(cfg->env[0], "PATH=/usr/local/bin:/usr/bin:/bin",
	    "default PATH");
	ok(cfg->env[1] == NULL, "env NULL-terminated");
	is_int(cfg->nhooks, 0, "no hooks");
	is_int(cfg->secrets.n, 0, "no secrets yet");
	is_int(d.nwarnings, 0, "no warnings");
	config_free(cfg);
	diag_free(&d);
}

/* The example of SPEC 6. */
static void
test_spec_example(void)
{
	struct sh_config *cfg;
	struct sh_diag	 d;

	cfg = load(
	    "secret_file   /etc/stripehook/secret\n"
	    "state_dir     /var/lib/stripehook\n"
	    "livemode      live\n"
	    "env           ORDER_DB=/var/lib/shop/orders.db\n"
	    "on payment_intent.succeeded  /etc/stripehook/hooks/fulfil-order\n"
	    "on charge.dispute.*          /etc/stripehook/hooks/alert dispute\n"
	    "on *                         /etc/stripehook/hooks/archive\n",
	    &d);
	ok(cfg != NULL, "SPEC 6 example loads");
	if (cfg == NULL)
		return;
	is_str(cfg->state_dir, "/var/lib/stripehook", "state_dir");
	is_int(cfg->livemode, SH_LIVEMODE_LIVE, "livemode live");
	is_int(cfg->nenv, 2, "PATH plus one env line");
	is_str(cfg->env[0], "PATH=/usr/local/bin:/usr/bin:/bin", "PATH first");
	is_str(cfg->env[1], "ORDER_DB=/var/lib/shop/orders.db", "env line");
	ok(cfg->env[2] == NULL, "env ends");
	is_int(cfg->nhooks, 3, "three hooks");
	is_str(cfg->hooks[0].pattern, "payment_intent.succeeded", "pattern 0");
	is_str(cfg->hooks[0].argv[0], "/etc/stripehook/hooks/fulfil-order",
	    "program 0");
	ok(cfg->hooks[0].argv[1] == NULL, "argv 0 ends");
	is_int(cfg->hooks[0].line, 5, "hook 0 line");
	is_str(cfg->hooks[0].identity,
	    "on payment_intent.succeeded /etc/stripehook/hooks/fulfil-order",
	    "identity: words joined by single spaces");
	is_str(cfg->hooks[1].pattern, "charge.dispute.*", "pattern 1");
	is_str(cfg->hooks[1].argv[0], "/etc/stripehook/hooks/alert",
	    "program 1");
	is_str(cfg->hooks[1].argv[1], "dispute", "argument 1");
	ok(cfg->hooks[1].argv[2] == NULL, "argv 1 ends");
	is_str(cfg->hooks[1].identity,
	    "on charge.dispute.* /etc/stripehook/hooks/alert dispute",
	    "identity 1");
	is_str(cfg->hooks[2].pattern, "*", "pattern 2");
	is_int(cfg->hooks[2].line, 7, "hook 2 line");
	ok(has_warning(&d, "3 hooks x hook_timeout 20 s can exceed Stripe's "
	    "30 s delivery timeout"), "hooks x hook_timeout warning");
	config_free(cfg);
	diag_free(&d);
}

/* A numeric key: min and max are accepted, the rest refused. */
static void
test_number(const char *key, const char *min, const char *max,
    const char *below, const char *above)
{
	char	 text[256], msg[256];
	const char *bad[] = { "abc", "+5", "-1", "5x", "0x10", "1.5", "5#" };
	struct sh_config *cfg;
	struct sh_diag	 d;
	size_t	 i;

	snprintf(text, sizeof(text), "%s %s\n", key, min);
	config_free(accepted(text, &d));
	diag_free(&d);
	snprintf(text, sizeof(text), "%s %s\n", key, max);
	config_free(accepted(text, &d));
	diag_free(&d);

	snprintf(text, sizeof(text), "%s %s\n", key, below);
	snprintf(msg, sizeof(msg), "%s: %s is outside %s-%s", key, below,
	    min, max);
	refused1(text, msg);
	snprintf(text, sizeof(text), "%s %s\n", key, above);
	snprintf(msg, sizeof(msg), "%s: %s is outside %s-%s", key, above,
	    min, max);
	refused1(text, msg);
	snprintf(text, sizeof(text), "%s 99999999999999999999\n", key);
	snprintf(msg, sizeof(msg), "%s: 99999999999999999999 is outside "
	    "%s-%s", key, min, max);
	refused1(text, msg);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s %s\n", key, bad[i]);
		snprintf(msg, sizeof(msg), "%s: \"%s\" is not a number", key,
		    bad[i]);
		refused1(text, msg);
	}
	snprintf(text, sizeof(text), "%s\n", key);
	cfg = load(text, &d);
	ok(cfg == NULL && d.nerrors == 2 &&
	    strstr(d.errors[0], ": missing value") != NULL,
	    "%s without a value refused", key);
	config_free(cfg);
	diag_free(&d);
	snprintf(text, sizeof(text), "%s %s %s\n", key, min, min);
	cfg = load(text, &d);
	ok(cfg == NULL && d.nerrors == 2 &&
	    strstr(d.errors[0], ": too many values") != NULL,
	    "%s with two values refused", key);
	config_free(cfg);
	diag_free(&d);
	snprintf(text, sizeof(text), "%s %s\n%s %s\n", key, max, key, max);
	snprintf(msg, sizeof(msg), "%s given twice (first on line 1)", key);
	cfg = load(text, &d);
	ok(cfg == NULL && has_error(&d, "%s:2: %s", cur, msg),
	    "%s given twice refused", key);
	config_free(cfg);
	diag_free(&d);
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

	test_number("retry_min", "1", "86400", "0", "86401");
	test_number("retry_for", "60", "2592000", "59", "2592001");
	test_number("runners", "1", "64", "0", "65");
	refused1("retry_max 0\n", "retry_max: 0 is outside 1-604800");
	refused1("retry_max 604801\n", "retry_max: 604801 is outside 1-604800");
	refused1("retry_max 1x\n", "retry_max: \"1x\" is not a number");
	refused(2, "retry_min 60\nretry_max 59\n",
	    "retry_max 59 is under retry_min 60");
	refused1("retry_max 29\n", "retry_max 29 is under retry_min 30");

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
	refused1("ack later\n", "ack: \"later\" is not hooks or receipt");
	refused(2, "ack receipt\nack receipt\n",
	    "ack given twice (first on line 1)");
	refused1("ack receipt\nstate_dir none\n",
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
	refused1("on_failure alert\n",
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
test_numbers(void)
{
	struct sh_config *cfg;
	struct sh_diag	 d;

	test_number("tolerance", "1", "86400", "0", "86401");
	test_number("max_body", "1", "67108864", "0", "67108865");
	test_number("hook_timeout", "1", "3600", "0", "3601");
	test_number("state_ttl", "4", "3650", "3", "3651");

	cfg = accepted("tolerance 600\nmax_body 2048\nhook_timeout 5\n"
	    "state_ttl 60\n", &d);
	if (cfg != NULL) {
		is_int(cfg->tolerance, 600, "tolerance value");
		is_int(cfg->max_body, 2048, "max_body value");
		is_int(cfg->hook_timeout, 5, "hook_timeout value");
		is_int(cfg->state_ttl, 60, "state_ttl value");
		is_int(d.nwarnings, 0, "state_ttl 60: no warning");
	}
	config_free(cfg);
	diag_free(&d);
	cfg = accepted("tolerance 007\n", &d);
	if (cfg != NULL)
		is_int(cfg->tolerance, 7, "leading zeros are decimal");
	config_free(cfg);
	diag_free(&d);

	cfg = accepted("state_ttl 29\n", &d);
	ok(cfg != NULL && has_warning(&d, "Dashboard resends reach 15 days, "
	    "CLI resends 30"), "state_ttl 29: warning");
	config_free(cfg);
	diag_free(&d);
	cfg = accepted("state_ttl 30\n", &d);
	is_int(d.nwarnings, 0, "state_ttl 30: no warning");
	config_free(cfg);
	diag_free(&d);
}

static void
test_hook_limits(void)
{
	struct sh_config *cfg;
	struct sh_diag	 d;

	cfg = accepted("hook_limits cpu=10 files=64 fsize=1048576\n", &d);
	if (cfg != NULL) {
		is_int(cfg->limit_cpu, 10, "cpu limit");
		is_int(cfg->limit_files, 64, "files limit");
		is_int(cfg->limit_fsize, 1048576, "fsize limit");
	}
	config_free(cfg);
	diag_free(&d);
	cfg = accepted("hook_limits files=5\n", &d);
	if (cfg != NULL) {
		is_int(cfg->limit_cpu, -1, "subset: cpu unset");
		is_int(cfg->limit_files, 5, "subset: files");
		is_int(cfg->limit_fsize, -1, "subset: fsize unset");
	}
	config_free(cfg);
	diag_free(&d);
	cfg = accepted("hook_limits fsize=1 cpu=1\n", &d);
	if (cfg != NULL) {
		is_int(cfg->limit_cpu, 1, "any order: cpu");
		is_int(cfg->limit_fsize, 1, "any order: fsize");
	}
	config_free(cfg);
	diag_free(&d);

	refused1("hook_limits cpu=0\n", "hook_limits cpu: 0 is outside "
	    "1-86400");
	refused1("hook_limits cpu=86401\n", "hook_limits cpu: 86401 is "
	    "outside 1-86400");
	refused1("hook_limits files=0\n", "hook_limits files: 0 is outside "
	    "1-1048576");
	refused1("hook_limits fsize=99999999999999999999\n", "hook_limits "
	    "fsize: 99999999999999999999 is outside 1-1099511627776");
	refused1("hook_limits cpu=-1\n", "hook_limits cpu: \"-1\" is not a "
	    "number");
	refused1("hook_limits cpu=\n", "hook_limits cpu: \"\" is not a "
	    "number");
	refused1("hook_limits cpu=10 cpu=20\n", "hook_limits: cpu given "
	    "twice");
	refused1("hook_limits mem=5\n", "hook_limits: \"mem=5\" is not "
	    "cpu=SECONDS, files=N or fsize=BYTES");
	refused1("hook_limits cpu\n", "hook_limits: \"cpu\" is not "
	    "cpu=SECONDS, files=N or fsize=BYTES");
	refused1("hook_limits\n", "hook_limits: missing value (hook_limits "
	    "[cpu=SECONDS] [files=N] [fsize=BYTES])");
	refused1("hook_limits cpu=1 files=1 fsize=1 cpu=1\n", "hook_limits: "
	    "too many values (hook_limits [cpu=SECONDS] [files=N] "
	    "[fsize=BYTES])");
	refused(2, "hook_limits cpu=1\nhook_limits files=1\n",
	    "hook_limits given twice (first on line 1)");
}

static void
test_words(void)
{
	struct sh_config *cfg;
	struct sh_diag	 d;

	/* secret_file */
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
	refused(2, "secret_file /a\n", "secret_file given twice (first on "
	    "line 1)");

	/* state_dir */
	cfg = accepted("state_dir none\n", &d);
	ok(cfg != NULL && cfg->state_dir == NULL, "state_dir none is NULL");
	ok(has_warning(&d, "state_dir none: de-duplication is off"),
	    "state_dir none warns");
	config_free(cfg);
	diag_free(&d);
	cfg = accepted("state_dir /srv/state\n", &d);
	if (cfg != NULL)
		is_str(cfg->state_dir, "/srv/state", "state_dir set");
	config_free(cfg);
	diag_free(&d);
	refused1("state_dir var/state\n", "state_dir: var/state is not an "
	    "absolute path");
	refused1("state_dir\n", "state_dir: missing value (state_dir "
	    "PATH|none)");
	refused1("state_dir /a /b\n", "state_dir: too many values (state_dir "
	    "PATH|none)");

	/* livemode */
	cfg = accepted("livemode test\n", &d);
	if (cfg != NULL)
		is_int(cfg->livemode, SH_LIVEMODE_TEST, "livemode test");
	config_free(cfg);
	diag_free(&d);
	cfg = accepted("livemode any\n", &d);
	if (cfg != NULL)
		is_int(cfg->livemode, SH_LIVEMODE_ANY, "livemode any");
	config_free(cfg);
	diag_free(&d);
	refused1("livemode Live\n", "livemode: \"Live\" is not live, test "
	    "or any");
	refused1("livemode true\n", "livemode: \"true\" is not live, test "
	    "or any");

	/* log */
	cfg = accepted("log syslog\n", &d);
	if (cfg != NULL)
		is_int(cfg->log_syslog, 1, "log syslog");
	config_free(cfg);
	diag_free(&d);
	cfg = accepted("log stderr\n", &d);
	if (cfg != NULL)
		is_int(cfg->log_syslog, 0, "log stderr");
	config_free(cfg);
	diag_free(&d);
	refused1("log file\n", "log: \"file\" is not stderr or syslog");

	/* user */
	cfg = accepted("user www-data\n", &d);
	if (cfg != NULL)
		is_str(cfg->user, "www-data", "user");
	config_free(cfg);
	diag_free(&d);
	refused1("user a b\n", "user: too many values (user NAME)");
	refused1("user\n", "user: missing value (user NAME)");
	refused(2, "user a\nuser b\n", "user given twice (first on line 1)");

	refused1("secret-file /a\n", "unknown key \"secret-file\"");
	refused1("Tolerance 5\n", "unknown key \"Tolerance\"");
}

static void
test_env(void)
{
	struct sh_config *cfg;
	struct sh_diag	 d;

	cfg = accepted("env B=1\nenv A_2=\nenv _c=x=y\nenv PATH=/opt/bin\n"
	    "env stripe_x=lower\n", &d);
	if (cfg != NULL) {
		is_int(cfg->nenv, 5, "five entries");
		is_str(cfg->env[0], "PATH=/opt/bin", "PATH replaced, first");
		is_str(cfg->env[1], "B=1", "env in file order");
		is_str(cfg->env[2], "A_2=", "empty value");
		is_str(cfg->env[3], "_c=x=y", "value is the rest of the word");
		is_str(cfg->env[4], "stripe_x=lower", "lowercase stripe_ ok");
		ok(cfg->env[5] == NULL, "env ends");
	}
	config_free(cfg);
	diag_free(&d);

	refused1("env STRIPE_X=1\n", "env: STRIPE_X: STRIPE_* names are "
	    "reserved");
	refused1("env STRIPE_EVENT_ID=evt\n", "env: STRIPE_EVENT_ID: "
	    "STRIPE_* names are reserved");
	refused1("env 1X=a\n", "env: \"1X\" is not a valid name");
	refused1("env X-Y=a\n", "env: \"X-Y\" is not a valid name");
	refused1("env =a\n", "env: \"\" is not a valid name");
	refused1("env NOVALUE\n", "env: \"NOVALUE\" is not NAME=VALUE");
	refused1("env A=1 B=2\n", "env: too many values (env NAME=VALUE)");
	refused1("env\n", "env: missing value (env NAME=VALUE)");
	refused(2, "env A=1\nenv A=2\n", "env A given twice (first on line 1)");
	refused(2, "env PATH=/a\nenv PATH=/b\n", "env PATH given twice (first "
	    "on line 1)");
	/* A prefix of another name is another name. */
	cfg = accepted("env AB=1\nenv A=2\n", &d);
	if (cfg != NULL)
		is_int(cfg->nenv, 3, "A and AB are different names");
	config_free(cfg);
	diag_free(&d);
}

static void
test_on(void)
{
	struct sh_config *cfg;
	struct sh_diag	 d;
	char		 text[1024], pat[300];

	cfg = accepted("on v1.billing.meter.error_report_triggered /bin/true\n"
	    "on a[b]*.9_z /bin/x a#b c\n", &d);
	if (cfg != NULL && cfg->nhooks == 2) {
		is_str(cfg->hooks[1].pattern, "a[b]*.9_z", "[ ] * in pattern");
		is_str(cfg->hooks[1].argv[1], "a#b", "a#b is a word");
		is_str(cfg->hooks[1].argv[2], "c", "last argument");
		is_int(d.nwarnings, 1, "2 hooks x 20 s warns");
	}
	config_free(cfg);
	diag_free(&d);

	refused1("on * bin/archive\n", "on: bin/archive is not an absolute "
	    "path");
	refused1("on Charge.* /bin/x\n", "on: \"Charge.*\" is not a pattern "
	    "(1-255 characters of a-z 0-9 _ . [ ] *)");
	refused1("on charge-x /bin/x\n", "on: \"charge-x\" is not a pattern "
	    "(1-255 characters of a-z 0-9 _ . [ ] *)");
	refused1("on *\n", "on: missing value (on PATTERN PROGRAM [ARG...])");
	refused1("on\n", "on: missing value (on PATTERN PROGRAM [ARG...])");

	memset(pat, 'a', 255);
	pat[255] = '\0';
	snprintf(text, sizeof(text), "on %s /bin/x\n", pat);
	config_free(accepted(text, &d));
	diag_free(&d);
	memset(pat, 'a', 256);
	pat[256] = '\0';
	snprintf(text, sizeof(text), "on %s /bin/x\n", pat);
	cfg = load(text, &d);
	ok(cfg == NULL && d.nerrors == 2, "256-character pattern refused");
	config_free(cfg);
	diag_free(&d);

	/* Identical on lines (blanks do not matter) name both lines. */
	cfg = load(SECRET_LINE "on * /bin/x a\non\t*  /bin/x   a\n", &d);
	ok(cfg == NULL && has_error(&d, "%s:3: on line identical to line 2",
	    cur), "identical on lines refused");
	config_free(cfg);
	diag_free(&d);
	cfg = accepted("on * /bin/x a\non * /bin/x b\non * /bin/x\n", &d);
	if (cfg != NULL)
		is_int(cfg->nhooks, 3, "same program, other arguments: fine");
	config_free(cfg);
	diag_free(&d);

	/* hooks x hook_timeout over 30 s warns. */
	cfg = accepted("on * /bin/x\n", &d);
	is_int(d.nwarnings, 0, "1 hook x 20 s: no warning");
	config_free(cfg);
	diag_free(&d);
	cfg = accepted("hook_timeout 30\non * /bin/x\n", &d);
	is_int(d.nwarnings, 0, "1 hook x 30 s: no warning");
	config_free(cfg);
	diag_free(&d);
	cfg = accepted("hook_timeout 31\non * /bin/x\n", &d);
	ok(has_warning(&d, "1 hooks x hook_timeout 31 s can exceed "
	    "Stripe's 30 s delivery timeout"), "1 hook x 31 s warns");
	config_free(cfg);
	diag_free(&d);
}

static void
test_syntax(void)
{
	struct sh_config *cfg;
	struct sh_diag	 d;
	char		 text[8192];

	cfg = accepted("# a comment\n   # indented comment\n\n  \t \n"
	    "tolerance 5 # trailing comment\n"
	    "max_body\t\t 9\t#tab then comment\n"
	    "#tolerance 6\n", &d);
	if (cfg != NULL) {
		is_int(cfg->tolerance, 5, "comment after a blank");
		is_int(cfg->max_body, 9, "tabs separate words");
	}
	config_free(cfg);
	diag_free(&d);
	refused1("tolerance 5#c\n", "tolerance: \"5#c\" is not a number");

	/* CRLF */
	cfg = load("secret_file /s\r\ntolerance 7\r\non * /bin/x a\r\n", &d);
	ok(cfg != NULL, "CRLF accepted");
	if (cfg != NULL) {
		is_str(cfg->secret_file, "/s", "CR stripped from a path");
		is_int(cfg->tolerance, 7, "CR stripped from a number");
		is_str(cfg->hooks[0].argv[1], "a", "CR stripped from an arg");
	}
	config_free(cfg);
	diag_free(&d);
	cfg = load("secret_file /s\ntolerance 7\r", &d);
	ok(cfg != NULL, "CR at end of file without LF accepted");
	config_free(cfg);
	diag_free(&d);
	cfg = load("secret_file /s", &d);
	ok(cfg != NULL, "last line without LF");
	config_free(cfg);
	diag_free(&d);

	/* Control bytes other than tab and a final CR. */
	refused1("tolerance 7\r\r\n", "control byte 0x0d");
	refused1("tolerance\r7\n", "control byte 0x0d");
	refused1("user a\x01" "b\n", "control byte 0x01");
	refused1("user ab\x7f\n", "control byte 0x7f");
	refused1("user a\vb\n", "control byte 0x0b");
	refused1("user a\fb\n", "control byte 0x0c");
	refused1("# comment \x1b[0m\n", "control byte 0x1b");
	memset(&d, 0, sizeof(d));
	cfg = config_load(mkfile_n(SECRET_LINE "user a\0b\n",
	    sizeof(SECRET_LINE "user a\0b\n") - 1, 0600), &d);
	ok(cfg == NULL && has_error(&d, "%s:2: control byte 0x00", cur),
	    "NUL byte refused");
	config_free(cfg);
	diag_free(&d);

	/* Bytes above 0x7f are not control bytes. */
	cfg = accepted("env GREETING=gr\xc3\xbc\xc3\x9f" "e\n", &d);
	ok(cfg != NULL, "UTF-8 in a value");
	config_free(cfg);
	diag_free(&d);

	/* Line length. */
	memset(text, 0, sizeof(text));
	memcpy(text, "user ", 5);
	memset(text + 5, 'u', SH_CONFIG_LINE_MAX - 5);
	strcat(text, "\n");
	config_free(accepted(text, &d));
	diag_free(&d);
	memset(text + 5, 'u', SH_CONFIG_LINE_MAX - 4);
	text[SH_CONFIG_LINE_MAX + 1] = '\n';
	text[SH_CONFIG_LINE_MAX + 2] = '\0';
	refused1(text, "line longer than 4096 bytes");
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
		    "errors in file order");
	}
	ok(has_warning(&d, "de-duplication is off"), "warnings still given");
	config_free(cfg);
	diag_free(&d);
}

static void
test_config_file(void)
{
	struct sh_config *cfg;
	struct sh_diag	 d;
	char		 missing[1200], want[1400];
	const char	*p;

	snprintf(missing, sizeof(missing), "%s/t_config.missing.%ld", tmpdir,
	    (long)getpid());
	memset(&d, 0, sizeof(d));
	cfg = config_load(missing, &d);
	snprintf(want, sizeof(want), "%s: %s", missing, strerror(ENOENT));
	ok(cfg == NULL && d.nerrors == 1, "missing config refused");
	if (d.nerrors == 1)
		is_str(d.errors[0], want, "  names the file and the reason");
	config_free(cfg);
	diag_free(&d);

	p = mkfile(SECRET_LINE, 0664);
	memset(&d, 0, sizeof(d));
	cfg = config_load(p, &d);
	ok(cfg == NULL && has_error(&d, "%s: group or others can write it",
	    p), "group-writable config refused");
	config_free(cfg);
	diag_free(&d);
	p = mkfile(SECRET_LINE, 0602);
	memset(&d, 0, sizeof(d));
	cfg = config_load(p, &d);
	ok(cfg == NULL && has_error(&d, "%s: group or others can write it",
	    p), "world-writable config refused");
	config_free(cfg);
	diag_free(&d);
	p = mkfile(SECRET_LINE, 0644);
	memset(&d, 0, sizeof(d));
	cfg = config_load(p, &d);
	ok(cfg != NULL, "0644 config accepted");
	config_free(cfg);
	diag_free(&d);

	memset(&d, 0, sizeof(d));
	cfg = config_load(tmpdir, &d);
	ok(cfg == NULL && has_error(&d, "%s: not a regular file", tmpdir),
	    "directory refused");
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
	ok(s.n == 0 && s.v == NULL, "  nothing loaded");
	if (line > 0)
		ok(has_error(&d, "%s:%d: %s", p, line, msg), "  error");
	else
		ok(has_error(&d, "%s: %s", p, msg), "  error");
	for (i = 0; i < d.nerrors; i++)
		if (strstr(d.errors[i], "whsec_") != NULL ||
		    strstr(d.errors[i], "SECRET") != NULL)
			leaked = 1;
	ok(!leaked, "  error does not contain the secret");
	secrets_free(&s);
	diag_free(&d);
}

#define S(lit)	lit, sizeof(lit) - 1

static void
test_secrets(void)
{
	struct sh_secrets s;
	struct sh_diag	 d;
	struct sh_config *cfg;
	char		 big[65538], text[2048];
	const char	*sp;

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

	secrets_bad(S("whsec_one\n"), 0644, "others can read it", 0);
	secrets_bad(S("whsec_one\n"), 0604, "others can read it", 0);
	secrets_bad(S("whsec_one\n"), 0660, "group or others can write it",
	    0);
	secrets_bad(S("whsec_one\n"), 0620, "group or others can write it",
	    0);
	secrets_bad(S("whsec_one\n"), 0602, "group or others can write it",
	    0);
	secrets_bad(S(""), 0600, "holds no secret", 0);
	secrets_bad(S("\n \r\n\t\n"), 0600, "holds no secret", 0);
	secrets_bad(S("whsec_ok\nwhsec_a b\n"), 0600,
	    "secret holds whitespace, control or non-ASCII bytes", 2);
	secrets_bad(S("whsec_a\tb\n"), 0600,
	    "secret holds whitespace, control or non-ASCII bytes", 1);
	secrets_bad(S("whsec_a\rb\n"), 0600,
	    "secret holds whitespace, control or non-ASCII bytes", 1);
	secrets_bad(S("whsec_ab\r \n"), 0600,
	    "secret holds whitespace, control or non-ASCII bytes", 1);
	secrets_bad(S("whsec_a\x01" "b\n"), 0600,
	    "secret holds whitespace, control or non-ASCII bytes", 1);
	secrets_bad(S("whsec_a\x7f\n"), 0600,
	    "secret holds whitespace, control or non-ASCII bytes", 1);
	secrets_bad(S("SECRET\0X\n"), 0600,
	    "secret holds whitespace, control or non-ASCII bytes", 1);
	secrets_bad(S("whsec_a\vb\n"), 0600,
	    "secret holds whitespace, control or non-ASCII bytes", 1);
	/* A pasted non-breaking space (U+00A0) and other non-ASCII bytes. */
	secrets_bad(S("whsec_a\xc2\xa0\n"), 0600,
	    "secret holds whitespace, control or non-ASCII bytes", 1);
	secrets_bad(S("whsec_\xff\n"), 0600,
	    "secret holds whitespace, control or non-ASCII bytes", 1);

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
	test_defaults();
	test_spec_example();
	test_numbers();
	test_receipt();
	test_hook_limits();
	test_words();
	test_env();
	test_on();
	test_syntax();
	test_several_errors();
	test_config_file();
	test_secrets();

	for (i = 0; i < nfiles; i++) {
		unlink(files[i]);
		free(files[i]);
	}
	return tap_done();
}
