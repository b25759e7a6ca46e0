/*
 * stripehook: receives Stripe webhook events behind a web server, verifies
 * them and runs the operator's hooks.  Private interfaces shared by the
 * modules; everything else in a module is static.
 */
#ifndef STRIPEHOOK_H
#define STRIPEHOOK_H

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct json_object;

/* Installation directories (set by the build; these for a bare compile). */
#ifndef SH_SYSCONFDIR
#define SH_SYSCONFDIR		"/etc"
#endif
#ifndef SH_LOCALSTATEDIR
#define SH_LOCALSTATEDIR	"/var"
#endif

/* ---- Limits (each is stated in stripehook(8) / stripehook.conf(5)) ---- */
#define SH_DEFAULT_TOLERANCE	300		/* seconds */
#define SH_MAX_TOLERANCE	86400
#define SH_DEFAULT_MAX_BODY	1048576		/* bytes */
#define SH_MAX_MAX_BODY		67108864
#define SH_DEFAULT_HOOK_TIMEOUT	20		/* seconds */
#define SH_MAX_HOOK_TIMEOUT	3600
#define SH_DEFAULT_STATE_TTL	30		/* days */
#define SH_MIN_STATE_TTL	4
#define SH_MAX_STATE_TTL	3650
#define SH_WARN_STATE_TTL	30
#define SH_SIG_HEADER_MAX	8192		/* bytes of Stripe-Signature */
#define SH_SIG_ITEMS_MAX	64
#define SH_SIG_T_DIGITS_MAX	18
#define SH_SIG_HEX_LEN		64
#define SH_JSON_DEPTH		64
#define SH_BODY_IDLE_TIMEOUT	30		/* seconds without progress */
#define SH_FCGI_HEADER_TIMEOUT	30		/* FastCGI: seconds from accept
						 * to a request's header */
#define SH_FCGI_BODY_DEADLINE	60		/* FastCGI: seconds for a body */
#define SH_DRAIN_MAX		67108864	/* bytes drained before an early answer */
#define SH_ID_MAX		255
#define SH_TYPE_MAX		255
#define SH_HOOK_LINE_MAX	1024		/* bytes of one logged output line */
#define SH_HOOK_OUTPUT_MAX	65536		/* bytes logged from one hook run */
#define SH_HOOK_KILL_GRACE	2		/* seconds from SIGTERM to SIGKILL */
#define SH_ENV_VALUE_MAX	256		/* STRIPE_* values are shorter */
#define SH_DEFAULT_PATH		"/usr/local/bin:/usr/bin:/bin"
#define SH_DEFAULT_WORKERS	4
#define SH_CONFIG_LINE_MAX	4096
/* ack receipt (stripehook.conf(5)) */
#define SH_DEFAULT_RETRY_MIN	30		/* seconds */
#define SH_MAX_RETRY_MIN	86400
#define SH_DEFAULT_RETRY_MAX	3600
#define SH_MAX_RETRY_MAX	604800
#define SH_DEFAULT_RETRY_FOR	259200		/* three days, as Stripe */
#define SH_MIN_RETRY_FOR	60
#define SH_MAX_RETRY_FOR	2592000
#define SH_DEFAULT_RUNNERS	1
#define SH_MAX_RUNNERS		64
/* PostgreSQL store (stripehook.conf(5) database) */
#define SH_DEFAULT_DB_TIMEOUT	5		/* seconds */
#define SH_MAX_DB_TIMEOUT	60
#define SH_DB_SCHEMA_VERSION	1		/* what `stripehook migrate` makes */

/* ---- Errors: one table decides status and message (errors.c) ---- */
enum sh_err {
	SH_OK = 0,
	SH_E_CONFIG,		/* 500 internal error */
	SH_E_METHOD,		/* 405 method not allowed */
	SH_E_LENGTH_REQUIRED,	/* 411 length required */
	SH_E_BAD_LENGTH,	/* 400 bad content length */
	SH_E_TOO_LARGE,		/* 413 body too large */
	SH_E_INCOMPLETE,	/* 400 incomplete body */
	SH_E_NO_SIG,		/* 400 missing signature */
	SH_E_MALFORMED_SIG,	/* 400 malformed signature */
	SH_E_NO_V1,		/* 400 no v1 signature */
	SH_E_SIG_MISMATCH,	/* 400 signature mismatch */
	SH_E_TOLERANCE,		/* 400 timestamp outside tolerance */
	SH_E_JSON,		/* 400 invalid json */
	SH_E_NOT_EVENT,		/* 400 not an event */
	SH_E_EVENT_ID,		/* 400 invalid event id */
	SH_E_EVENT_TYPE,	/* 400 invalid event type */
	SH_E_IN_PROGRESS,	/* 409 event in progress */
	SH_E_STATE,		/* 500 internal error (records) */
	SH_E_HOOK,		/* 500 hook failed */
	SH_E__MAX
};
int		 sh_err_status(enum sh_err);	/* HTTP status */
const char	*sh_err_reason(enum sh_err);	/* HTTP reason phrase */
/* The error string stripehook(8) REQUESTS gives for the outcome. */
const char	*sh_err_string(enum sh_err);

/* ---- Growable buffer (buf.c) ---- */
struct sh_buf {
	char	*p;	/* always NUL-terminated when len > 0 or after any append */
	size_t	 len;
	size_t	 cap;
};
void	buf_init(struct sh_buf *);
void	buf_free(struct sh_buf *);		/* cleanses before freeing */
void	buf_reset(struct sh_buf *);		/* len = 0, keeps memory */
int	buf_append(struct sh_buf *, const void *, size_t);	/* 0 or -1 */
int	buf_puts(struct sh_buf *, const char *);
int	buf_printf(struct sh_buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Appends src with C-style escapes: \\ \" \n \r \t, \xHH for other bytes
 * below 0x20, 0x7f and above, and for space; so the result is one word. */
int	buf_escape(struct sh_buf *, const char *src, size_t len);
/* The same for inside a quoted value: spaces stay as they are. */
int	buf_qescape(struct sh_buf *, const char *src, size_t len);
/* Writes the 2 * len lowercase hex digits of in and a NUL to out, which
 * holds 2 * len + 1 bytes. */
void	hex_encode(const unsigned char *in, size_t len, char *out);

/* ---- Logging (log.c) ---- */
void	log_init(const char *ident);
void	log_use_syslog(int);		/* 0: stderr (default), 1: syslog daemon */
void	log_warn(const char *, ...)	/* appends strerror(errno) */
	    __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	log_line(int priority, const char *line);	/* one preformatted line */
__attribute__((noreturn)) void fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2)));

/* ---- Secrets and configuration (config.c, secrets.c) ---- */
struct sh_secret {
	unsigned char	*buf;	/* exactly as written, whsec_ prefix included */
	size_t		 len;	/* never 0 */
};
struct sh_secrets {
	struct sh_secret *v;
	size_t		  n;
};

struct sh_hook {
	char	 *pattern;
	char	**argv;		/* argv[0] is the program path; NULL-terminated */
	char	 *identity;	/* the on line's words joined by single spaces */
	unsigned  line;
};

enum sh_livemode { SH_LIVEMODE_ANY = 0, SH_LIVEMODE_LIVE, SH_LIVEMODE_TEST };
enum sh_ack { SH_ACK_HOOKS = 0, SH_ACK_RECEIPT };

struct sh_config {
	char		*path;		/* the configuration file */
	char		*secret_file;
	long		 tolerance;
	size_t		 max_body;
	long		 hook_timeout;
	long		 limit_cpu;	/* -1: unset */
	long		 limit_files;	/* -1: unset */
	long long	 limit_fsize;	/* -1: unset */
	char		*state_dir;	/* NULL: de-duplication off ("none") */
	long		 state_ttl;	/* days */
	enum sh_livemode livemode;
	int		 log_syslog;
	char		*user;		/* NULL: unset */
	char		**env;		/* "NAME=VALUE", NULL-terminated; includes
					 * PATH (default or from an env line) */
	size_t		 nenv;
	struct sh_hook	*hooks;
	size_t		 nhooks;
	struct sh_secrets secrets;	/* empty until config_load_secrets() */
	enum sh_ack	 ack;
	long		 retry_min;	/* seconds */
	long		 retry_max;
	long		 retry_for;
	int		 runners;	/* events one runner runs at once */
	struct sh_hook	*on_failure;	/* NULL: unset; identity "on_failure
					 * PROGRAM [ARG...]", no pattern */
	char		*database;	/* libpq conninfo; NULL: records in
					 * state_dir (then state_dir is NULL) */
	long		 database_timeout;	/* seconds */
};

/* Records are kept (de-duplication on): in state_dir or in the database. */
#define records_on(cfg)	((cfg)->state_dir != NULL || (cfg)->database != NULL)

/* Diagnostics collected while loading: each error is "FILE:LINE: message"
 * (or "FILE: message"), each warning a plain message. */
struct sh_diag {
	char	**errors;
	size_t	  nerrors;
	char	**warnings;
	size_t	  nwarnings;
};
void	diag_error(struct sh_diag *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	diag_warning(struct sh_diag *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	diag_free(struct sh_diag *);

/* The configuration path: -c value if given, else $STRIPEHOOK_CONFIG if
 * set and non-empty, else the compiled-in default. */
const char *config_default_path(void);

/* Parses the file.  Returns a new config (owned by the caller, free with
 * config_free) or NULL with at least one error in diag.  Does not read the
 * secret file.  Warnings (state_dir none, state_ttl under 30, hooks times
 * hook_timeout over 30 s) are added to diag. */
struct sh_config *config_load(const char *path, struct sh_diag *diag);
/* Reads cfg->secret_file into cfg->secrets with read(2), applying the
 * permission and content rules of stripehook.conf(5) SECRET FILE (secrets.c).
 * 0 on success; -1 with an error in diag.  A secret without the whsec_
 * prefix adds a warning. */
int	config_load_secrets(struct sh_config *cfg, struct sh_diag *diag);
/* Same rules, any file, into *out (used by sign/verify --secret-file). */
int	secrets_load(const char *path, struct sh_secrets *out, struct sh_diag *);
void	secrets_free(struct sh_secrets *);	/* cleanses */
void	config_free(struct sh_config *);	/* cleanses secrets */

/* Flags of config_load_report and diag_print. */
#define SH_LOAD_SECRETS		0x01	/* also read the secret file */
#define SH_LOAD_WARNINGS	0x02	/* print the warnings, not only errors */
#define SH_LOAD_LOG		0x04	/* through log_warnx, not on stderr */
#define SH_LOAD_PARTIAL		0x08	/* return a configuration whose secrets
					 * failed (for check) */
/* Prints each error as is ("FILE:LINE: message") and, with
 * SH_LOAD_WARNINGS, each warning as "warning: message": on stderr, or with
 * SH_LOAD_LOG through log_warnx. */
void	diag_print(const struct sh_diag *, int flags);
/*
 * The one way a command or a server loads its configuration and says what
 * is wrong with it.  path NULL means config_default_path().  Loads the
 * file and, with SH_LOAD_SECRETS, its secret file; prints the diagnostics
 * as diag_print does.  Returns the configuration (the caller frees it with
 * config_free), or NULL when the file or (without SH_LOAD_PARTIAL) its
 * secrets are unusable; *nerrors, when not NULL, gets the number of
 * errors (at least 1 when NULL is returned).
 */
struct sh_config *config_load_report(const char *path, int flags,
	    size_t *nerrors);
/* The same load without printing: the diagnostics go to *diag (set up
 * here; the caller frees it with diag_free), for a caller that logs them
 * its own way (the CGI program and the FastCGI app keep the first error
 * for each request's log line).  NULL comes with at least one error in
 * diag unless memory ran out. */
struct sh_config *config_load_diag(const char *path, int flags,
	    struct sh_diag *diag);

/* ---- Signature (sig.c): pure, no I/O ---- */
struct sh_sighdr {
	const char	*t;		/* points into the header */
	size_t		 tlen;
	long long	 tval;
	const char	*v1[SH_SIG_ITEMS_MAX];
	size_t		 v1len[SH_SIG_ITEMS_MAX];
	size_t		 nv1;
};
/* The header grammar of stripehook(8) SIGNATURES.  SH_OK, SH_E_NO_SIG
 * (NULL or empty), SH_E_MALFORMED_SIG, SH_E_NO_V1. */
enum sh_err sig_parse(const char *hdr, size_t len, struct sh_sighdr *out);
/* Lowercase hex HMAC-SHA256 of "t.body" under key; out gets 64 chars and a
 * NUL.  0 or -1 (OpenSSL failure; never for valid input). */
int	sig_hmac_hex(const unsigned char *key, size_t keylen, const char *t,
	    size_t tlen, const unsigned char *body, size_t len, char out[65]);
/* The whole check of SIGNATURES in order: parse, match (constant time, any v1,
 * any secret), then tolerance against now.  Returns SH_OK or the first
 * failing error (SH_E_NO_SIG ... SH_E_TOLERANCE). */
enum sh_err sig_verify(const struct sh_secrets *, const char *hdr,
	    size_t hdrlen, const unsigned char *body, size_t len, time_t now,
	    long tolerance);
void	sig_cleanup(void);		/* frees the cached EVP_MAC */

/* ---- Event (event.c): pure, no I/O ---- */
struct sh_event {
	struct json_object *root;	/* owned; the rest borrow from it */
	const char	*id;
	const char	*type;
	const char	*object;	/* "event" or "v2.core.event" */
	int		 livemode;	/* -1 absent or not boolean, 0, 1 */
	/* Hook environment values; NULL when absent or unfit (HOOKS). */
	const char	*created;	/* points to created_buf or the JSON */
	char		 created_buf[32];
	const char	*api_version;
	const char	*account;
	const char	*object_id;
	const char	*object_type;
};
/* stripehook(8) EVENTS: "invalid json" to "invalid event type".  On SH_OK
 * ev must be freed with event_free; on error ev holds nothing to free. */
enum sh_err event_parse(const unsigned char *body, size_t len,
	    struct sh_event *ev);
void	event_free(struct sh_event *);
/* 1 unless "invalid event id", "invalid event type". */
int	event_id_valid(const char *, size_t);
int	event_type_valid(const char *, size_t);

/* ---- Hooks (hook.c) ---- */
/* 1 when pattern (HOOKS: '*' any run, nothing else special) matches the
 * whole type. */
int	hook_match(const char *pattern, const char *type);

struct sh_hook_result {
	int	 ok;		/* 1: exited 0 */
	int	 spawned;	/* 0: could not start (logged) */
	int	 status;	/* waitpid status when spawned */
	int	 timed_out;
	int	 lost;		/* killed: the guard's lock was lost */
	double	 seconds;
};
/* Runs one hook for the event with body on stdin, logging its output
 * (tagged with the event id and hook identity), enforcing hook_timeout and
 * hook_limits; reaps every child it made.  Returns 0 if the hook exited 0,
 * else -1.  Never returns in the child. */
int	hook_run(const struct sh_config *, const struct sh_hook *,
	    const struct sh_event *, const unsigned char *body, size_t len,
	    struct sh_hook_result *);
/* A check hook_run makes every interval_ms while a hook runs (the
 * PostgreSQL store's session that holds the event's lock): when fn returns
 * -1 the hook's process group is killed at once, and the hook has failed
 * ("session-lost").  fn NULL: none. */
void	hook_guard(int (*fn)(void *), void *arg, int interval_ms);
/* Describes a result for the log: "ok", "exit=3", "signal=9",
 * "timeout", "session-lost", "spawn-failed". */
const char *hook_result_word(const struct sh_hook_result *, char *, size_t);

/* ---- De-duplication records (state.c), stripehook(8) DELIVERY ---- */
struct sh_state;
struct pg_event;
/* Locks the event (flock, non-blocking) under cfg->state_dir.
 * SH_OK: *out is an open handle; SH_E_IN_PROGRESS: another delivery holds
 * it; SH_E_STATE: records cannot be read or written (logged). */
enum sh_err state_open(const struct sh_config *, const char *event_id,
	    struct sh_state **out);
/* 1 when a success record exists for the hook, 0 when not, -1 on error. */
int	state_hook_done(struct sh_state *, const struct sh_hook *);
/* Keeps the raw payload durably (for replay) while hooks are unfinished. */
enum sh_err state_keep_payload(struct sh_state *, const unsigned char *,
	    size_t);
/* Records the hook's success durably (file and directory synced). */
enum sh_err state_record(struct sh_state *, const struct sh_hook *);
/* All matching hooks succeeded: drop the kept payload. */
enum sh_err state_finish(struct sh_state *);
void	state_close(struct sh_state *);		/* unlocks, frees */
/* For the tools: opens an existing event without creating anything (SH_OK
 * with *out NULL: unknown event), optionally locked. */
enum sh_err state_open_existing(const struct sh_config *, const char *,
	    int lock, struct sh_state **out);
/* The kept payload: 1 kept (into buf), 0 not kept, -1 error. */
int	state_payload(struct sh_state *, struct sh_buf *, size_t max);
/* Calls fn for each success record; 0 or -1. */
int	state_records(struct sh_state *,
	    int (*fn)(void *, const char *identity, time_t when), void *arg);
/* Drops the record of one hook (identity) or all (NULL): 1, 0 none, -1. */
int	state_forget(struct sh_state *, const char *identity);
/* Drops events older than state_ttl that no delivery holds. */
enum sh_err state_prune(const struct sh_config *, time_t now,
	    unsigned *removed, unsigned *busy);

/* What the queue shares of an event: its directory, created when missing,
 * without the event's lock; the open directory; the id. */
enum sh_err state_open_unlocked(const struct sh_config *, const char *,
	    struct sh_state **out);
int	state_dirfd(const struct sh_state *);
const char *state_event_id(const struct sh_state *);
struct pg_event *state_pg(const struct sh_state *);	/* NULL: files */

/*
 * ---- The queue of ack receipt (queue.c), stripehook(8) ACK ON RECEIPT ----
 *
 * With state_open..state_close above, the records interface: request
 * handling (deliver.c), the runner (runner.c) and the tools reach the
 * records only through these functions, so another store can stand in
 * for the files by implementing the same list.  A queued event is its
 * kept payload (state_keep_payload) plus a queue entry.
 */
struct sh_queued {
	int	 attempts;	/* failed attempts since queued or revived */
	time_t	 first;		/* first queued */
	time_t	 next;		/* next attempt due */
	int	 dead;		/* no more automatic attempts */
	char	 last[32];	/* last result ("exit=1", ...), "" none */
};
/* The short lock on the event's queue entry that requests and runners
 * take to read and change it (never held across a hook).  An fd to give
 * to queue_unlock, or -1 (logged). */
int	queue_lock(struct sh_state *);
void	queue_unlock(int);
/* The event's queue entry: 1 queued (into *q), 0 not queued, -1 error. */
int	queue_get(const struct sh_config *, const char *id, struct sh_queued *);
/* Writes the entry durably (file and directory synced); runners are
 * woken.  SH_OK or SH_E_STATE (logged). */
enum sh_err queue_put(const struct sh_config *, const char *id,
	    const struct sh_queued *);
/* The event left the queue (handled).  SH_OK or SH_E_STATE. */
enum sh_err queue_drop(const struct sh_config *, const char *id);
/* Calls fn for every queue entry; fn returning -1 stops.  0 or -1. */
int	queue_each(const struct sh_config *,
	    int (*fn)(void *, const char *id, const struct sh_queued *),
	    void *arg);
/* 1 when a runner (or a tool) holds the event's lock now, 0 when not. */
int	queue_busy(const struct sh_config *, const char *id);
/* A descriptor that becomes readable when the queue changes, or -1
 * (logged); queue_changed calls fn with the id of each changed entry and
 * returns 1 when changes were lost (then rescan with queue_each), 0, or -1
 * on error. */
int	queue_watch(const struct sh_config *);
int	queue_changed(int fd, void (*fn)(void *, const char *id), void *arg);

/* ---- Counters for `stripehook metrics` (metrics.c) ---- */
void	metrics_request(const struct sh_config *, int status, int verified);
void	metrics_hook(const struct sh_config *, int ok);
void	metrics_flush(const struct sh_config *);

/*
 * ---- The PostgreSQL store (pgstore.c), stripehook.conf(5) database ----
 *
 * The second implementation of the records interface above: state.c,
 * queue.c and metrics.c hand over to these when cfg->database is set, so
 * their callers never know which store they talk to.  Built without libpq
 * (configure --without-postgresql), each fails and says so.
 */
struct pg_event;
/* What pg_queue_lock returns for queue_unlock: above any descriptor. */
#define SH_PG_QLOCK_TOKEN	INT_MAX
/* NULL when conninfo is acceptable (libpq parses it, holds no password),
 * else a static message. */
const char *pg_conninfo_problem(const char *conninfo);
enum sh_err pg_event_open(const struct sh_config *, const char *id,
	    int create, int lock, struct pg_event **out);
void	pg_event_close(struct pg_event *);
int	pg_hook_done(struct pg_event *, const struct sh_hook *);
enum sh_err pg_keep_payload(struct pg_event *, const unsigned char *,
	    size_t);
enum sh_err pg_record(struct pg_event *, const struct sh_hook *);
enum sh_err pg_finish(struct pg_event *);
int	pg_payload(struct pg_event *, struct sh_buf *, size_t max);
int	pg_records(struct pg_event *,
	    int (*fn)(void *, const char *identity, time_t when), void *arg);
int	pg_forget(struct pg_event *, const char *identity);
enum sh_err pg_prune(const struct sh_config *, time_t now,
	    unsigned *removed, unsigned *busy);
int	pg_each_unfinished(const struct sh_config *,
	    int (*fn)(void *, const char *id, time_t first), void *arg);
int	pg_queue_lock(const char *id);
void	pg_queue_unlock(int);
int	pg_queue_get(const struct sh_config *, const char *,
	    struct sh_queued *);
enum sh_err pg_queue_put(const struct sh_config *, const char *,
	    const struct sh_queued *);
enum sh_err pg_queue_drop(const struct sh_config *, const char *);
int	pg_queue_each(const struct sh_config *,
	    int (*fn)(void *, const char *, const struct sh_queued *), void *);
int	pg_queue_busy(const struct sh_config *, const char *);
int	pg_queue_watch(const struct sh_config *);
/* 1 when fd is the descriptor pg_queue_watch gave. */
int	pg_is_watch(int fd);
int	pg_queue_changed(int fd, void (*fn)(void *, const char *), void *);
void	pg_metrics_request(const struct sh_config *, int status,
	    int verified);
void	pg_metrics_hook(const struct sh_config *, int ok);
void	pg_metrics_flush(const struct sh_config *);
/* This host's counters and the database's last event time: 0 or -1. */
int	pg_metrics_read(const struct sh_config *, uint64_t *last_event,
	    uint64_t *hook_ok, uint64_t *hook_failed, const int *statuses,
	    uint64_t *requests, size_t nstatus);
/* Errors about the database for `check` (reachable, schema) into diag. */
void	pg_check(const struct sh_config *, struct sh_diag *);
int	tool_migrate(int argc, char **argv, const char *cfgpath);

/* ---- Delivery (deliver.c) ---- */
/* Set in a runner's attempt process on SIGTERM: no further hook starts. */
extern volatile sig_atomic_t deliver_stopping;
/* ack receipt: queues a verified event that some hook matches.  *answer
 * set to 1 duplicate, 2 queued.  SH_OK or SH_E_STATE. */
enum sh_err deliver_queue(const struct sh_config *, const struct sh_event *,
	    const unsigned char *body, size_t len, int *answer,
	    struct sh_buf *logtail);
/* One attempt at a queued event under its lock (runner and replay).
 * Returns SH_OK (handled, or nothing to do), SH_E_HOOK (failed: the entry
 * says when next, or dead), SH_E_IN_PROGRESS (lock held elsewhere),
 * SH_E_STATE.  force: run even when not due or dead (replay). */
enum sh_err deliver_attempt(const struct sh_config *, const char *id,
	    int force);

/* ---- The request (request.c) ---- */
/* One request as a transport sees it.  Strings are NULL when absent. */
struct sh_request {
	const char	*method;
	const char	*content_length;
	const char	*signature;
	const char	*remote_addr;
	const char	*request_id;
	const char	*content_type;
	/* Reads up to len bytes; returns bytes read, 0 at end of input, -1 on
	 * error, -2 when nothing arrived for timeout seconds. */
	ssize_t		(*read)(void *ctx, void *buf, size_t len, int timeout);
	/* Writes all of buf; 0 or -1. */
	int		(*write)(void *ctx, const void *buf, size_t len);
	void		*ctx;
	int		 drain_early;	/* CGI: drain stdin before early answers */
};
/* Fills the request's strings from a transport's parameters, read through
 * get (NULL for an absent one); clears the rest. */
void	request_params(struct sh_request *,
	    const char *(*get)(void *arg, const char *name), void *arg);
/* Handles one request from checks to answer, writes the answer and one
 * log line.  cfg NULL means the configuration is unusable ("internal error");
 * cfg_why says why for the log.  Returns the HTTP status sent. */
int	request_handle(struct sh_request *, const struct sh_config *cfg,
	    const char *cfg_why);
/* Runs the event's hooks under the records of DELIVERY (deliver.c):
 * shared by requests and replay.  *duplicate set when every hook had
 * already succeeded. */
enum sh_err request_run_hooks(const struct sh_config *,
	    const struct sh_event *, const unsigned char *body, size_t len,
	    int *duplicate, struct sh_buf *logtail);

/* stripehook.conf(5) livemode: 1 when the event may run hooks. */
int	request_livemode_accepted(const struct sh_config *,
	    const struct sh_event *);
/* 1 when some configured hook matches the type. */
int	request_hooks_match(const struct sh_config *, const char *type);

/* ---- Modes (cgi.c, fcgi.c, serve.c, tools.c) ---- */
int	cgi_main(void);
/* FastCGI app on listenfd until SIGTERM; cfgpath as resolved. */
int	fcgi_main(int listenfd, const char *cfgpath);
int	serve_main(int argc, char **argv, const char *cfgpath);
int	tool_sign(int argc, char **argv, const char *cfgpath);
int	tool_verify(int argc, char **argv, const char *cfgpath);
int	tool_check(int argc, char **argv, const char *cfgpath);
int	tool_status(int argc, char **argv, const char *cfgpath);
int	tool_replay(int argc, char **argv, const char *cfgpath);
int	tool_forget(int argc, char **argv, const char *cfgpath);
int	tool_prune(int argc, char **argv, const char *cfgpath);
int	tool_run(int argc, char **argv, const char *cfgpath);
int	tool_list(int argc, char **argv, const char *cfgpath);
int	tool_replay_many(int argc, char **argv, const char *cfgpath);
int	tool_metrics(int argc, char **argv, const char *cfgpath);
/* The runner of ack receipt until SIGTERM (runner.c); serve starts one. */
int	runner_main(const char *cfgpath);
int	runner_drop_root(const struct sh_config *);
/* The runner serve starts when ack receipt is set (runner.c). */
struct runner_slot {
	pid_t	 pid;		/* 0: not running */
	time_t	 started;
	time_t	 respawn_at;
	int	 backoff;
	int	 on;		/* ack receipt */
};
void	runner_slot_init(struct runner_slot *, const struct sh_config *);
int	runner_slot_tick(struct runner_slot *, const char *cfgpath,
	    const int *closefds, int nclose, int stopping, time_t now,
	    int *timeout);
void	runner_slot_kill(const struct runner_slot *, int sig);
int	runner_slot_reaped(struct runner_slot *, pid_t, int status,
	    int stopping, time_t now);

/* A strict decimal from outside: ASCII digits only (no sign, no blank, no
 * base prefix), never atoi.  0 with *out set; -1 not a number; -2 outside
 * min..max (or too large for any integer). */
int	parse_decimal(const char *, long long min, long long max,
	    long long *out);

/* Reads a whole file with read(2) into buf (for payload files and stdin);
 * 0 or -1 with errno. */
int	read_fd_all(int fd, struct sh_buf *buf, size_t max);

/* ---- System plumbing (sys.c) ---- */
struct passwd;
/* Seconds on the monotonic clock (only differences mean anything). */
double	mono_now(void);
/* Becomes pw's user and groups for good, and checks that root cannot be
 * regained.  0, or -1 with *step naming what failed and errno set. */
int	become_user(const struct passwd *, const char **step);
/* The same by name, refusing root: for the tools started as root.  0, or
 * -1 after saying why on stderr. */
int	become_user_named(const char *);
/* ISO 8601 UTC of t into out (returned); default signal dispositions. */
const char *iso_time(time_t, char *out, size_t len);
void	signals_default(void);

#endif /* STRIPEHOOK_H */
