/*
 * The records of stripehook(8) DELIVERY and ACK ON RECEIPT in PostgreSQL
 * (stripehook.conf(5) database; stripehook(8) SEVERAL HOSTS), through
 * libpq.  state.c, queue.c and metrics.c hand over to the functions here
 * when the configuration names a database.
 *
 * Schema (version SH_DB_SCHEMA_VERSION, made by `stripehook migrate`):
 *
 *	stripehook_schema (version)	one row
 *	stripehook_events		one row per event: the kept payload
 *					(NULL when not kept), the queue
 *					state of ack receipt, the time of
 *					its last change (for prune)
 *	stripehook_records		one row per hook that succeeded:
 *					event id, SHA-256 of the hook's
 *					identity (hex), identity, time
 *	stripehook_counters		the counters of `metrics`, one row
 *					per host and counter
 *
 * Connections: each process keeps one (the process that made it: a
 * forked child makes its own, never speaking on its parent's), checks the
 * schema version when it connects, and connects again when the server
 * went away.  Every wait, connecting included, is bounded by
 * database_timeout on our side (poll) and each statement also by the
 * server's statement_timeout.
 *
 * Locks: an event's lock is a session-level advisory lock on
 * hashtextextended(id, 0), taken with pg_try_advisory_lock (held: 409
 * event in progress); the server drops it when the session ends, so a
 * dead holder frees the event.  The short queue lock of ack receipt is
 * the same on hashtextextended(id, 1), waited for.  A process holding a
 * lock never reconnects silently: its lock went with the session.
 *
 * Durability: every change is one statement (or one implicit transaction)
 * committed before the function returns, so before any 200.
 *
 * Wake-ups: changes to the queue NOTIFY stripehook_queue with the event id;
 * runners LISTEN on a connection of their own, whose socket they poll
 * through a descriptor that stays the same across reconnections.
 */
#include "config.h"

#include <sys/timerfd.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "stripehook.h"

#ifdef HAVE_LIBPQ

#include <dlfcn.h>
#include <libpq-fe.h>

/*
 * libpq is loaded at its first use (pq_load), not linked: a program that
 * names no database does not pay, at every start, for linking libpq and
 * the libraries it brings (Kerberos, LDAP, GnuTLS), nor for their pages in
 * every worker.  Its functions are called through pq.
 */
#define PQ_FUNCS(X) \
	X(PQclear) \
	X(PQcmdTuples) \
	X(PQconnectPoll) \
	X(PQconnectStartParams) \
	X(PQconninfoFree) \
	X(PQconninfoParse) \
	X(PQconsumeInput) \
	X(PQerrorMessage) \
	X(PQescapeLiteral) \
	X(PQfinish) \
	X(PQfreemem) \
	X(PQgetResult) \
	X(PQgetisnull) \
	X(PQgetlength) \
	X(PQgetvalue) \
	X(PQisBusy) \
	X(PQnotifies) \
	X(PQntuples) \
	X(PQresultErrorField) \
	X(PQresultErrorMessage) \
	X(PQresultStatus) \
	X(PQsendQuery) \
	X(PQsendQueryParams) \
	X(PQsetNoticeProcessor) \
	X(PQsocket) \
	X(PQstatus) \
	X(PQtransactionStatus)
#define PQ_MEMBER(f)	__typeof__(f) *f;
static struct {
	PQ_FUNCS(PQ_MEMBER)
} pq;
static int	pq_loaded;	/* 1 loaded, -1 cannot be, 0 not tried */
static void	*pq_handle;	/* kept open for the process's life */

/* 0, or -1 (logged once). */
static int
pq_load(void)
{
	if (pq_loaded != 0)
		return pq_loaded == 1 ? 0 : -1;
	pq_loaded = -1;
	if ((pq_handle = dlopen(PQ_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		log_warnx("database: cannot load %s: %s (install libpq5)",
		    PQ_SONAME, dlerror());
		return -1;
	}
#define PQ_SYMBOL(f) \
	if ((*(void **)&pq.f = dlsym(pq_handle, #f)) == NULL) { \
		log_warnx("database: %s has no %s", PQ_SONAME, #f); \
		(void)dlclose(pq_handle); \
		pq_handle = NULL; \
		return -1; \
	}
	PQ_FUNCS(PQ_SYMBOL)
	pq_loaded = 1;
	return 0;
}

#define PG_CHANNEL		"stripehook_queue"
#define PG_HASH_HEX		64
#define PG_MAXRES		4		/* results of one round trip */
#define PG_RECONNECT_WAIT	1		/* seconds: watcher retry */
#define PG_KEEPALIVE_INTERVAL	"1"		/* seconds between probes */
#define PG_KEEPALIVE_COUNT	"3"
#define PG_LOCK_EVENT		"0"		/* hashtextextended seeds */
#define PG_LOCK_QUEUE		"1"
#define PG_UNDEFINED_TABLE	"42P01"		/* SQLSTATE */
#define PG_GUARD_INTERVAL_MS	1000		/* session checks while a
						 * hook runs */

struct pg_event {
	char	 id[SH_ID_MAX + 1];
	int	 locked;
	unsigned gen;		/* the connection the lock belongs to */
	char	(*done)[PG_HASH_HEX + 1];	/* recorded hooks, when locked */
	size_t	 ndone;
	int	 kept;		/* a payload is kept (as read under the lock,
				 * then as we changed it) */
};

struct pg_conn {
	PGconn	*conn;
	pid_t	 pid;		/* the process that connected */
	char	*conninfo;
	long	 timeout;
	unsigned gen;		/* counts connections made */
	int	 nlocks;	/* advisory locks this session holds */
	time_t	 failed;	/* last failure to connect or to run */
	char	 sqlstate[6];	/* of the last failed statement */
};

struct pg_res {
	PGresult *r[PG_MAXRES];
	int	  n;
};

static struct pg_conn	 db;		/* records */
static struct pg_conn	 lsn;		/* LISTEN of a runner */
static int		 watchfd = -1;
static char		 qlock_id[SH_ID_MAX + 1];

/* libpq's message on one line, without the trailing newline. */
static const char *
one_line(const char *msg, char *out, size_t len)
{
	size_t	 i;

	(void)snprintf(out, len, "%s", msg != NULL ? msg : "");
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
	while (i > 0 && out[i - 1] == ' ')
		out[--i] = '\0';
	return out;
}

static void
log_pq(const char *what, const char *msg)
{
	char	 line[1024];

	log_warnx("database: %s: %s", what, one_line(msg, line,
	    sizeof(line)));
}

/*
 * Waits until fd is ready for events or the deadline (mono_now seconds)
 * passes: 1 ready, 0 timed out, -1 error.
 */
static int
wait_fd(int fd, short events, double deadline)
{
	struct pollfd	 pfd;
	double		 left;
	int		 r;

	for (;;) {
		if ((left = deadline - mono_now()) <= 0)
			return 0;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		/* Rounded up: a poll never ends just before the deadline. */
		r = poll(&pfd, 1, left > INT_MAX / 1000 ? INT_MAX :
		    (int)(left * 1000) + 1);
		if (r == -1 && errno == EINTR)
			continue;
		return r;
	}
}

/*
 * A connection inherited over fork belongs to the parent: its socket is
 * pointed at /dev/null before libpq lets go of it, so nothing of ours
 * reaches the parent's session.
 */
static void
abandon(struct pg_conn *c)
{
	int	 fd, null;

	if (c->conn == NULL)
		return;
	if ((fd = pq.PQsocket(c->conn)) != -1 &&
	    (null = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
		(void)dup2(null, fd);
		(void)close(null);
	}
	pq.PQfinish(c->conn);
	c->conn = NULL;
	c->nlocks = 0;
}

/* Ends the session (and with it every lock it held). */
static void
drop(struct pg_conn *c)
{
	if (c->conn != NULL && c->pid != getpid()) {
		abandon(c);
		return;
	}
	if (c->conn != NULL)
		pq.PQfinish(c->conn);
	c->conn = NULL;
	c->nlocks = 0;
}

/* The server's notices (migrate's "already exists, skipping") are not
 * for the log. */
static void
no_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Connects within timeout seconds; the connection, or NULL (logged). */
static PGconn *
connect_db(const char *conninfo, long timeout)
{
	char			 tmo[24], idle[24];
	const char		*keys[] = { "application_name", "keepalives",
	    "keepalives_idle", "keepalives_interval", "keepalives_count",
	    "dbname", "connect_timeout", NULL };
	const char		*vals[8];
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	PGconn			*conn;
	double			 deadline = mono_now() + timeout;
	int			 r;

	(void)snprintf(tmo, sizeof(tmo), "%ld", timeout);
	(void)snprintf(idle, sizeof(idle), "%ld", timeout);
	vals[0] = "stripehook";
	vals[1] = "1";
	vals[2] = idle;
	vals[3] = PG_KEEPALIVE_INTERVAL;
	vals[4] = PG_KEEPALIVE_COUNT;
	vals[5] = conninfo;
	vals[6] = tmo;
	vals[7] = NULL;
	if (pq_load() == -1)
		return NULL;
	if ((conn = pq.PQconnectStartParams(keys, vals, 1)) == NULL) {
		log_warnx("database: connect: out of memory");
		return NULL;
	}
	while (pq.PQstatus(conn) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
	    st != PGRES_POLLING_FAILED) {
		r = wait_fd(pq.PQsocket(conn), st == PGRES_POLLING_READING ?
		    POLLIN : POLLOUT, deadline);
		if (r == 0) {
			log_warnx("database: connect: no answer within %ld s "
			    "(database_timeout)", timeout);
			pq.PQfinish(conn);
			return NULL;
		}
		st = pq.PQconnectPoll(conn);
	}
	if (pq.PQstatus(conn) != CONNECTION_OK) {
		log_pq("connect", pq.PQerrorMessage(conn));
		pq.PQfinish(conn);
		return NULL;
	}
	(void)pq.PQsetNoticeProcessor(conn, no_notice, NULL);
	return conn;
}

static void
res_clear(struct pg_res *res)
{
	int	 i;

	for (i = 0; i < res->n; i++)
		pq.PQclear(res->r[i]);
	res->n = 0;
}

/*
 * Collects the results of what was sent, within database_timeout.  0 when
 * every statement succeeded (results in res), else -1 (logged; a
 * connection that broke or did not answer is dropped).
 */
static int
collect(struct pg_conn *c, const char *what, struct pg_res *res)
{
	double		 deadline = mono_now() + c->timeout;
	PGresult	*r;
	ExecStatusType	 s;
	int		 failed = 0;

	res->n = 0;
	for (;;) {
		while (pq.PQisBusy(c->conn)) {
			if (wait_fd(pq.PQsocket(c->conn), POLLIN, deadline) != 1) {
				log_warnx("database: %s: no answer within "
				    "%ld s (database_timeout)", what,
				    c->timeout);
				goto broken;
			}
			if (!pq.PQconsumeInput(c->conn)) {
				log_pq(what, pq.PQerrorMessage(c->conn));
				goto broken;
			}
		}
		if ((r = pq.PQgetResult(c->conn)) == NULL)
			break;
		s = pq.PQresultStatus(r);
		if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
			if (!failed) {
				log_pq(what, pq.PQresultErrorMessage(r));
				(void)snprintf(c->sqlstate,
				    sizeof(c->sqlstate), "%s",
				    pq.PQresultErrorField(r, PG_DIAG_SQLSTATE) ?
				    pq.PQresultErrorField(r, PG_DIAG_SQLSTATE) :
				    "");
			}
			failed = 1;
		}
		if (res->n < PG_MAXRES)
			res->r[res->n++] = r;
		else
			pq.PQclear(r);
	}
	if (pq.PQstatus(c->conn) == CONNECTION_BAD)
		goto broken;
	if (!failed)
		return 0;
	res_clear(res);
	c->failed = time(NULL);
	return -1;
broken:
	res_clear(res);
	drop(c);
	c->failed = time(NULL);
	return -1;
}

/* What follows sending a statement: on failure the connection goes (and
 * is retried later); else its result is collected. */
static int
sent(struct pg_conn *c, const char *what, int ok, struct pg_res *res)
{
	if (!ok) {
		log_pq(what, pq.PQerrorMessage(c->conn));
		drop(c);
		c->failed = time(NULL);
		return -1;
	}
	return collect(c, what, res);
}

/* One parameterised statement; text parameters unless lens given. */
static int
run(struct pg_conn *c, const char *what, const char *sql, int n,
    const char *const *vals, const int *lens, const int *fmts, int binary,
    struct pg_res *res)
{
	return sent(c, what, pq.PQsendQueryParams(c->conn, sql, n, NULL, vals,
	    lens, fmts, binary), res);
}

/* Several statements in one round trip (one implicit transaction). */
static int
run_many(struct pg_conn *c, const char *what, const char *sql,
    struct pg_res *res)
{
	return sent(c, what, pq.PQsendQuery(c->conn, sql), res);
}

/*
 * After connecting: the statement timeout, and the schema's version
 * (unless checking is off, for migrate).  0 or -1 (logged: no schema, a
 * newer or an older one).
 */
static int
setup(struct pg_conn *c, int check)
{
	struct pg_res	 res;
	char		 sql[128];
	long		 v;
	int		 rc = -1;

	(void)snprintf(sql, sizeof(sql), "SET statement_timeout = %ld; "
	    "SELECT max(version) FROM stripehook_schema", c->timeout * 1000);
	if (!check)
		(void)snprintf(sql, sizeof(sql), "SET statement_timeout = %ld",
		    c->timeout * 1000);
	if (!pq.PQsendQuery(c->conn, sql))
		return -1;
	if (collect(c, "setup", &res) == -1) {
		if (strcmp(c->sqlstate, PG_UNDEFINED_TABLE) == 0)
			log_warnx("database: no stripehook schema: run "
			    "stripehook migrate");
		return -1;
	}
	if (!check) {
		rc = 0;
		goto done;
	}
	v = res.n == 2 && pq.PQntuples(res.r[1]) == 1 &&
	    !pq.PQgetisnull(res.r[1], 0, 0) ? atol(pq.PQgetvalue(res.r[1], 0, 0)) :
	    0;
	if (v == SH_DB_SCHEMA_VERSION)
		rc = 0;
	else if (v > SH_DB_SCHEMA_VERSION)
		log_warnx("database: schema version %ld is newer than this "
		    "stripehook's (%d): upgrade stripehook", v,
		    SH_DB_SCHEMA_VERSION);
	else
		log_warnx("database: schema version %ld, this stripehook "
		    "needs %d: run stripehook migrate", v,
		    SH_DB_SCHEMA_VERSION);
done:
	res_clear(&res);
	return rc;
}

/* A socket the server closed while we were idle reads as EOF: notice it
 * before sending, so a restarted server costs no failed request. */
static void
notice_gone(struct pg_conn *c)
{
	struct pollfd	 pfd;

	pfd.fd = pq.PQsocket(c->conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) == 1 && (!pq.PQconsumeInput(c->conn) ||
	    pq.PQstatus(c->conn) == CONNECTION_BAD)) {
		if (c->nlocks > 0)
			log_warnx("database: the session holding a lock "
			    "ended: %s", "its locks are gone");
		drop(c);
	}
}

/* The process's connection for cfg, made when missing.  NULL (logged). */
static struct pg_conn *
get_conn(struct pg_conn *c, const struct sh_config *cfg, int check)
{
	if (cfg->database == NULL) {
		log_warnx("database: used without a database line");
		return NULL;
	}
	if (c->conn != NULL && c->pid != getpid())
		abandon(c);
	if (c->conn != NULL && (pq.PQstatus(c->conn) != CONNECTION_OK ||
	    pq.PQtransactionStatus(c->conn) != PQTRANS_IDLE ||
	    strcmp(c->conninfo, cfg->database) != 0))
		drop(c);
	if (c->conn != NULL)
		notice_gone(c);
	c->timeout = cfg->database_timeout;
	if (c->conn != NULL)
		return c;
	free(c->conninfo);
	if ((c->conninfo = strdup(cfg->database)) == NULL) {
		log_warn("database: out of memory");
		return NULL;
	}
	if ((c->conn = connect_db(cfg->database, c->timeout)) == NULL) {
		c->failed = time(NULL);
		return NULL;
	}
	c->pid = getpid();
	c->gen++;
	c->nlocks = 0;
	if (setup(c, check) == -1) {
		drop(c);
		c->failed = time(NULL);
		return NULL;
	}
	return c;
}

/* Lowercase hex SHA-256 of the identity; 0 or -1. */
static int
hook_hash(const char *identity, char out[PG_HASH_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0, i;

	if (EVP_Digest(identity, strlen(identity), md, &mdlen, EVP_sha256(),
	    NULL) != 1 || mdlen * 2 != PG_HASH_HEX) {
		log_warnx("database: cannot hash a hook identity");
		return -1;
	}
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[PG_HASH_HEX] = '\0';
	return 0;
}

const char *
pg_conninfo_problem(const char *conninfo)
{
	PQconninfoOption	*opts, *o;
	char			*err = NULL;
	const char		*why = NULL;

	if (pq_load() == -1)
		return "libpq cannot be loaded: install libpq5";
	if ((opts = pq.PQconninfoParse(conninfo, &err)) == NULL) {
		pq.PQfreemem(err);		/* it may quote the string */
		return "not a libpq connection string or URI";
	}
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
			why = "holds a password: put it in libpq's password "
			    "file (passfile, PGPASSFILE, ~/.pgpass) instead";
	pq.PQconninfoFree(opts);
	return why;
}

/* ---- Events and success records ---- */

static int	guard(void *);

/* Reads the event's success records into pe->done (under its lock). */
static int
load_done(struct pg_event *pe, const PGresult *r)
{
	int	 i, n = pq.PQntuples(r);

	if (n > 0 && (pe->done = calloc((size_t)n, sizeof(*pe->done))) ==
	    NULL)
		return -1;
	for (i = 0; i < n; i++)
		(void)snprintf(pe->done[i], sizeof(pe->done[i]), "%s",
		    pq.PQgetvalue(r, i, 0));
	pe->ndone = (size_t)n;
	return 0;
}

/*
 * The event's lock (when lock is set) and, in the same round trip, its
 * success records and whether it exists; see state_open.  The records are
 * read after the lock is taken: each statement sees what was committed
 * before it started.
 */
enum sh_err
pg_event_open(const struct sh_config *cfg, const char *id, int create,
    int lock, struct pg_event **out)
{
	struct pg_event	*pe = NULL;
	struct pg_conn	*c;
	struct pg_res	 res;
	struct sh_buf	 sql;
	char		*lit = NULL;
	enum sh_err	 rc = SH_E_STATE;
	int		 got = 1, base;

	*out = NULL;
	buf_init(&sql);
	res.n = 0;
	if (!event_id_valid(id, strlen(id)))
		return SH_E_EVENT_ID;
	if ((c = get_conn(&db, cfg, 1)) == NULL)
		return SH_E_STATE;
	if ((pe = calloc(1, sizeof(*pe))) == NULL ||
	    (lit = pq.PQescapeLiteral(c->conn, id, strlen(id))) == NULL)
		goto done;
	(void)snprintf(pe->id, sizeof(pe->id), "%s", id);
	if (lock)
		buf_printf(&sql, "SELECT pg_try_advisory_lock("
		    "hashtextextended(%s, " PG_LOCK_EVENT ")); ", lit);
	buf_printf(&sql, "SELECT hook_hash FROM stripehook_records WHERE "
	    "event_id = %s; SELECT payload IS NOT NULL FROM stripehook_events "
	    "WHERE id = %s", lit, lit);
	if (sql.p == NULL || run_many(c, "lock", sql.p, &res) == -1)
		goto done;
	base = lock ? 1 : 0;
	if (res.n != base + 2)
		goto done;
	if (lock && (got = strcmp(pq.PQgetvalue(res.r[0], 0, 0), "t") == 0)) {
		c->nlocks++;
		pe->locked = 1;
		pe->gen = c->gen;
		hook_guard(guard, pe, PG_GUARD_INTERVAL_MS);
	}
	if (!got) {
		rc = SH_E_IN_PROGRESS;
		goto done;
	}
	if (!create && pq.PQntuples(res.r[base + 1]) == 0) {
		rc = SH_OK;		/* unknown event */
		goto done;
	}
	if (load_done(pe, res.r[base]) == -1)
		goto done;
	pe->kept = pq.PQntuples(res.r[base + 1]) == 1 &&
	    strcmp(pq.PQgetvalue(res.r[base + 1], 0, 0), "t") == 0;
	*out = pe;
	pe = NULL;
	rc = SH_OK;
done:
	res_clear(&res);
	pq.PQfreemem(lit);
	buf_free(&sql);
	pg_event_close(pe);
	return rc;
}

/*
 * The hook guard while pe's lock is held: the session is asked to answer
 * (within database_timeout); a session that is gone, or replaced, means
 * the lock is gone and another host may start the event.  -1 then.
 */
static int
guard(void *arg)
{
	struct pg_event	*pe = arg;
	struct pg_res	 res;

	if (db.conn != NULL && db.gen == pe->gen && db.pid == getpid() &&
	    run_many(&db, "session check", "SELECT 1", &res) == 0) {
		res_clear(&res);
		return 0;
	}
	log_warnx("database: event %s: the session holding the event's lock "
	    "is lost: stopping the hook", pe->id);
	return -1;
}

/* Unlocks (when the lock's session still is ours) and frees. */
void
pg_event_close(struct pg_event *pe)
{
	struct pg_res	 res;
	const char	*v[1];

	if (pe == NULL)
		return;
	if (pe->locked)
		hook_guard(NULL, NULL, 0);
	if (pe->locked && db.conn != NULL && db.gen == pe->gen &&
	    db.pid == getpid()) {
		v[0] = pe->id;
		if (run(&db, "unlock", "SELECT pg_advisory_unlock("
		    "hashtextextended($1, " PG_LOCK_EVENT "))", 1, v, NULL,
		    NULL, 0, &res) == 0) {
			db.nlocks--;
			res_clear(&res);
		}
	}
	free(pe->done);
	free(pe);
}

/* The connection pe's work goes to: the one it was opened on. */
static struct pg_conn *
event_conn(struct pg_event *pe)
{
	if (db.conn == NULL || db.pid != getpid()) {
		log_warnx("database: event %s: the connection is gone",
		    pe->id);
		return NULL;
	}
	if (pe->locked && db.gen != pe->gen)
		log_warnx("database: event %s: the session that held its "
		    "lock ended", pe->id);
	return &db;
}

int
pg_hook_done(struct pg_event *pe, const struct sh_hook *hook)
{
	struct pg_conn	*c;
	struct pg_res	 res;
	char		 hash[PG_HASH_HEX + 1];
	const char	*v[2];
	size_t		 i;
	int		 rc;

	if (hook_hash(hook->identity, hash) == -1)
		return -1;
	if (pe->locked) {	/* read after the lock: only we change them */
		for (i = 0; i < pe->ndone; i++)
			if (strcmp(pe->done[i], hash) == 0)
				return 1;
		return 0;
	}
	if ((c = event_conn(pe)) == NULL)
		return -1;
	v[0] = pe->id;
	v[1] = hash;
	if (run(c, "record", "SELECT 1 FROM stripehook_records WHERE "
	    "event_id = $1 AND hook_hash = $2", 2, v, NULL, NULL, 0,
	    &res) == -1)
		return -1;
	rc = pq.PQntuples(res.r[0]) > 0;
	res_clear(&res);
	return rc;
}

/* One statement, no rows wanted: SH_OK or SH_E_STATE (logged). */
static enum sh_err
change(struct pg_event *pe, const char *what, const char *sql, int n,
    const char *const *v, const int *lens, const int *fmts)
{
	struct pg_conn	*c;
	struct pg_res	 res;

	if ((c = event_conn(pe)) == NULL ||
	    run(c, what, sql, n, v, lens, fmts, 0, &res) == -1)
		return SH_E_STATE;
	res_clear(&res);
	return SH_OK;
}

enum sh_err
pg_keep_payload(struct pg_event *pe, const unsigned char *body, size_t len)
{
	char		 now[24];
	const char	*v[3];
	int		 lens[3] = { 0, 0, (int)len }, fmts[3] = { 0, 0, 1 };

	if (len > INT_MAX)
		return SH_E_STATE;
	(void)snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	v[0] = pe->id;
	v[1] = now;
	v[2] = (const char *)body;
	/* Kept, or perhaps kept (an error after the server had it). */
	pe->kept = 1;
	return change(pe, "keep payload", "INSERT INTO stripehook_events "
	    "(id, created, updated, payload) VALUES ($1, $2, $2, $3) "
	    "ON CONFLICT (id) DO UPDATE SET payload = EXCLUDED.payload, "
	    "updated = EXCLUDED.updated", 3, v, lens, fmts);
}

enum sh_err
pg_record(struct pg_event *pe, const struct sh_hook *hook)
{
	char		 now[24], hash[PG_HASH_HEX + 1];
	const char	*v[4];
	enum sh_err	 rc;
	void		*nv;

	if (hook_hash(hook->identity, hash) == -1)
		return SH_E_STATE;
	(void)snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	v[0] = pe->id;
	v[1] = hash;
	v[2] = hook->identity;
	v[3] = now;
	rc = change(pe, "record", "WITH e AS (INSERT INTO stripehook_events "
	    "(id, created, updated) VALUES ($1, $4, $4) ON CONFLICT (id) DO "
	    "UPDATE SET updated = EXCLUDED.updated RETURNING id) "
	    "INSERT INTO stripehook_records (event_id, hook_hash, identity, "
	    "done_at) SELECT id, $2, $3, $4 FROM e ON CONFLICT DO NOTHING",
	    4, v, NULL, NULL);
	if (rc == SH_OK && pe->locked && (nv = reallocarray(pe->done,
	    pe->ndone + 1, sizeof(*pe->done))) != NULL) {
		pe->done = nv;
		(void)snprintf(pe->done[pe->ndone++], PG_HASH_HEX + 1, "%s",
		    hash);
	}
	return rc;
}

enum sh_err
pg_finish(struct pg_event *pe)
{
	char		 now[24];
	const char	*v[2];
	enum sh_err	 err;

	/* Under the lock no one else keeps or drops this event's payload:
	 * none read at the open and none kept since is nothing to drop (a
	 * round trip saved on every duplicate). */
	if (pe->locked && !pe->kept)
		return SH_OK;
	(void)snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	v[0] = pe->id;
	v[1] = now;
	if ((err = change(pe, "finish", "UPDATE stripehook_events SET "
	    "payload = NULL, updated = $2 WHERE id = $1 AND payload IS NOT "
	    "NULL", 2, v, NULL, NULL)) == SH_OK)
		pe->kept = 0;
	return err;
}

int
pg_payload(struct pg_event *pe, struct sh_buf *b, size_t max)
{
	struct pg_conn	*c;
	struct pg_res	 res;
	const char	*v[1];
	size_t		 len;
	int		 rc = -1;

	v[0] = pe->id;
	if ((c = event_conn(pe)) == NULL || run(c, "payload", "SELECT "
	    "payload FROM stripehook_events WHERE id = $1 AND payload IS "
	    "NOT NULL", 1, v, NULL, NULL, 1, &res) == -1)
		return -1;
	if (pq.PQntuples(res.r[0]) == 0)
		rc = 0;
	else if ((len = (size_t)pq.PQgetlength(res.r[0], 0, 0)) > max)
		log_warnx("database: event %s: kept payload over %zu bytes",
		    pe->id, max);
	else if (buf_append(b, pq.PQgetvalue(res.r[0], 0, 0), len) == 0)
		rc = 1;
	res_clear(&res);
	return rc;
}


/* fn(arg, the row's first column, its second as a time) for each row of
 * res's first result until fn returns non-zero, which is returned; res
 * is cleared. */
static int
each_row(struct pg_res *res, int (*fn)(void *, const char *, time_t),
    void *arg)
{
	int	 i, rc = 0;

	for (i = 0; rc == 0 && i < pq.PQntuples(res->r[0]); i++)
		rc = fn(arg, pq.PQgetvalue(res->r[0], i, 0),
		    (time_t)atoll(pq.PQgetvalue(res->r[0], i, 1)));
	res_clear(res);
	return rc;
}
int
pg_records(struct pg_event *pe, int (*fn)(void *, const char *, time_t),
    void *arg)
{
	struct pg_conn	*c;
	struct pg_res	 res;
	const char	*v[1];

	v[0] = pe->id;
	if ((c = event_conn(pe)) == NULL || run(c, "records", "SELECT "
	    "identity, done_at FROM stripehook_records WHERE event_id = $1 "
	    "ORDER BY done_at, identity", 1, v, NULL, NULL, 0, &res) == -1)
		return -1;
	return each_row(&res, fn, arg);
}

int
pg_forget(struct pg_event *pe, const char *identity)
{
	struct pg_conn	*c;
	struct pg_res	 res;
	char		 hash[PG_HASH_HEX + 1];
	const char	*v[2];
	size_t		 i;
	int		 rc;

	if (hook_hash(identity, hash) == -1)
		return -1;
	v[0] = pe->id;
	v[1] = hash;
	if ((c = event_conn(pe)) == NULL || run(c, "forget", "DELETE FROM "
	    "stripehook_records WHERE event_id = $1 AND hook_hash = $2", 2, v,
	    NULL, NULL, 0, &res) == -1)
		return -1;
	rc = atoi(pq.PQcmdTuples(res.r[0])) > 0;
	res_clear(&res);
	for (i = 0; i < pe->ndone; i++)
		if (strcmp(pe->done[i], hash) == 0)
			pe->done[i][0] = '\0';
	return rc;
}

/* Drops one event found old, under its lock: 1, 0 busy, -1. */
static int
prune_one(const struct sh_config *cfg, const char *id, const char *cutoff,
    int payload)
{
	struct pg_event	*pe;
	struct pg_res	 res;
	const char	*v[2];
	enum sh_err	 e;
	int		 rc = -1;

	if ((e = pg_event_open(cfg, id, 0, 1, &pe)) == SH_E_IN_PROGRESS)
		return 0;
	if (e != SH_OK)
		return -1;
	if (pe == NULL)
		return 1;
	v[0] = id;
	v[1] = cutoff;
	if (run(&db, "prune", "DELETE FROM stripehook_events WHERE id = $1 "
	    "AND updated <= $2", 2, v, NULL, NULL, 0, &res) == 0) {
		if (payload && atoi(pq.PQcmdTuples(res.r[0])) > 0)
			log_warnx("prune: event %s: dropping the kept payload "
			    "of unfinished hooks", id);
		res_clear(&res);
		rc = 1;
	}
	pg_event_close(pe);
	return rc;
}

enum sh_err
pg_prune(const struct sh_config *cfg, time_t now, unsigned *removed,
    unsigned *busy)
{
	struct pg_conn	*c;
	struct pg_res	 res;
	char		 cutoff[24];
	const char	*v[1];
	int		 i, r, failed = 0;

	*removed = *busy = 0;
	(void)snprintf(cutoff, sizeof(cutoff), "%lld", (long long)now -
	    (long long)cfg->state_ttl * 86400);
	v[0] = cutoff;
	if ((c = get_conn(&db, cfg, 1)) == NULL || run(c, "prune", "SELECT "
	    "id, payload IS NOT NULL FROM stripehook_events WHERE updated <= "
	    "$1", 1, v, NULL, NULL, 0, &res) == -1)
		return SH_E_STATE;
	for (i = 0; i < pq.PQntuples(res.r[0]); i++) {
		r = prune_one(cfg, pq.PQgetvalue(res.r[0], i, 0), cutoff,
		    strcmp(pq.PQgetvalue(res.r[0], i, 1), "t") == 0);
		if (r == 1)
			(*removed)++;
		else if (r == 0)
			(*busy)++;
		else
			failed = 1;
	}
	res_clear(&res);
	return failed ? SH_E_STATE : SH_OK;
}

int
pg_each_unfinished(const struct sh_config *cfg,
    int (*fn)(void *, const char *, time_t), void *arg)
{
	struct pg_conn	*c;
	struct pg_res	 res;

	if ((c = get_conn(&db, cfg, 1)) == NULL || run(c, "list", "SELECT "
	    "id, created FROM stripehook_events WHERE payload IS NOT NULL AND "
	    "NOT queued ORDER BY created, id", 0, NULL, NULL, NULL, 0,
	    &res) == -1)
		return -1;
	return each_row(&res, fn, arg);
}

/* ---- The queue of ack receipt ---- */

/* The short queue lock, on the connection the event was opened on. */
int
pg_queue_lock(const char *id)
{
	struct pg_res	 res;
	const char	*v[1];

	if (db.conn == NULL || db.pid != getpid()) {
		log_warnx("database: queue lock: no connection");
		return -1;
	}
	v[0] = id;
	if (run(&db, "queue lock", "SELECT pg_advisory_lock(hashtextextended("
	    "$1, " PG_LOCK_QUEUE "))", 1, v, NULL, NULL, 0, &res) == -1)
		return -1;
	res_clear(&res);
	db.nlocks++;
	(void)snprintf(qlock_id, sizeof(qlock_id), "%s", id);
	return SH_PG_QLOCK_TOKEN;
}

void
pg_queue_unlock(int token)
{
	struct pg_res	 res;
	const char	*v[1];

	if (token != SH_PG_QLOCK_TOKEN || db.conn == NULL ||
	    db.pid != getpid())
		return;
	v[0] = qlock_id;
	if (run(&db, "queue unlock", "SELECT pg_advisory_unlock("
	    "hashtextextended($1, " PG_LOCK_QUEUE "))", 1, v, NULL, NULL, 0,
	    &res) == 0) {
		res_clear(&res);
		db.nlocks--;
	}
}

static void
row_queued(const PGresult *r, int i, int col, struct sh_queued *q)
{
	memset(q, 0, sizeof(*q));
	q->attempts = atoi(pq.PQgetvalue(r, i, col));
	q->first = (time_t)atoll(pq.PQgetvalue(r, i, col + 1));
	q->next = (time_t)atoll(pq.PQgetvalue(r, i, col + 2));
	q->dead = strcmp(pq.PQgetvalue(r, i, col + 3), "t") == 0;
	(void)snprintf(q->last, sizeof(q->last), "%s",
	    pq.PQgetvalue(r, i, col + 4));
}

#define PG_QUEUE_COLS	"attempts, first_queued, next_attempt, dead, " \
			"last_result"

int
pg_queue_get(const struct sh_config *cfg, const char *id,
    struct sh_queued *q)
{
	struct pg_conn	*c;
	struct pg_res	 res;
	const char	*v[1];
	int		 rc = 0;

	v[0] = id;
	if ((c = get_conn(&db, cfg, 1)) == NULL || run(c, "queue", "SELECT "
	    PG_QUEUE_COLS " FROM stripehook_events WHERE id = $1 AND queued",
	    1, v, NULL, NULL, 0, &res) == -1)
		return -1;
	if (pq.PQntuples(res.r[0]) == 1) {
		row_queued(res.r[0], 0, 0, q);
		rc = 1;
	}
	res_clear(&res);
	return rc;
}

enum sh_err
pg_queue_put(const struct sh_config *cfg, const char *id,
    const struct sh_queued *q)
{
	struct pg_conn	*c;
	struct pg_res	 res;
	char		 a[16], f[24], n[24], now[24];
	const char	*v[7];

	(void)snprintf(a, sizeof(a), "%d", q->attempts);
	(void)snprintf(f, sizeof(f), "%lld", (long long)q->first);
	(void)snprintf(n, sizeof(n), "%lld", (long long)q->next);
	(void)snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	v[0] = id;
	v[1] = a;
	v[2] = f;
	v[3] = n;
	v[4] = q->dead ? "t" : "f";
	v[5] = q->last;
	v[6] = now;
	if ((c = get_conn(&db, cfg, 1)) == NULL || run(c, "queue", "WITH u AS "
	    "(INSERT INTO stripehook_events (id, created, updated, queued, "
	    "attempts, first_queued, next_attempt, dead, last_result) VALUES "
	    "($1, $7, $7, true, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE "
	    "SET queued = true, attempts = $2, first_queued = $3, "
	    "next_attempt = $4, dead = $5, last_result = $6, updated = $7 "
	    "RETURNING id) SELECT pg_notify('" PG_CHANNEL "', id) FROM u", 7,
	    v, NULL, NULL, 0, &res) == -1)
		return SH_E_STATE;
	res_clear(&res);
	return SH_OK;
}

enum sh_err
pg_queue_drop(const struct sh_config *cfg, const char *id)
{
	struct pg_conn	*c;
	struct pg_res	 res;
	char		 now[24];
	const char	*v[2];

	(void)snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	v[0] = id;
	v[1] = now;
	if ((c = get_conn(&db, cfg, 1)) == NULL || run(c, "queue", "WITH u AS "
	    "(UPDATE stripehook_events SET queued = false, dead = false, "
	    "updated = $2 WHERE id = $1 AND queued RETURNING id) "
	    "SELECT pg_notify('" PG_CHANNEL "', id) FROM u", 2, v, NULL, NULL,
	    0, &res) == -1)
		return SH_E_STATE;
	res_clear(&res);
	return SH_OK;
}

int
pg_queue_each(const struct sh_config *cfg,
    int (*fn)(void *, const char *, const struct sh_queued *), void *arg)
{
	struct sh_queued q;
	struct pg_conn	*c;
	struct pg_res	 res;
	int		 i, rc = 0;

	if ((c = get_conn(&db, cfg, 1)) == NULL || run(c, "queue", "SELECT "
	    "id, " PG_QUEUE_COLS " FROM stripehook_events WHERE queued ORDER "
	    "BY first_queued, id", 0, NULL, NULL, NULL, 0, &res) == -1)
		return -1;
	for (i = 0; rc == 0 && i < pq.PQntuples(res.r[0]); i++) {
		row_queued(res.r[0], i, 1, &q);
		rc = fn(arg, pq.PQgetvalue(res.r[0], i, 0), &q);
	}
	res_clear(&res);
	return rc;
}

int
pg_queue_busy(const struct sh_config *cfg, const char *id)
{
	struct pg_conn	*c;
	struct pg_res	 res;
	const char	*v[1];
	int		 busy;

	v[0] = id;
	if ((c = get_conn(&db, cfg, 1)) == NULL || run(c, "busy", "SELECT "
	    "CASE WHEN pg_try_advisory_lock(hashtextextended($1, "
	    PG_LOCK_EVENT ")) THEN NOT pg_advisory_unlock(hashtextextended("
	    "$1, " PG_LOCK_EVENT ")) ELSE true END", 1, v, NULL, NULL, 0,
	    &res) == -1)
		return 0;
	busy = strcmp(pq.PQgetvalue(res.r[0], 0, 0), "t") == 0;
	res_clear(&res);
	return busy;
}

/* Points watchfd at the listening socket, or at a timer that fires in
 * PG_RECONNECT_WAIT seconds when there is none.  0 or -1. */
static int
point_watch(void)
{
	struct itimerspec its;
	int		 fd, own = 0, r;

	if (lsn.conn != NULL)
		fd = pq.PQsocket(lsn.conn);
	else {
		if ((fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) == -1)
			return -1;
		own = 1;
		memset(&its, 0, sizeof(its));
		its.it_value.tv_sec = PG_RECONNECT_WAIT;
		(void)timerfd_settime(fd, 0, &its, NULL);
	}
	if (watchfd == -1)
		r = watchfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	else
		r = dup3(fd, watchfd, O_CLOEXEC);
	if (own)
		(void)close(fd);
	return r == -1 ? -1 : 0;
}

/* Connects the listener and LISTENs: 0 or -1 (logged). */
static int
listen_again(const struct sh_config *cfg)
{
	struct pg_res	 res;

	if (get_conn(&lsn, cfg, 1) == NULL)
		return -1;
	if (run_many(&lsn, "listen", "LISTEN " PG_CHANNEL, &res) == -1)
		return -1;
	res_clear(&res);
	return 0;
}

static const struct sh_config *watch_cfg;

int
pg_queue_watch(const struct sh_config *cfg)
{
	watch_cfg = cfg;
	if (listen_again(cfg) == -1)
		log_warnx("database: not listening yet: trying again every "
		    "%d s", PG_RECONNECT_WAIT);
	if (point_watch() == -1) {
		log_warn("database: watch descriptor");
		return -1;
	}
	return watchfd;
}

int
pg_is_watch(int fd)
{
	return fd != -1 && fd == watchfd;
}

int
pg_queue_changed(int fd, void (*fn)(void *, const char *), void *arg)
{
	PGnotify	*n;

	(void)fd;
	if (lsn.conn != NULL && lsn.pid == getpid() &&
	    pq.PQconsumeInput(lsn.conn) && pq.PQstatus(lsn.conn) == CONNECTION_OK) {
		while ((n = pq.PQnotifies(lsn.conn)) != NULL) {
			if (event_id_valid(n->extra, strlen(n->extra)))
				fn(arg, n->extra);
			pq.PQfreemem(n);
		}
		return 0;
	}
	if (lsn.conn != NULL)
		log_pq("listen", pq.PQerrorMessage(lsn.conn));
	drop(&lsn);
	/* Reconnected: what changed meanwhile is unknown (rescan). */
	if (listen_again(watch_cfg) == 0) {
		log_info("database: listening again");
		return point_watch() == -1 ? -1 : 1;
	}
	return point_watch();
}

/* ---- Counters of `metrics`: one row per host and counter ---- */

static const char *
host_name(void)
{
	static char	 host[256];

	if (host[0] == '\0' && gethostname(host, sizeof(host) - 1) == -1)
		(void)snprintf(host, sizeof(host), "unknown");
	return host;
}

/* One counter's increment (none when n is 0) into a statement list. */
static void
add_counter(struct sh_buf *sql, const char *host, const char *name,
    unsigned long n)
{
	if (n > 0)
		buf_printf(sql, " INSERT INTO stripehook_counters VALUES (%s, "
		    "'%s', %lu) ON CONFLICT (host, name) DO UPDATE SET value = "
		    "stripehook_counters.value + EXCLUDED.value;", host, name, n);
}

/* Hook results not yet sent: they go with the next round trip of
 * counters (the request's, or metrics_flush at the end of an attempt). */
static unsigned long	pend_hook_ok, pend_hook_failed;

/* Adds to counters in one round trip without waiting for the disk:
 * losing the last counts in a crash of the database is acceptable, a
 * request waiting for them is not.  name NULL: the pending hook results
 * alone. */
static void
count(const struct sh_config *cfg, const char *name, int verified)
{
	struct pg_res	 res;
	struct sh_buf	 sql;
	char		*h = NULL;

	if (name == NULL && pend_hook_ok == 0 && pend_hook_failed == 0)
		return;

	/* Never a connection (or a wait) for an unverified request, nor
	 * again right after a failure. */
	if (db.conn == NULL || db.pid != getpid()) {
		if (!verified || time(NULL) - db.failed <
		    cfg->database_timeout)
			return;
	}
	if (get_conn(&db, cfg, 1) == NULL)
		return;
	buf_init(&sql);
	if ((h = pq.PQescapeLiteral(db.conn, host_name(),
	    strlen(host_name()))) == NULL)
		goto out;
	buf_puts(&sql, "BEGIN; SET LOCAL synchronous_commit = off;");
	if (name != NULL)
		add_counter(&sql, h, name, 1);
	add_counter(&sql, h, "hook_ok", pend_hook_ok);
	add_counter(&sql, h, "hook_failed", pend_hook_failed);
	if (verified)
		buf_printf(&sql, " INSERT INTO stripehook_counters VALUES (%s, "
		    "'last_event', %lld) ON CONFLICT (host, name) DO UPDATE SET "
		    "value = GREATEST(stripehook_counters.value, "
		    "EXCLUDED.value);", h, (long long)time(NULL));
	buf_puts(&sql, " COMMIT");
	if (sql.p != NULL && run_many(&db, "counters", sql.p, &res) == 0) {
		res_clear(&res);
		pend_hook_ok = pend_hook_failed = 0;
	}
out:
	pq.PQfreemem(h);
	buf_free(&sql);
}

void
pg_metrics_request(const struct sh_config *cfg, int status, int verified)
{
	char	 name[32];

	(void)snprintf(name, sizeof(name), "requests_%d", status);
	count(cfg, name, verified);
}

void
pg_metrics_hook(const struct sh_config *cfg, int ok)
{
	(void)cfg;
	if (ok)
		pend_hook_ok++;
	else
		pend_hook_failed++;
}

void
pg_metrics_flush(const struct sh_config *cfg)
{
	count(cfg, NULL, 0);
}

int
pg_metrics_read(const struct sh_config *cfg, uint64_t *last_event,
    uint64_t *hook_ok, uint64_t *hook_failed, const int *statuses,
    uint64_t *requests, size_t nstatus)
{
	struct pg_conn	*c;
	struct pg_res	 res;
	const char	*v[1], *name;
	uint64_t	 val;
	size_t		 k;
	int		 i;

	v[0] = host_name();
	if ((c = get_conn(&db, cfg, 1)) == NULL || run(c, "metrics", "SELECT "
	    "name, value FROM stripehook_counters WHERE host = $1 UNION ALL "
	    "SELECT 'last_event', coalesce(max(value), 0) FROM "
	    "stripehook_counters WHERE name = 'last_event'", 1, v, NULL, NULL,
	    0, &res) == -1)
		return -1;
	for (i = 0; i < pq.PQntuples(res.r[0]); i++) {
		name = pq.PQgetvalue(res.r[0], i, 0);
		val = strtoull(pq.PQgetvalue(res.r[0], i, 1), NULL, 10);
		if (strcmp(name, "last_event") == 0) {
			if (val > *last_event)
				*last_event = val;
		} else if (strcmp(name, "hook_ok") == 0)
			*hook_ok = val;
		else if (strcmp(name, "hook_failed") == 0)
			*hook_failed = val;
		else if (strncmp(name, "requests_", 9) == 0) {
			for (k = 0; k < nstatus; k++)
				if (statuses[k] == atoi(name + 9))
					break;
			requests[k] += val;	/* [nstatus]: other */
		}
	}
	res_clear(&res);
	return 0;
}

/* ---- check and migrate ---- */

void
pg_check(const struct sh_config *cfg, struct sh_diag *diag)
{
	if (get_conn(&db, cfg, 1) == NULL)
		diag_error(diag, "%s: database: cannot use it (the lines "
		    "above say why)", cfg->path);
}

/* Version 1 of the schema. */
static const char pg_schema_v1[] =
	"CREATE TABLE stripehook_events ("
	" id text PRIMARY KEY,"
	" created bigint NOT NULL,"
	" updated bigint NOT NULL,"
	" payload bytea,"
	" queued boolean NOT NULL DEFAULT false,"
	" attempts integer NOT NULL DEFAULT 0,"
	" first_queued bigint NOT NULL DEFAULT 0,"
	" next_attempt bigint NOT NULL DEFAULT 0,"
	" dead boolean NOT NULL DEFAULT false,"
	" last_result text NOT NULL DEFAULT '');"
	"CREATE INDEX stripehook_events_queued ON stripehook_events"
	" (first_queued) WHERE queued;"
	"CREATE INDEX stripehook_events_updated ON stripehook_events"
	" (updated);"
	"CREATE TABLE stripehook_records ("
	" event_id text NOT NULL REFERENCES stripehook_events (id)"
	"  ON DELETE CASCADE,"
	" hook_hash text NOT NULL,"
	" identity text NOT NULL,"
	" done_at bigint NOT NULL,"
	" PRIMARY KEY (event_id, hook_hash));"
	"CREATE TABLE stripehook_counters ("
	" host text NOT NULL,"
	" name text NOT NULL,"
	" value bigint NOT NULL DEFAULT 0,"
	" PRIMARY KEY (host, name));"
	"INSERT INTO stripehook_schema (version) VALUES (1);";

/*
 * In one transaction, under a lock so that two migrations wait for each
 * other: the version table, the version found, the steps after it.
 * 0 (printed what it did), 1 a newer schema, or -1.
 */
static int
migrate(struct pg_conn *c)
{
	struct pg_res	 res;
	long long	 ll;
	long		 v;
	int		 rc = -1;

	if (run_many(c, "migrate", "BEGIN; SELECT pg_advisory_xact_lock("
	    "hashtextextended('stripehook migrate', 0)); CREATE TABLE IF NOT "
	    "EXISTS stripehook_schema (version integer NOT NULL); SELECT "
	    "coalesce(max(version), 0) FROM stripehook_schema", &res) == -1)
		goto fail;
	if (res.n < 4 || pq.PQntuples(res.r[3]) != 1 ||
	    parse_decimal(pq.PQgetvalue(res.r[3], 0, 0), 0, INT32_MAX, &ll) != 0) {
		log_warnx("database: migrate: no schema version read");
		res_clear(&res);
		goto fail;
	}
	v = (long)ll;
	res_clear(&res);
	if (v > SH_DB_SCHEMA_VERSION) {
		fprintf(stderr, "stripehook: schema version %ld is newer than "
		    "this stripehook's (%d)\n", v, SH_DB_SCHEMA_VERSION);
		rc = 1;
		goto fail;
	}
	if (v < 1 && run_many(c, "migrate", pg_schema_v1, &res) == -1)
		goto fail;
	res_clear(&res);
	if (run_many(c, "migrate", "COMMIT", &res) == -1)
		goto fail;
	res_clear(&res);
	if (v == SH_DB_SCHEMA_VERSION)
		printf("schema version %d: already current\n",
		    SH_DB_SCHEMA_VERSION);
	else
		printf("schema version %d: made from version %ld\n",
		    SH_DB_SCHEMA_VERSION, v);
	return 0;
fail:
	drop(c);		/* rolls back whatever was begun */
	return rc;
}

/* stripehook migrate [-c file] */
int
tool_migrate(int argc, char **argv, const char *cfgpath)
{
	struct sh_config *cfg;
	struct sh_diag	 diag;
	struct pg_conn	*c;
	size_t		 i;
	int		 rc = 2;

	if (argc == 3 && strcmp(argv[1], "-c") == 0)
		cfgpath = argv[2];
	else if (argc != 1) {
		fprintf(stderr, "usage: stripehook migrate [-c file]\n");
		return 2;
	}
	memset(&diag, 0, sizeof(diag));
	if ((cfg = config_load(cfgpath ? cfgpath : config_default_path(),
	    &diag)) == NULL) {
		for (i = 0; i < diag.nerrors; i++)
			fprintf(stderr, "%s\n", diag.errors[i]);
		diag_free(&diag);
		return 1;
	}
	diag_free(&diag);
	if (cfg->database == NULL) {
		fprintf(stderr, "stripehook: %s: no database line: nothing "
		    "to migrate\n", cfg->path);
		rc = 1;
	} else if ((c = get_conn(&db, cfg, 0)) != NULL &&
	    (rc = migrate(c)) == 0)
		rc = fflush(stdout) == 0 ? 0 : 2;
	else if (rc == -1)
		rc = 2;
	drop(&db);
	config_free(cfg);
	return rc;
}

#else /* !HAVE_LIBPQ: configure --without-postgresql */

#define PG_NONE	"database: this stripehook was built without PostgreSQL"

const char *
pg_conninfo_problem(const char *conninfo)
{
	(void)conninfo;
	return "this stripehook was built without PostgreSQL "
	    "(configure --without-postgresql)";
}

enum sh_err
pg_event_open(const struct sh_config *cfg, const char *id, int create,
    int lock, struct pg_event **out)
{
	(void)cfg; (void)id; (void)create; (void)lock;
	*out = NULL;
	log_warnx(PG_NONE);
	return SH_E_STATE;
}

void pg_event_close(struct pg_event *pe) { (void)pe; }
int pg_hook_done(struct pg_event *pe, const struct sh_hook *h)
{ (void)pe; (void)h; return -1; }
enum sh_err pg_keep_payload(struct pg_event *pe, const unsigned char *b,
    size_t l) { (void)pe; (void)b; (void)l; return SH_E_STATE; }
enum sh_err pg_record(struct pg_event *pe, const struct sh_hook *h)
{ (void)pe; (void)h; return SH_E_STATE; }
enum sh_err pg_finish(struct pg_event *pe) { (void)pe; return SH_E_STATE; }
int pg_payload(struct pg_event *pe, struct sh_buf *b, size_t m)
{ (void)pe; (void)b; (void)m; return -1; }
int pg_records(struct pg_event *pe, int (*fn)(void *, const char *, time_t),
    void *a) { (void)pe; (void)fn; (void)a; return -1; }
int pg_forget(struct pg_event *pe, const char *i)
{ (void)pe; (void)i; return -1; }
enum sh_err pg_prune(const struct sh_config *c, time_t n, unsigned *r,
    unsigned *b)
{ (void)c; (void)n; *r = *b = 0; log_warnx(PG_NONE); return SH_E_STATE; }
int pg_each_unfinished(const struct sh_config *c,
    int (*fn)(void *, const char *, time_t), void *a)
{ (void)c; (void)fn; (void)a; return -1; }
int pg_queue_lock(const char *id) { (void)id; return -1; }
void pg_queue_unlock(int t) { (void)t; }
int pg_queue_get(const struct sh_config *c, const char *i, struct sh_queued *q)
{ (void)c; (void)i; (void)q; return -1; }
enum sh_err pg_queue_put(const struct sh_config *c, const char *i,
    const struct sh_queued *q) { (void)c; (void)i; (void)q; return SH_E_STATE; }
enum sh_err pg_queue_drop(const struct sh_config *c, const char *i)
{ (void)c; (void)i; return SH_E_STATE; }
int pg_queue_each(const struct sh_config *c,
    int (*fn)(void *, const char *, const struct sh_queued *), void *a)
{ (void)c; (void)fn; (void)a; return -1; }
int pg_queue_busy(const struct sh_config *c, const char *i)
{ (void)c; (void)i; return 0; }
int pg_queue_watch(const struct sh_config *c)
{ (void)c; log_warnx(PG_NONE); return -1; }
int pg_is_watch(int fd) { (void)fd; return 0; }
int pg_queue_changed(int fd, void (*fn)(void *, const char *), void *a)
{ (void)fd; (void)fn; (void)a; return -1; }
void pg_metrics_request(const struct sh_config *c, int s, int v)
{ (void)c; (void)s; (void)v; }
void pg_metrics_hook(const struct sh_config *c, int ok) { (void)c; (void)ok; }
void pg_metrics_flush(const struct sh_config *c) { (void)c; }
int pg_metrics_read(const struct sh_config *c, uint64_t *l, uint64_t *o,
    uint64_t *f, const int *s, uint64_t *r, size_t n)
{ (void)c; (void)l; (void)o; (void)f; (void)s; (void)r; (void)n; return -1; }
void pg_check(const struct sh_config *c, struct sh_diag *d)
{ diag_error(d, "%s: %s", c->path, PG_NONE); }

int
tool_migrate(int argc, char **argv, const char *cfgpath)
{
	(void)argc; (void)argv; (void)cfgpath;
	fprintf(stderr, "stripehook: %s\n", PG_NONE);
	return 1;
}

#endif /* HAVE_LIBPQ */
