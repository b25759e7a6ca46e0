/*
 * De-duplication records (stripehook(8) DELIVERY).
 *
 * Layout under state_dir, one directory per event:
 *
 *	STATE_DIR/EVENT_ID/		mode 0700, created by the first delivery
 *	STATE_DIR/EVENT_ID/lock		flock(2)ed by the delivery (or tool)
 *					working on the event, mode 0644
 *	STATE_DIR/EVENT_ID/payload	the raw body, kept while the event's
 *					hooks are unfinished, mode 0600
 *	STATE_DIR/EVENT_ID/ok-HASH	one per hook that succeeded: HASH is the
 *					lowercase hex SHA-256 of the hook's
 *					identity; the file holds the identity,
 *					a newline, the success time in seconds
 *					since the epoch and a newline; mode 0644
 *	STATE_DIR/EVENT_ID/.tmp-NAME	a file being written (left only by a
 *					handler that died while writing)
 *
 * The event id is the only outside string that reaches a file name, and
 * only after event_id_valid() ("invalid event id" otherwise: 1-255 characters of
 * [A-Za-z0-9_-]), so it is always one safe path component.  Hook
 * identities only reach file names hashed.  Every file is reached with
 * openat(2) and friends relative to a descriptor of state_dir, never
 * through a path built from outside data, and never through a symbolic
 * link.
 *
 * Durability: a file is written as .tmp-NAME, synced, renamed over NAME,
 * then the event directory is synced; creating the event directory syncs
 * state_dir.  state_dir itself is never created: when it is missing every
 * delivery fails (500).
 *
 * Locking: the lock is held from state_open() to state_close(); the kernel
 * drops it when the holder dies.  A record exists only once its hook has
 * succeeded, so a handler killed mid-hook leaves no record.  Pruning
 * (state_prune) takes the same lock before removing an event directory and
 * skips events that are locked; a delivery that opened a directory or lock
 * file that prune then removed notices after its flock(2) (the name no
 * longer leads to what it has open) and starts over.
 *
 * Pruning drops an event directory once its newest file is more than
 * state_ttl days old, kept payload included (Stripe has given up on the
 * event long before).  The tools (statetools.c) lock an event to change
 * it (forget; replay through the delivery code) but read it unlocked
 * (status), which is safe because every file is replaced atomically.
 * Files a tool creates belong to whoever runs it: the tools are meant to
 * run as the user deliveries run as.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "stripehook.h"

#define STATE_LOCK		"lock"
#define STATE_PAYLOAD		"payload"
#define STATE_RECORD_PREFIX	"ok-"
#define STATE_TMP_PREFIX	".tmp-"
#define STATE_HASH_HEX		64		/* SHA-256 in hex */
/* Bytes of our longest name ("ok-" and the hash) with its NUL. */
#define STATE_NAME_MAX		(sizeof(STATE_RECORD_PREFIX) + STATE_HASH_HEX)
#define STATE_RECORD_MAX	(SH_CONFIG_LINE_MAX + 64)	/* bytes */
#define STATE_OPEN_TRIES	8	/* restarts when prune interferes */
#define STATE_DIR_MODE		0700
#define STATE_PUBLIC_MODE	0644	/* lock and records: nothing secret */
#define STATE_PAYLOAD_MODE	0600	/* customer data */
#define STATE_SECONDS_PER_DAY	86400

struct sh_state {
	char	*state_dir;		/* for log lines */
	char	 id[SH_ID_MAX + 1];
	int	 rootfd;		/* state_dir */
	int	 dirfd;			/* state_dir/id */
	int	 lockfd;		/* state_dir/id/lock, -1 when not locked */
	int	 root_synced;		/* state_dir synced since we opened */
	struct pg_event *pg;		/* database: the PostgreSQL store
					 * (pgstore.c) does the work */
};

/*
 * Writes "ok-" and the lowercase hex SHA-256 of identity into name
 * (STATE_NAME_MAX bytes).  0 or -1 (logged).
 */
static int
record_name(const char *identity, char *name)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;

	if (EVP_Digest(identity, strlen(identity), md, &mdlen, EVP_sha256(),
	    NULL) != 1 || mdlen * 2 != STATE_HASH_HEX) {
		log_warnx("state: cannot hash a hook identity");
		return -1;
	}
	memcpy(name, STATE_RECORD_PREFIX, sizeof(STATE_RECORD_PREFIX) - 1);
	hex_encode(md, mdlen, name + sizeof(STATE_RECORD_PREFIX) - 1);
	return 0;
}

/* 1 when name looks like a record file name. */
static int
is_record_name(const char *name)
{
	size_t	 plen = sizeof(STATE_RECORD_PREFIX) - 1, i;

	if (strncmp(name, STATE_RECORD_PREFIX, plen) != 0 ||
	    strlen(name) != plen + STATE_HASH_HEX)
		return 0;
	for (i = plen; name[i] != '\0'; i++)
		if (!isdigit((unsigned char)name[i]) &&
		    (name[i] < 'a' || name[i] > 'f'))
			return 0;
	return 1;
}

/*
 * Opens name in the event directory for reading (flags adds O_CREAT and
 * the like) so that nothing but a regular file is ever read or waited on:
 * never through a symbolic link, never blocking in open(2) (a FIFO in its
 * place would wait for a writer), and refused after fstat(2) when it is
 * not a regular file.  The fd, or -1: errno ENOENT when there is none,
 * else logged.
 */
static int
open_record(struct sh_state *st, const char *name, int flags, mode_t mode)
{
	struct stat	 sb;
	int		 fd;

	if ((fd = openat(st->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC | flags, mode)) == -1) {
		if (errno != ENOENT)
			log_warn("state: open %s/%s/%s", st->state_dir, st->id,
			    name);
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		log_warn("state: stat %s/%s/%s", st->state_dir, st->id, name);
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		log_warnx("state: %s/%s/%s: not a regular file",
		    st->state_dir, st->id, name);
		goto fail;
	}
	return fd;
fail:
	(void)close(fd);
	errno = EINVAL;
	return -1;
}

/*
 * The one walk over a records directory: calls fn(arg, name) for each
 * entry of the directory dfd but "." and "..", in no particular order,
 * through a descriptor of its own (readdir must not move dfd's offset).
 * Returns 0; -1 when the directory cannot be read (errno set); or the
 * first non-zero value fn returned, which stops the walk.
 */
static int
walk_dir(int dfd, int (*fn)(void *, const char *), void *arg)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd, rc = 0, saved;

	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		saved = errno;
		(void)close(fd);
		errno = saved;
		return -1;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0)
				rc = -1;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if ((rc = fn(arg, de->d_name)) != 0)
			break;
	}
	saved = errno;
	(void)closedir(d);
	errno = saved;
	return rc;
}

/* Closes the event directory and its lock (which releases the lock). */
static void
close_event(struct sh_state *st)
{
	if (st->lockfd != -1)
		(void)close(st->lockfd);
	if (st->dirfd != -1)
		(void)close(st->dirfd);
	st->lockfd = st->dirfd = -1;
}

void
state_close(struct sh_state *st)
{
	if (st == NULL)
		return;
	close_event(st);
	pg_event_close(st->pg);		/* database */
	if (st->rootfd != -1)
		(void)close(st->rootfd);
	free(st->state_dir);
	free(st);
}

/* 1 when fd is still the file that name in dfd names, 0 when it was
 * removed or replaced, -1 on error (errno set). */
static int
still_named(int fd, int dfd, const char *name)
{
	struct stat	 have, named;

	if (fstat(fd, &have) == -1)
		return -1;
	if (fstatat(dfd, name, &named, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	return have.st_nlink != 0 && have.st_dev == named.st_dev &&
	    have.st_ino == named.st_ino;
}

/*
 * After the flock: 1 when the directory and lock file we hold are still
 * the ones state_dir/id and state_dir/id/lock name, 0 when prune removed
 * one of them meanwhile, -1 on error (logged).
 */
static int
still_linked(struct sh_state *st)
{
	int	 r;

	if ((r = still_named(st->dirfd, st->rootfd, st->id)) == 1)
		r = still_named(st->lockfd, st->dirfd, STATE_LOCK);
	if (r == -1)
		log_warn("state: stat %s/%s", st->state_dir, st->id);
	return r;
}

/*
 * A handle on state_dir for the event id (checked by the caller), its
 * event directory not open yet.  SH_OK with *out set, or SH_E_STATE
 * (logged).  state_dir is never created here: when it is missing every
 * delivery fails (DELIVERY).
 */
static enum sh_err
new_state(const struct sh_config *cfg, const char *id, struct sh_state **out)
{
	struct sh_state	*st;

	*out = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->state_dir = strdup(cfg->state_dir)) == NULL) {
		log_warn("state: out of memory");
		free(st);
		return SH_E_STATE;
	}
	st->rootfd = st->dirfd = st->lockfd = -1;
	(void)snprintf(st->id, sizeof(st->id), "%s", id);
	if ((st->rootfd = open(st->state_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		log_warn("state: open state_dir %s", st->state_dir);
		state_close(st);
		return SH_E_STATE;
	}
	*out = st;
	return SH_OK;
}

/* Creates the event directory unless it exists; a new one is made
 * durable by syncing state_dir.  0, or -1 (logged). */
static int
make_event_dir(struct sh_state *st)
{
	if (mkdirat(st->rootfd, st->id, STATE_DIR_MODE) == 0) {
		if (fsync(st->rootfd) == -1) {
			log_warn("state: fsync %s", st->state_dir);
			return -1;
		}
		st->root_synced = 1;
	} else if (errno != EEXIST) {
		log_warn("state: mkdir %s/%s", st->state_dir, st->id);
		return -1;
	}
	return 0;
}

/*
 * Takes the event's lock (LOCK_EX|LOCK_NB) on its lock file, created
 * when missing.  1 when held; 0 when prune removed the directory before
 * the lock file could be opened, or what we hold is no longer what
 * state_dir/id/lock names (start over); -1 with *err SH_E_IN_PROGRESS
 * when another holds it, or SH_E_STATE (logged).
 */
static int
lock_event(struct sh_state *st, enum sh_err *err)
{
	int	 r;

	*err = SH_E_STATE;
	/* O_RDONLY suffices for flock, and works on a lock file another
	 * user created. */
	if ((st->lockfd = open_record(st, STATE_LOCK, O_CREAT,
	    STATE_PUBLIC_MODE)) == -1)
		return errno == ENOENT ? 0 : -1;
	while ((r = flock(st->lockfd, LOCK_EX | LOCK_NB)) == -1 &&
	    errno == EINTR)
		continue;
	if (r == -1) {
		if (errno == EWOULDBLOCK)
			*err = SH_E_IN_PROGRESS;
		else
			log_warn("state: flock %s/%s/%s", st->state_dir,
			    st->id, STATE_LOCK);
		return -1;
	}
	return still_linked(st);
}

/* database: the same handle around the PostgreSQL store's event. */
static enum sh_err
open_pg(const struct sh_config *cfg, const char *id, int create, int lock,
    struct sh_state **out)
{
	struct sh_state	*st;
	struct pg_event	*pe = NULL;
	enum sh_err	 rc;

	if ((rc = pg_event_open(cfg, id, create, lock, &pe)) != SH_OK ||
	    pe == NULL)
		return rc;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		log_warn("state: out of memory");
		pg_event_close(pe);
		return SH_E_STATE;
	}
	st->rootfd = st->dirfd = st->lockfd = -1;
	(void)snprintf(st->id, sizeof(st->id), "%s", id);
	st->pg = pe;
	*out = st;
	return SH_OK;
}

/*
 * Opens the event's directory, creating it when create is set, and locks
 * it when lock is set (LOCK_EX|LOCK_NB).  SH_OK with *out set; SH_OK with
 * *out NULL when the event is unknown and create is not set;
 * SH_E_IN_PROGRESS when the lock is held elsewhere; SH_E_EVENT_ID for an
 * "invalid event id" (which never reaches the file system); SH_E_STATE on
 * any other failure (logged).  A directory pruned under us is opened
 * again, at most STATE_OPEN_TRIES times.
 */
static enum sh_err
open_event(const struct sh_config *cfg, const char *id, int create, int lock,
    struct sh_state **out)
{
	struct sh_state	*st = NULL;
	enum sh_err	 rc = SH_E_STATE;
	int		 tries, r;

	*out = NULL;
	if (cfg->database != NULL)	/* the PostgreSQL store */
		return open_pg(cfg, id, create, lock, out);
	if (cfg->state_dir == NULL) {
		log_warnx("state: records used while state_dir is none");
		return SH_E_STATE;
	}
	if (id == NULL || !event_id_valid(id, strlen(id))) {
		log_warnx("state: refusing an invalid event id");
		return SH_E_EVENT_ID;
	}
	if ((rc = new_state(cfg, id, &st)) != SH_OK)
		return rc;
	for (tries = 0; ; tries++) {
		close_event(st);
		rc = SH_E_STATE;
		if (tries == STATE_OPEN_TRIES) {
			log_warnx("state: %s/%s keeps being removed under us",
			    st->state_dir, st->id);
			goto done;
		}
		if (create && make_event_dir(st) == -1)
			goto done;
		if ((st->dirfd = openat(st->rootfd, st->id, O_RDONLY |
		    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
			if (errno == ENOENT && create)
				continue;	/* pruned since our mkdir */
			if (errno == ENOENT)
				rc = SH_OK;	/* unknown event */
			else
				log_warn("state: open %s/%s", st->state_dir,
				    st->id);
			goto done;
		}
		if (!lock || (r = lock_event(st, &rc)) == 1)
			break;
		if (r == -1)
			goto done;	/* held elsewhere, or an error */
	}
	*out = st;
	st = NULL;
	rc = SH_OK;
done:
	state_close(st);
	return rc;
}

/* The event's lock, taken by a delivery (creates the records). */
enum sh_err
state_open(const struct sh_config *cfg, const char *event_id,
    struct sh_state **out)
{
	return open_event(cfg, event_id, 1, 1, out);
}

/* For the tools: never creates an event; lock as asked. */
enum sh_err
state_open_existing(const struct sh_config *cfg, const char *event_id,
    int lock, struct sh_state **out)
{
	return open_event(cfg, event_id, 0, lock, out);
}

/*
 * Writes name in the event directory atomically and durably: temporary
 * file, write, fsync, rename, fsync of the directory (and, once, of
 * state_dir, in case the directory was made by a handler that died before
 * syncing it).  SH_OK or SH_E_STATE (logged, naming the step).
 */
static enum sh_err
write_atomic(struct sh_state *st, const char *name, mode_t mode,
    const void *data, size_t len)
{
	const char	*p = data, *step, *what;
	char		 tmp[sizeof(STATE_TMP_PREFIX) + STATE_NAME_MAX];
	enum sh_err	 rc = SH_E_STATE;
	size_t		 off;
	ssize_t		 n;
	int		 fd = -1, made = 0;

	(void)snprintf(tmp, sizeof(tmp), "%s%s", STATE_TMP_PREFIX, name);
	if (!st->root_synced) {
		if (fsync(st->rootfd) == -1) {
			log_warn("state: fsync %s", st->state_dir);
			return SH_E_STATE;
		}
		st->root_synced = 1;
	}
	what = tmp;
	step = "create";
	/* A stale one may belong to another user: replace it, and create
	 * ours exclusively. */
	if (unlinkat(st->dirfd, tmp, 0) == -1 && errno != ENOENT)
		goto done;
	if ((fd = openat(st->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, mode)) == -1)
		goto done;
	made = 1;
	step = "write";
	for (off = 0; off < len; off += (size_t)n) {
		if ((n = write(fd, p + off, len - off)) == -1) {
			if (errno == EINTR) {
				n = 0;
				continue;
			}
			goto done;
		}
		if (n == 0) {
			errno = EIO;
			goto done;
		}
	}
	step = "fsync";
	if (fsync(fd) == -1)
		goto done;
	step = "close";
	n = close(fd);
	fd = -1;
	if (n == -1)
		goto done;
	step = "rename";
	what = name;
	if (renameat(st->dirfd, tmp, st->dirfd, name) == -1)
		goto done;
	made = 0;
	/* Failing here leaves the file in place but maybe not on disk: the
	 * caller still answers 500, and the redelivery finds it. */
	step = "fsync";
	what = "";
	if (fsync(st->dirfd) == -1)
		goto done;
	rc = SH_OK;
done:
	if (rc != SH_OK)
		log_warn("state: %s %s/%s%s%s", step, st->state_dir, st->id,
		    *what ? "/" : "", what);
	if (fd != -1)
		(void)close(fd);
	if (made)
		(void)unlinkat(st->dirfd, tmp, 0);
	return rc;
}

/* 1 when a success record exists for the hook, 0 when not, -1 on error. */
int
state_hook_done(struct sh_state *st, const struct sh_hook *hook)
{
	char		 name[STATE_NAME_MAX];
	struct stat	 sb;

	if (st->pg != NULL)
		return pg_hook_done(st->pg, hook);
	if (record_name(hook->identity, name) == -1)
		return -1;
	if (fstatat(st->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISREG(sb.st_mode))
			return 1;
		log_warnx("state: %s/%s/%s: not a regular file",
		    st->state_dir, st->id, name);
		return -1;
	}
	if (errno == ENOENT)
		return 0;
	log_warn("state: stat %s/%s/%s", st->state_dir, st->id, name);
	return -1;
}

/* The raw payload is kept while hooks are unfinished (DELIVERY). */
enum sh_err
state_keep_payload(struct sh_state *st, const unsigned char *body,
    size_t len)
{
	if (st->pg != NULL)
		return pg_keep_payload(st->pg, body, len);
	return write_atomic(st, STATE_PAYLOAD, STATE_PAYLOAD_MODE, body, len);
}

/* A success is written and synced before the 200 answer (DELIVERY). */
enum sh_err
state_record(struct sh_state *st, const struct sh_hook *hook)
{
	char		 name[STATE_NAME_MAX];
	struct sh_buf	 b;
	enum sh_err	 rc = SH_E_STATE;

	if (st->pg != NULL)
		return pg_record(st->pg, hook);
	buf_init(&b);
	if (record_name(hook->identity, name) == -1)
		goto done;
	if (buf_printf(&b, "%s\n%lld\n", hook->identity,
	    (long long)time(NULL)) == -1) {
		log_warn("state: out of memory");
		goto done;
	}
	rc = write_atomic(st, name, STATE_PUBLIC_MODE, b.p, b.len);
done:
	buf_free(&b);
	return rc;
}

/* Every matching hook succeeded: the payload is no longer needed.  The
 * records stay until state_prune. */
enum sh_err
state_finish(struct sh_state *st)
{
	if (st->pg != NULL)
		return pg_finish(st->pg);
	if (unlinkat(st->dirfd, STATE_PAYLOAD, 0) == -1) {
		if (errno == ENOENT)
			return SH_OK;
		log_warn("state: unlink %s/%s/%s", st->state_dir, st->id,
		    STATE_PAYLOAD);
		return SH_E_STATE;
	}
	if (fsync(st->dirfd) == -1) {
		log_warn("state: fsync %s/%s", st->state_dir, st->id);
		return SH_E_STATE;
	}
	return SH_OK;
}

/*
 * Reads the kept payload (at most max bytes) into b.  1 when kept, 0 when
 * not, -1 on error (logged).
 */
int
state_payload(struct sh_state *st, struct sh_buf *b, size_t max)
{
	int	 fd, rc = 1;

	if (st->pg != NULL)
		return pg_payload(st->pg, b, max);
	if ((fd = open_record(st, STATE_PAYLOAD, 0, 0)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (read_fd_all(fd, b, max) == -1) {
		log_warn("state: read %s/%s/%s", st->state_dir, st->id,
		    STATE_PAYLOAD);
		rc = -1;
	}
	(void)close(fd);
	return rc;
}

/*
 * Reads record name: on success 0 with the identity (NUL-terminated, in
 * b) and the time; -1 when unreadable or not a record we wrote (logged).
 */
static int
read_record(struct sh_state *st, const char *name, struct sh_buf *b,
    time_t *when)
{
	char		 check[STATE_NAME_MAX], *nl, *end;
	long long	 t;
	size_t		 i;
	int		 fd, rc = -1;

	buf_reset(b);
	if ((fd = open_record(st, name, 0, 0)) == -1) {
		if (errno == ENOENT)
			log_warn("state: open %s/%s/%s", st->state_dir, st->id,
			    name);
		goto done;
	}
	if (read_fd_all(fd, b, STATE_RECORD_MAX) == -1) {
		log_warn("state: read %s/%s/%s", st->state_dir, st->id, name);
		goto done;
	}
	errno = 0;
	if (b->len == 0 || (nl = memchr(b->p, '\n', b->len)) == NULL ||
	    nl == b->p || b->p[b->len - 1] != '\n')
		goto bad;
	*nl = '\0';
	for (i = 0; b->p[i] != '\0'; i++)
		if (iscntrl((unsigned char)b->p[i]))
			goto bad;
	if (!isdigit((unsigned char)nl[1]))
		goto bad;
	t = strtoll(nl + 1, &end, 10);
	if (errno != 0 || *end != '\n' || end != b->p + b->len - 1)
		goto bad;
	/* The name must be the hash of the identity inside. */
	if (record_name(b->p, check) == -1 || strcmp(check, name) != 0)
		goto bad;
	*when = (time_t)t;
	b->len = (size_t)(nl - b->p);
	rc = 0;
	goto done;
bad:
	log_warnx("state: %s/%s/%s is not a valid record", st->state_dir,
	    st->id, name);
done:
	if (fd != -1)
		(void)close(fd);
	return rc;
}

struct records_walk {
	struct sh_state	*st;
	struct sh_buf	 b;
	int		(*fn)(void *, const char *, time_t);
	void		*arg;
};

static int
records_one(void *arg, const char *name)
{
	struct records_walk	*w = arg;
	time_t			 when;

	if (!is_record_name(name))
		return 0;
	if (read_record(w->st, name, &w->b, &when) == -1)
		return 1;
	return w->fn(w->arg, w->b.p, when) == -1 ? 1 : 0;
}

/*
 * Calls fn(arg, identity, time) for each success record of the event, in
 * no particular order.  0, or -1 when the directory cannot be read or a
 * record is unreadable (logged), or fn returned -1 (which stops it).
 */
int
state_records(struct sh_state *st, int (*fn)(void *, const char *, time_t),
    void *arg)
{
	struct records_walk	 w;
	int			 r;

	if (st->pg != NULL)
		return pg_records(st->pg, fn, arg);
	w.st = st;
	w.fn = fn;
	w.arg = arg;
	buf_init(&w.b);
	if ((r = walk_dir(st->dirfd, records_one, &w)) == -1)
		log_warn("state: read %s/%s", st->state_dir, st->id);
	buf_free(&w.b);
	return r == 0 ? 0 : -1;
}

/*
 * Drops the success record of the hook with this identity, so the next
 * delivery runs it again.  1 dropped, 0 there was none, -1 on error.
 */
int
state_forget(struct sh_state *st, const char *identity)
{
	char	 name[STATE_NAME_MAX];

	if (st->pg != NULL)
		return pg_forget(st->pg, identity);
	if (record_name(identity, name) == -1)
		return -1;
	if (unlinkat(st->dirfd, name, 0) == -1) {
		if (errno == ENOENT)
			return 0;
		log_warn("state: unlink %s/%s/%s", st->state_dir, st->id, name);
		return -1;
	}
	if (fsync(st->dirfd) == -1) {
		log_warn("state: fsync %s/%s", st->state_dir, st->id);
		return -1;
	}
	return 1;
}

struct newest {
	struct sh_state	*st;
	time_t		 newest;
	int		 payload;
};

static int
newest_one(void *arg, const char *name)
{
	struct newest	*n = arg;
	struct stat	 sb;

	if (fstatat(n->st->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	if (sb.st_mtime > n->newest)
		n->newest = sb.st_mtime;
	if (strcmp(name, STATE_PAYLOAD) == 0)
		n->payload = 1;
	return 0;
}

/*
 * Newest modification time of the files in the event directory (the
 * lock's is its creation time: flock does not change it).  0 or -1.
 */
static int
newest_mtime(struct sh_state *st, time_t *newest, int *payload)
{
	struct newest	 n = { st, 0, 0 };

	if (walk_dir(st->dirfd, newest_one, &n) != 0)
		return -1;
	*newest = n.newest;
	*payload = n.payload;
	return 0;
}

static int
unlink_one(void *arg, const char *name)
{
	struct sh_state	*st = arg;

	if (strcmp(name, STATE_LOCK) == 0)
		return 0;
	if (unlinkat(st->dirfd, name, 0) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

/*
 * Empties the locked event directory, lock file last, and removes it.
 * 1 removed, 0 a delivery made a new lock file meanwhile (it keeps the
 * directory, now without the old records), -1 on error (logged).
 */
static int
remove_event(struct sh_state *st)
{
	if (walk_dir(st->dirfd, unlink_one, st) != 0 ||
	    (unlinkat(st->dirfd, STATE_LOCK, 0) == -1 && errno != ENOENT))
		goto fail;
	if (unlinkat(st->rootfd, st->id, AT_REMOVEDIR) == 0)
		return 1;
	if (errno == ENOTEMPTY || errno == EEXIST)
		return 0;
fail:
	log_warn("state: prune %s/%s", st->state_dir, st->id);
	return -1;
}

struct prune {
	const struct sh_config	*cfg;
	int			 rootfd;
	time_t			 cutoff;	/* newest file at or before */
	unsigned		 removed, busy;
	int			 failed;
};

/* One entry of state_dir: removed when it is an aged event.  A bad entry
 * is reported and passed over; it never stops the walk. */
static int
prune_one(void *arg, const char *name)
{
	struct prune	*pr = arg;
	struct sh_state	*st;
	struct stat	 sb;
	time_t		 newest;
	enum sh_err	 e;
	int		 payload, r;

	/* Only names a delivery could have made; anything else the operator
	 * put there is not ours. */
	if (!event_id_valid(name, strlen(name)) ||
	    fstatat(pr->rootfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISDIR(sb.st_mode))
		return 0;
	if ((e = state_open_existing(pr->cfg, name, 1, &st)) ==
	    SH_E_IN_PROGRESS) {
		pr->busy++;
		return 0;
	}
	if (e != SH_OK) {
		pr->failed = 1;
		return 0;
	}
	if (st == NULL)		/* removed meanwhile */
		return 0;
	if (newest_mtime(st, &newest, &payload) == -1) {
		log_warn("state: prune %s/%s", st->state_dir, st->id);
		pr->failed = 1;
	} else if (newest <= pr->cutoff) {
		if (payload)
			log_warnx("prune: event %s: dropping the kept payload "
			    "of unfinished hooks", st->id);
		if ((r = remove_event(st)) == -1)
			pr->failed = 1;
		else if (r == 1)
			pr->removed++;
	}
	state_close(st);
	return 0;
}

/*
 * stripehook(8) prune: removes every event directory whose newest file is
 * more than state_ttl days older than now, unless a delivery holds its
 * lock (counted in *busy).  Entries that are not event directories are
 * left alone; an event that cannot be read (a record that is not a
 * regular file, say) is reported and passed over.  Safe while requests
 * are served.  SH_OK, or SH_E_STATE when state_dir cannot be read or some
 * event could not be removed (logged; the others still are).
 */
enum sh_err
state_prune(const struct sh_config *cfg, time_t now, unsigned *removed,
    unsigned *busy)
{
	struct prune	 pr;
	enum sh_err	 rc = SH_E_STATE;

	*removed = *busy = 0;
	if (cfg->database != NULL)
		return pg_prune(cfg, now, removed, busy);
	if (cfg->state_dir == NULL) {
		log_warnx("state: prune while state_dir is none");
		return SH_E_STATE;
	}
	memset(&pr, 0, sizeof(pr));
	pr.cfg = cfg;
	pr.cutoff = now - (time_t)cfg->state_ttl * STATE_SECONDS_PER_DAY;
	if ((pr.rootfd = open(cfg->state_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		log_warn("state: open state_dir %s", cfg->state_dir);
		return SH_E_STATE;
	}
	if (walk_dir(pr.rootfd, prune_one, &pr) != 0) {
		log_warn("state: read %s", cfg->state_dir);
		goto done;
	}
	if (pr.removed > 0 && fsync(pr.rootfd) == -1) {
		log_warn("state: fsync %s", cfg->state_dir);
		goto done;
	}
	if (!pr.failed)
		rc = SH_OK;
done:
	*removed = pr.removed;
	*busy = pr.busy;
	(void)close(pr.rootfd);
	return rc;
}

/* ---- What the queue of ack receipt (queue.c) shares of an event ---- */

/* The event's directory, created when missing, without its lock: a
 * request under ack receipt never waits for a runner. */
enum sh_err
state_open_unlocked(const struct sh_config *cfg, const char *event_id,
    struct sh_state **out)
{
	return open_event(cfg, event_id, 1, 0, out);
}

/* The open event directory (for openat), owned by st. */
int
state_dirfd(const struct sh_state *st)
{
	return st->dirfd;
}

const char *
state_event_id(const struct sh_state *st)
{
	return st->id;
}

/* The PostgreSQL store's event behind st, or NULL (the files). */
struct pg_event *
state_pg(const struct sh_state *st)
{
	return st->pg;
}
