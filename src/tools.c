/*
 * Operator tools of stripehook(8) that need no records: sign, verify,
 * check.  Exit status: 0 success, 1 a negative answer (invalid signature,
 * configuration errors), 2 usage or I/O error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "stripehook.h"

/* Bytes of a hook's start that execve(2) reads for its #! line. */
#define HOOK_HEAD_MAX	256

struct opts {
	const char	*cfgpath;
	const char	*secret_file;
	const char	*header;
	const char	*file;
	long long	 when;		/* --timestamp or --now; -1 unset */
};

/*
 * Parses the options a tool accepts (allowed: "c" config, "s" secret file,
 * "h" header, "t" timestamp, "n" now) and at most one FILE operand.
 * Returns 0, or -1 after printing why.
 */
static int
get_opts(int argc, char **argv, const char *allowed, const char *cfgpath,
    struct opts *o)
{
	static const struct option longopts[] = {
		{ "secret-file",	required_argument, NULL, 's' },
		{ "header",		required_argument, NULL, 'h' },
		{ "timestamp",		required_argument, NULL, 't' },
		{ "now",		required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch;

	memset(o, 0, sizeof(*o));
	o->cfgpath = cfgpath;
	o->when = -1;
	optind = 1;
	opterr = 1;
	while ((ch = getopt_long(argc, argv, "+c:", longopts, NULL)) != -1) {
		if (ch == '?' || strchr(allowed, ch) == NULL) {
			if (ch != '?')
				fprintf(stderr, "stripehook %s: option not "
				    "accepted here\n", argv[0]);
			return -1;
		}
		switch (ch) {
		case 'c':
			o->cfgpath = optarg;
			break;
		case 's':
			o->secret_file = optarg;
			break;
		case 'h':
			o->header = optarg;
			break;
		case 't':
		case 'n':
			/* SIGNATURES: t is [1-9][0-9]{0,17}. */
			if (parse_decimal(optarg, 1, 999999999999999999LL,
			    &o->when) != 0) {
				fprintf(stderr, "stripehook %s: bad time: "
				    "%s\n", argv[0], optarg);
				return -1;
			}
			break;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "stripehook %s: too many operands\n", argv[0]);
		return -1;
	}
	if (argc - optind == 1)
		o->file = argv[optind];
	if (o->secret_file != NULL && o->cfgpath != NULL) {
		fprintf(stderr, "stripehook %s: -c and --secret-file "
		    "exclude each other\n", argv[0]);
		return -1;
	}
	return 0;
}

/*
 * Secrets from --secret-file, else from the configuration's secret_file.
 * *tolerance gets the configuration's (or the default).  Returns 0, or 1
 * after printing the configuration errors.
 */
static int
load_secrets(const struct opts *o, struct sh_secrets *sec, long *tolerance)
{
	struct sh_diag		 diag;
	struct sh_config	*cfg;
	int			 rc = 1;

	*tolerance = SH_DEFAULT_TOLERANCE;
	if (o->secret_file == NULL) {
		if ((cfg = config_load_report(o->cfgpath, SH_LOAD_SECRETS,
		    NULL)) == NULL)
			return 1;
		*sec = cfg->secrets;
		memset(&cfg->secrets, 0, sizeof(cfg->secrets));
		*tolerance = cfg->tolerance;
		config_free(cfg);
		return 0;
	}
	memset(&diag, 0, sizeof(diag));
	if (secrets_load(o->secret_file, sec, &diag) == 0)
		rc = 0;
	else
		diag_print(&diag, SH_LOAD_WARNINGS);
	diag_free(&diag);
	return rc;
}

/* The payload from FILE or stdin, byte for byte.  0, or 2 after saying. */
static int
load_payload(const char *file, struct sh_buf *b)
{
	int	 fd = STDIN_FILENO, rc = 0;

	if (file != NULL &&
	    (fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "stripehook: %s: %s\n", file, strerror(errno));
		return 2;
	}
	if (read_fd_all(fd, b, SH_MAX_MAX_BODY) == -1) {
		fprintf(stderr, "stripehook: %s: %s\n",
		    file ? file : "stdin", strerror(errno));
		rc = 2;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

int
tool_sign(int argc, char **argv, const char *cfgpath)
{
	struct opts		 o;
	struct sh_secrets	 sec = { NULL, 0 };
	struct sh_buf		 payload, out;
	char			 t[32], hex[65];
	long			 tol;
	size_t			 i;
	int			 rc;

	if (get_opts(argc, argv, "cst", cfgpath, &o) == -1)
		return 2;
	if ((rc = load_secrets(&o, &sec, &tol)) != 0)
		return rc;
	buf_init(&payload);
	buf_init(&out);
	if ((rc = load_payload(o.file, &payload)) != 0)
		goto out;
	snprintf(t, sizeof(t), "%lld",
	    o.when >= 0 ? o.when : (long long)time(NULL));
	buf_printf(&out, "t=%s", t);
	for (i = 0; i < sec.n; i++) {
		if (sig_hmac_hex(sec.v[i].buf, sec.v[i].len, t, strlen(t),
		    (const unsigned char *)payload.p, payload.len, hex) == -1) {
			fprintf(stderr, "stripehook sign: HMAC failed\n");
			rc = 2;
			goto out;
		}
		buf_printf(&out, ",v1=%s", hex);
	}
	buf_puts(&out, "\n");
	if (fwrite(out.p, 1, out.len, stdout) != out.len || fflush(stdout)) {
		fprintf(stderr, "stripehook sign: %s\n", strerror(errno));
		rc = 2;
	}
out:
	buf_free(&payload);
	buf_free(&out);
	secrets_free(&sec);
	sig_cleanup();
	return rc;
}

int
tool_verify(int argc, char **argv, const char *cfgpath)
{
	struct opts		 o;
	struct sh_secrets	 sec = { NULL, 0 };
	struct sh_buf		 payload;
	enum sh_err		 err;
	long			 tol;
	int			 rc;

	if (get_opts(argc, argv, "cshn", cfgpath, &o) == -1)
		return 2;
	if (o.header == NULL) {
		fprintf(stderr, "stripehook verify: --header is required\n");
		return 2;
	}
	if ((rc = load_secrets(&o, &sec, &tol)) != 0)
		return rc;
	buf_init(&payload);
	if ((rc = load_payload(o.file, &payload)) == 0) {
		err = sig_verify(&sec, o.header, strlen(o.header),
		    (const unsigned char *)payload.p, payload.len,
		    o.when >= 0 ? (time_t)o.when : time(NULL), tol);
		if (err != SH_OK) {
			fprintf(stderr, "%s\n", sh_err_string(err));
			rc = 1;
		}
	}
	buf_free(&payload);
	secrets_free(&sec);
	sig_cleanup();
	return rc;
}

/*
 * Whether the user (uid, with its groups) may access path with mode bits
 * want (a combination of 4, 2, 1), judged from the file's mode as the
 * kernel would; root may do anything but execute a file with no x bit.
 */
static int
may_access(const struct stat *st, uid_t uid, const gid_t *groups, int ngroups,
    int want)
{
	int	 bits, i;

	if (uid == 0) {
		if ((want & 1) && !S_ISDIR(st->st_mode) &&
		    (st->st_mode & 0111) == 0)
			return 0;
		return 1;
	}
	if (st->st_uid == uid)
		bits = (st->st_mode >> 6) & 7;
	else {
		bits = st->st_mode & 7;
		for (i = 0; i < ngroups; i++)
			if (groups[i] == st->st_gid) {
				bits = (st->st_mode >> 3) & 7;
				break;
			}
	}
	return (bits & want) == want;
}

/*
 * Whether execve(2) can start prog, which the user may execute: an ELF
 * binary, or a script whose first line is #! and an interpreter that
 * exists and the user may execute.  0, or -1 with the reason in why.  A
 * file check cannot read (execute-only) is given the benefit of the doubt.
 */
static int
hook_startable(const char *prog, uid_t uid, const gid_t *groups, int ngroups,
    char *why, size_t whylen)
{
	char		 head[HOOK_HEAD_MAX + 1], *interp, *end;
	struct stat	 st;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(prog, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		return 0;
	while ((n = read(fd, head, HOOK_HEAD_MAX)) == -1 && errno == EINTR)
		continue;
	(void)close(fd);
	if (n == -1)
		return 0;
	head[n] = '\0';
	if (n >= 4 && memcmp(head, "\177ELF", 4) == 0)
		return 0;
	if (n < 2 || head[0] != '#' || head[1] != '!') {
		snprintf(why, whylen, "neither a #! script nor an ELF binary "
		    "(execve cannot start it)");
		return -1;
	}
	for (interp = head + 2; *interp == ' ' || *interp == '\t'; interp++)
		continue;
	end = interp + strcspn(interp, " \t\n");
	*end = '\0';
	if (*interp == '\0') {
		snprintf(why, whylen, "#! names no interpreter");
		return -1;
	}
	if (stat(interp, &st) == -1)
		snprintf(why, whylen, "interpreter %s: %s", interp,
		    strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(why, whylen, "interpreter %s: not a regular file",
		    interp);
	else if (!may_access(&st, uid, groups, ngroups, 1))
		snprintf(why, whylen, "interpreter %s: cannot be executed",
		    interp);
	else
		return 0;
	return -1;
}

/*
 * Whom check checks for: the user hooks run as, `user` when set, else
 * whoever runs check.  0 with *pwp set (getpwnam's static entry), or -1
 * after adding the error to diag.
 */
static int
check_who(const struct sh_config *cfg, struct sh_diag *diag,
    struct passwd **pwp)
{
	struct passwd	*pw;

	if (cfg->user != NULL) {
		if ((pw = getpwnam(cfg->user)) == NULL) {
			diag_error(diag, "%s: user %s does not exist",
			    cfg->path, cfg->user);
			return -1;
		}
		if (pw->pw_uid == 0)
			diag_error(diag, "%s: user must not be root",
			    cfg->path);
	} else if ((pw = getpwuid(geteuid())) == NULL) {
		diag_error(diag, "%s: cannot look up the current user",
		    cfg->path);
		return -1;
	}
	*pwp = pw;
	return 0;
}

int
tool_check(int argc, char **argv, const char *cfgpath)
{
	struct opts		 o;
	struct sh_diag		 diag;
	struct sh_config	*cfg;
	struct passwd		*pw;
	struct stat		 st;
	gid_t			 groups[256];
	int			 ngroups = 256, rc = 1;
	uid_t			 uid;
	const char		*who, *path;
	char			 why[HOOK_HEAD_MAX + 64];
	size_t			 i, nerrors;

	if (get_opts(argc, argv, "c", cfgpath, &o) == -1 || o.file != NULL)
		return 2;
	memset(&diag, 0, sizeof(diag));
	if ((cfg = config_load_report(o.cfgpath, SH_LOAD_SECRETS |
	    SH_LOAD_WARNINGS | SH_LOAD_PARTIAL, &nerrors)) == NULL)
		goto out;
	path = cfg->path;

	if (check_who(cfg, &diag, &pw) == -1)
		goto out;
	uid = pw->pw_uid;
	who = pw->pw_name;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &ngroups) == -1)
		ngroups = 0;

	if (cfg->database != NULL)	/* reachable, schema current */
		pg_check(cfg, &diag);
	if (cfg->state_dir != NULL) {
		if (stat(cfg->state_dir, &st) == -1)
			diag_error(&diag, "%s: state_dir %s: %s", path,
			    cfg->state_dir, strerror(errno));
		else if (!S_ISDIR(st.st_mode))
			diag_error(&diag, "%s: state_dir %s: not a directory",
			    path, cfg->state_dir);
		else if (!may_access(&st, uid, groups, ngroups, 7))
			diag_error(&diag, "%s: state_dir %s: %s cannot "
			    "write it", path, cfg->state_dir, who);
	}
	for (i = 0; i <= cfg->nhooks; i++) {
		const struct sh_hook *h = i < cfg->nhooks ? &cfg->hooks[i] :
		    cfg->on_failure;	/* checked like a hook */
		const char *prog;

		if (h == NULL)
			break;
		prog = h->argv[0];
		if (stat(prog, &st) == -1)
			diag_error(&diag, "%s:%u: %s: %s", path,
			    h->line, prog, strerror(errno));
		else if (!S_ISREG(st.st_mode))
			diag_error(&diag, "%s:%u: %s: not a regular file",
			    path, h->line, prog);
		else if (!may_access(&st, uid, groups, ngroups, 1))
			diag_error(&diag, "%s:%u: %s: %s cannot execute it",
			    path, h->line, prog, who);
		else if (hook_startable(prog, uid, groups, ngroups, why,
		    sizeof(why)) == -1)
			diag_error(&diag, "%s:%u: %s: %s", path,
			    h->line, prog, why);
	}
	if (nerrors == 0 && diag.nerrors == 0)
		rc = 0;
out:
	diag_print(&diag, SH_LOAD_WARNINGS);
	if (rc == 0)
		printf("configuration OK\n");
	diag_free(&diag);
	if (cfg != NULL)
		config_free(cfg);
	return rc;
}
