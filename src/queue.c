/*
 * The queue of ack receipt on files (stripehook(8) ACK ON RECEIPT).
 *
 * A queued event is its kept payload (STATE_DIR/EVENT_ID/payload, see
 * state.c) plus one entry in the queue directory:
 *
 *	STATE_DIR/.queue/		mode 0700, made by the first request
 *					that queues (".queue" is never an
 *					event id, so prune leaves it alone)
 *	STATE_DIR/.queue/EVENT_ID	the entry, one line:
 *		attempts=N first=T next=T dead=0|1 last=WORD
 *					(times in seconds since the epoch,
 *					WORD a hook result or "-"), mode 0644
 *	STATE_DIR/.queue/.tmp-EVENT_ID.PID	an entry being written
 *	STATE_DIR/EVENT_ID/qlock	flock(2)ed while an entry is read and
 *					changed (requests, runners, tools)
 *
 * An entry is replaced atomically (temporary file, fsync, rename, fsync of
 * the directory), so readers need no lock.  Each rename and unlink in the
 * directory is what wakes the runners: they watch it with inotify
 * (IN_MOVED_TO, IN_DELETE), so a request never forks or signals anyone.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stripehook.h"

#define QUEUE_DIR		".queue"
#define QUEUE_TMP_PREFIX	".tmp-"
#define QUEUE_QLOCK		"qlock"
#define QUEUE_LOCK		"lock"		/* the event's lock (state.c) */
#define QUEUE_DIR_MODE		0700
#define QUEUE_ENTRY_MODE	0644
#define QUEUE_ENTRY_MAX		256		/* bytes of an entry */
#define QUEUE_PATH_MAX		(PATH_MAX)

/* Opens STATE_DIR/.queue, making it (and syncing state_dir) when missing.
 * An fd, or -1 (logged). */
static int
queue_dir(const struct sh_config *cfg, int create)
{
	char	 path[QUEUE_PATH_MAX];
	int	 fd, root;

	if (cfg->state_dir == NULL) {
		log_warnx("queue: used while state_dir is none");
		return -1;
	}
	(void)snprintf(path, sizeof(path), "%s/%s", cfg->state_dir, QUEUE_DIR);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) != -1 || errno != ENOENT || !create)
		goto done;
	if ((root = open(cfg->state_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		goto done;
	if ((mkdirat(root, QUEUE_DIR, QUEUE_DIR_MODE) == -1 &&
	    errno != EEXIST) || fsync(root) == -1) {
		(void)close(root);
		goto done;
	}
	(void)close(root);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
done:
	if (fd == -1 && (errno != ENOENT || create))
		log_warn("queue: open %s", path);
	return fd;
}

int
queue_lock(struct sh_state *st)
{
	int	 fd, r;

	if (state_pg(st) != NULL)	/* database */
		return pg_queue_lock(state_event_id(st));
	if ((fd = openat(state_dirfd(st), QUEUE_QLOCK, O_RDONLY | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, QUEUE_ENTRY_MODE)) == -1) {
		log_warn("queue: open %s/%s", state_event_id(st), QUEUE_QLOCK);
		return -1;
	}
	while ((r = flock(fd, LOCK_EX)) == -1 && errno == EINTR)
		continue;
	if (r == -1) {
		log_warn("queue: flock %s/%s", state_event_id(st), QUEUE_QLOCK);
		(void)close(fd);
		return -1;
	}
	return fd;
}

void
queue_unlock(int fd)
{
	if (fd == SH_PG_QLOCK_TOKEN)	/* database */
		pg_queue_unlock(fd);
	else if (fd != -1)
		(void)close(fd);
}

/* Parses an entry; 0 or -1. */
static int
parse_entry(const char *s, struct sh_queued *q)
{
	long long	 first, next;
	int		 n = 0;

	memset(q, 0, sizeof(*q));
	if (sscanf(s, "attempts=%d first=%lld next=%lld dead=%d last=%31s%n",
	    &q->attempts, &first, &next, &q->dead, q->last, &n) != 5 ||
	    s[n] != '\n' || s[n + 1] != '\0' || q->attempts < 0 ||
	    (q->dead != 0 && q->dead != 1))
		return -1;
	q->first = (time_t)first;
	q->next = (time_t)next;
	if (strcmp(q->last, "-") == 0)
		q->last[0] = '\0';
	return 0;
}

/* Reads the entry name in the queue directory qfd: 1, 0 none, -1. */
static int
read_entry(int qfd, const char *id, struct sh_queued *q)
{
	char	 buf[QUEUE_ENTRY_MAX];
	ssize_t	 n;
	int	 fd, rc = -1;

	if ((fd = openat(qfd, id, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		log_warn("queue: open %s/%s", QUEUE_DIR, id);
		return -1;
	}
	while ((n = read(fd, buf, sizeof(buf) - 1)) == -1 && errno == EINTR)
		continue;
	if (n == -1)
		log_warn("queue: read %s/%s", QUEUE_DIR, id);
	else {
		buf[n] = '\0';
		if (parse_entry(buf, q) == 0)
			rc = 1;
		else
			log_warnx("queue: %s/%s is not a queue entry",
			    QUEUE_DIR, id);
	}
	(void)close(fd);
	return rc;
}

int
queue_get(const struct sh_config *cfg, const char *id, struct sh_queued *q)
{
	int	 qfd, rc;

	if (cfg->database != NULL)
		return pg_queue_get(cfg, id, q);
	if ((qfd = queue_dir(cfg, 0)) == -1)
		return errno == ENOENT ? 0 : -1;
	rc = read_entry(qfd, id, q);
	(void)close(qfd);
	return rc;
}

/* Writes all of buf to fd; 0 or -1. */
static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

enum sh_err
queue_put(const struct sh_config *cfg, const char *id,
    const struct sh_queued *q)
{
	char		 buf[QUEUE_ENTRY_MAX], tmp[SH_ID_MAX + 64];
	const char	*step = "open";
	enum sh_err	 rc = SH_E_STATE;
	int		 qfd, fd = -1, len, made = 0;

	if (cfg->database != NULL)
		return pg_queue_put(cfg, id, q);
	if ((qfd = queue_dir(cfg, 1)) == -1)
		return SH_E_STATE;
	len = snprintf(buf, sizeof(buf), "attempts=%d first=%lld next=%lld "
	    "dead=%d last=%s\n", q->attempts, (long long)q->first,
	    (long long)q->next, q->dead ? 1 : 0,
	    q->last[0] != '\0' ? q->last : "-");
	(void)snprintf(tmp, sizeof(tmp), "%s%s.%ld", QUEUE_TMP_PREFIX, id,
	    (long)getpid());
	step = "create";
	if ((unlinkat(qfd, tmp, 0) == -1 && errno != ENOENT) ||
	    (fd = openat(qfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, QUEUE_ENTRY_MODE)) == -1)
		goto done;
	made = 1;
	step = "write";
	if (write_all(fd, buf, (size_t)len) == -1)
		goto done;
	step = "fsync";
	if (fsync(fd) == -1)
		goto done;
	step = "close";
	len = close(fd);
	fd = -1;
	if (len == -1)
		goto done;
	step = "rename";
	if (renameat(qfd, tmp, qfd, id) == -1)
		goto done;
	made = 0;
	step = "fsync";
	if (fsync(qfd) == -1)
		goto done;
	rc = SH_OK;
done:
	if (rc != SH_OK)
		log_warn("queue: %s %s/%s/%s", step, cfg->state_dir, QUEUE_DIR,
		    id);
	if (fd != -1)
		(void)close(fd);
	if (made)
		(void)unlinkat(qfd, tmp, 0);
	(void)close(qfd);
	return rc;
}

enum sh_err
queue_drop(const struct sh_config *cfg, const char *id)
{
	enum sh_err	 rc = SH_E_STATE;
	int		 qfd;

	if (cfg->database != NULL)
		return pg_queue_drop(cfg, id);
	if ((qfd = queue_dir(cfg, 0)) == -1)
		return errno == ENOENT ? SH_OK : SH_E_STATE;
	if (unlinkat(qfd, id, 0) == -1 && errno != ENOENT)
		log_warn("queue: unlink %s/%s/%s", cfg->state_dir, QUEUE_DIR,
		    id);
	else if (fsync(qfd) == -1)
		log_warn("queue: fsync %s/%s", cfg->state_dir, QUEUE_DIR);
	else
		rc = SH_OK;
	(void)close(qfd);
	return rc;
}

int
queue_each(const struct sh_config *cfg,
    int (*fn)(void *, const char *, const struct sh_queued *), void *arg)
{
	struct sh_queued q;
	struct dirent	*de;
	DIR		*d;
	int		 qfd, rc = 0;

	if (cfg->database != NULL)
		return pg_queue_each(cfg, fn, arg);
	if ((qfd = queue_dir(cfg, 0)) == -1)
		return errno == ENOENT ? 0 : -1;
	if ((d = fdopendir(qfd)) == NULL) {
		log_warn("queue: read %s/%s", cfg->state_dir, QUEUE_DIR);
		(void)close(qfd);
		return -1;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0) {
				log_warn("queue: read %s/%s", cfg->state_dir,
				    QUEUE_DIR);
				rc = -1;
			}
			break;
		}
		if (!event_id_valid(de->d_name, strlen(de->d_name)))
			continue;
		if (read_entry(dirfd(d), de->d_name, &q) != 1)
			continue;	/* gone meanwhile, or logged */
		if (fn(arg, de->d_name, &q) == -1) {
			rc = -1;
			break;
		}
	}
	(void)closedir(d);
	return rc;
}

int
queue_busy(const struct sh_config *cfg, const char *id)
{
	char	 path[QUEUE_PATH_MAX];
	int	 fd, busy = 0;

	if (cfg->database != NULL)
		return pg_queue_busy(cfg, id);
	(void)snprintf(path, sizeof(path), "%s/%s/%s", cfg->state_dir, id,
	    QUEUE_LOCK);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return 0;
	/* A shared lock for an instant: refused while a runner holds it. */
	if (flock(fd, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK)
		busy = 1;
	(void)close(fd);
	return busy;
}

int
queue_watch(const struct sh_config *cfg)
{
	char	 path[QUEUE_PATH_MAX];
	int	 fd, qfd;

	if (cfg->database != NULL)	/* LISTEN/NOTIFY */
		return pg_queue_watch(cfg);
	if ((qfd = queue_dir(cfg, 1)) == -1)
		return -1;
	(void)close(qfd);
	(void)snprintf(path, sizeof(path), "%s/%s", cfg->state_dir, QUEUE_DIR);
	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		log_warn("queue: inotify_init1");
		return -1;
	}
	if (inotify_add_watch(fd, path, IN_MOVED_TO | IN_DELETE |
	    IN_ONLYDIR) == -1) {
		log_warn("queue: inotify_add_watch %s", path);
		(void)close(fd);
		return -1;
	}
	return fd;
}

int
queue_changed(int fd, void (*fn)(void *, const char *), void *arg)
{
	char			 buf[16384]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t			 n;
	char			*p;
	int			 lost = 0;

	if (pg_is_watch(fd))		/* database */
		return pg_queue_changed(fd, fn, arg);
	for (;;) {
		if ((n = read(fd, buf, sizeof(buf))) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return lost;
			log_warn("queue: read inotify");
			return -1;
		}
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(void *)p;
			if (ev->mask & IN_Q_OVERFLOW)
				lost = 1;
			else if (ev->len > 0 &&
			    event_id_valid(ev->name, strlen(ev->name)))
				fn(arg, ev->name);
		}
	}
}
