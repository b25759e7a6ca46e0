/*
 * De-duplication records (stripehook(8) DELIVERY): round trip, duplicates across
 * handles, the lock, the kept payload, failures of the state directory,
 * record names, forget and prune.  Expected record names are SHA-256
 * digests computed outside the code under test:
 *	printf '%s' 'on * /bin/true' | sha256sum
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stripehook.h"
#include "tap.h"

#ifdef T_STATE_STANDALONE
/* Built without event.c: "invalid event id" unless 1-255 characters of
 * [A-Za-z0-9_-]. */
int
event_id_valid(const char *s, size_t len)
{
	size_t	 i;

	if (len < 1 || len > SH_ID_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_-", s[i]) == NULL || s[i] == '\0')
			return 0;
	return 1;
}
#endif

#define ID0	"on * /bin/true"
#define HASH0	"ok-338faf181e54830f3ee04c56de1217016d6af5c92b8870c3a2fdc1cab040371b"
#define ID1	"on payment_intent.succeeded /usr/local/libexec/fulfil --order x"
#define HASH1	"ok-387c5e00bebc96ef8283878c48cc7b460a5d76c1be3f4ed78e39236243dba2a8"
#define PAYLOAD	"{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"x\"}\n"
#define DAY	86400

static char	 base[PATH_MAX], sdir[PATH_MAX];

/* dir/name into buf (PATH_MAX bytes). */
static char *
join(char *buf, const char *dir, const char *name)
{
	if (snprintf(buf, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
		buf[0] = '\0';
	return buf;
}

static int
exists(const char *dir, const char *name)
{
	char		 p[PATH_MAX];
	struct stat	 sb;

	return lstat(join(p, dir, name), &sb) == 0;
}

static int
file_is(const char *path, const char *want, size_t len)
{
	char	 got[8192];
	ssize_t	 n;
	int	 fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return 0;
	n = read(fd, got, sizeof(got));
	close(fd);
	return n == (ssize_t)len && memcmp(got, want, len) == 0;
}

static int
write_file(const char *path, const char *s)
{
	int	 fd, rc;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		return -1;
	rc = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -1;
	close(fd);
	return rc;
}

/* Number of entries (but . and ..) in dir; -1 if unreadable. */
static int
count_entries(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Sets the times of every file in dir to t. */
static void
age_dir(const char *dir, time_t t)
{
	struct timespec	 ts[2];
	struct dirent	*de;
	DIR		*d;
	char		 p[PATH_MAX];

	ts[0].tv_sec = ts[1].tv_sec = t;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			utimensat(AT_FDCWD, join(p, dir, de->d_name),
			    ts, AT_SYMLINK_NOFOLLOW);
	closedir(d);
}

static void
rm_rf(const char *dir)
{
	struct dirent	*de;
	struct stat	 sb;
	DIR		*d;
	char		 p[PATH_MAX];

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		join(p, dir, de->d_name);
		if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			chmod(p, 0700);
			rm_rf(p);
		} else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

struct seen {
	int	 n;
	int	 id0, id1;
	time_t	 when0;
};

static int
seen_cb(void *arg, const char *identity, time_t when)
{
	struct seen	*s = arg;

	s->n++;
	if (strcmp(identity, ID0) == 0) {
		s->id0++;
		s->when0 = when;
	} else if (strcmp(identity, ID1) == 0)
		s->id1++;
	return 0;
}

static void
test_refusals(struct sh_config *cfg)
{
	static const char *bad[] = { "", ".", "..", "../etc", "a/b", "evt 1",
	    "evt\n1", "evt.1", NULL };
	struct sh_state	*st;
	struct sh_config c2;
	char		 longid[SH_ID_MAX + 2], p[PATH_MAX];
	size_t		 i;
	int		 fd;

	for (i = 0; bad[i] != NULL; i++) {
		st = (struct sh_state *)1;
		is_int(state_open(cfg, bad[i], &st), SH_E_EVENT_ID,
		    "invalid id %zu refused", i);
		ok(st == NULL, "no handle for invalid id %zu", i);
	}
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	is_int(state_open(cfg, longid, &st), SH_E_EVENT_ID,
	    "256-character id refused");
	is_int(state_open(cfg, NULL, &st), SH_E_EVENT_ID, "NULL id refused");
	is_int(count_entries(sdir), 0, "refused ids created nothing");

	c2 = *cfg;
	c2.state_dir = NULL;
	is_int(state_open(&c2, "evt_1", &st), SH_E_STATE,
	    "state_dir none is an error for state_open");

	c2.state_dir = join(p, base, "missing");
	is_int(state_open(&c2, "evt_1", &st), SH_E_STATE,
	    "missing state_dir: SH_E_STATE");
	ok(st == NULL, "missing state_dir: no handle");
	ok(!exists(base, "missing"), "missing state_dir is not created");

	join(p, base, "regular");
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	close(fd);
	c2.state_dir = p;
	is_int(state_open(&c2, "evt_1", &st), SH_E_STATE,
	    "state_dir that is a regular file: SH_E_STATE");

	/* Permissions do not bind root: the regular-file case above is the
	 * unwritable state_dir check that runs everywhere. */
	if (geteuid() != 0) {
		join(p, base, "readonly");
		mkdir(p, 0555);
		c2.state_dir = p;
		is_int(state_open(&c2, "evt_1", &st), SH_E_STATE,
		    "read-only state_dir: SH_E_STATE");
		ok(!exists(p, "evt_1"), "read-only state_dir: nothing made");
	} else {
		ok(1, "# SKIP read-only state_dir: running as root");
		ok(1, "# SKIP read-only state_dir: running as root");
	}
}

static void
test_round_trip(struct sh_config *cfg)
{
	struct sh_state	*st, *st2, *other;
	struct sh_buf	 b;
	struct seen	 seen;
	struct stat	 sb;
	char		 ev[PATH_MAX], p[PATH_MAX], want[256];
	const char	*rec;
	time_t		 t0, t1;
	long long	 when;
	char		*end;

	join(ev, sdir, "evt_1");
	is_int(state_open(cfg, "evt_1", &st), SH_OK, "open evt_1");
	ok(st != NULL, "handle returned");
	ok(lstat(ev, &sb) == 0 && S_ISDIR(sb.st_mode), "event directory made");
	is_int(sb.st_mode & 07777, 0700, "event directory is 0700");
	ok(exists(ev, "lock"), "lock file made");
	is_int(state_hook_done(st, &cfg->hooks[0]), 0, "hook 0 not done");
	is_int(state_hook_done(st, &cfg->hooks[1]), 0, "hook 1 not done");

	is_int(state_keep_payload(st, (const unsigned char *)PAYLOAD,
	    strlen(PAYLOAD)), SH_OK, "payload kept");
	join(p, ev, "payload");
	ok(file_is(p, PAYLOAD, strlen(PAYLOAD)), "payload holds the body");
	ok(lstat(p, &sb) == 0 && (sb.st_mode & 077) == 0,
	    "payload readable by its owner only");

	t0 = time(NULL);
	is_int(state_record(st, &cfg->hooks[0]), SH_OK, "hook 0 recorded");
	t1 = time(NULL);
	ok(exists(ev, HASH0), "record named ok-SHA256(identity)");
	join(p, ev, HASH0);
	{
		char	 got[512];
		ssize_t	 n;
		int	 fd = open(p, O_RDONLY);

		n = fd == -1 ? -1 : read(fd, got, sizeof(got) - 1);
		if (fd != -1)
			close(fd);
		got[n > 0 ? n : 0] = '\0';
		snprintf(want, sizeof(want), "%s\n", ID0);
		ok(strncmp(got, want, strlen(want)) == 0,
		    "record starts with the identity and a newline");
		rec = got + strlen(want);
		when = strtoll(rec, &end, 10);
		ok(end != rec && strcmp(end, "\n") == 0,
		    "record ends with a time and a newline");
		ok(when >= t0 && when <= t1, "record time is the success time");
	}
	is_int(state_hook_done(st, &cfg->hooks[0]), 1, "hook 0 done");
	is_int(state_hook_done(st, &cfg->hooks[1]), 0, "hook 1 still not");

	/* flock locks belong to the open file description: a second open
	 * in the same process conflicts like another process would. */
	st2 = (struct sh_state *)1;
	is_int(state_open(cfg, "evt_1", &st2), SH_E_IN_PROGRESS,
	    "second open while locked: SH_E_IN_PROGRESS");
	ok(st2 == NULL, "no handle when in progress");
	is_int(state_open_existing(cfg, "evt_1", 1, &st2), SH_E_IN_PROGRESS,
	    "tool lock while locked: SH_E_IN_PROGRESS");
	is_int(state_open(cfg, "evt_other", &other), SH_OK,
	    "another event is not blocked");
	state_close(other);
	state_close(st);

	is_int(state_open(cfg, "evt_1", &st), SH_OK, "reopen after close");
	is_int(state_hook_done(st, &cfg->hooks[0]), 1,
	    "hook 0 done across handles (duplicate detected)");
	is_int(state_record(st, &cfg->hooks[1]), SH_OK, "hook 1 recorded");
	ok(exists(ev, HASH1), "record of an identity with spaces");
	is_int(count_entries(ev), 4,
	    "only lock, payload and two records in the event directory");
	ok(exists(ev, "lock") && exists(ev, "payload") && exists(ev, HASH0),
	    "names are lock, payload, ok-HASH (no raw identity, no temp)");

	buf_init(&b);
	is_int(state_payload(st, &b, SH_MAX_MAX_BODY), 1, "payload read back");
	ok(b.len == strlen(PAYLOAD) && memcmp(b.p, PAYLOAD, b.len) == 0,
	    "payload read back intact");
	buf_reset(&b);
	is_int(state_payload(st, &b, 3), -1, "payload over max refused");
	buf_free(&b);

	is_int(state_finish(st), SH_OK, "finish");
	ok(!exists(ev, "payload"), "finish dropped the payload");
	ok(exists(ev, HASH0) && exists(ev, HASH1), "finish kept the records");
	is_int(state_finish(st), SH_OK, "finish again is harmless");
	buf_init(&b);
	is_int(state_payload(st, &b, SH_MAX_MAX_BODY), 0, "no payload kept");
	buf_free(&b);

	memset(&seen, 0, sizeof(seen));
	is_int(state_records(st, seen_cb, &seen), 0, "records listed");
	ok(seen.n == 2 && seen.id0 == 1 && seen.id1 == 1,
	    "both identities listed once");
	ok(seen.when0 >= t0 && seen.when0 <= t1, "listed time of hook 0");
	state_close(st);
	state_close(NULL);
}

static void
test_dead_holder(struct sh_config *cfg)
{
	struct sh_state	*st;
	pid_t		 pid;
	char		 c;
	int		 fds[2], status;

	if (pipe(fds) == -1) {
		ok(0, "pipe");
		return;
	}
	fflush(stdout);
	if ((pid = fork()) == 0) {
		close(fds[0]);
		if (state_open(cfg, "evt_2", &st) == SH_OK)
			(void)write(fds[1], "L", 1);
		close(fds[1]);
		for (;;)
			pause();
	}
	close(fds[1]);
	ok(read(fds[0], &c, 1) == 1, "child holds evt_2");
	close(fds[0]);
	is_int(state_open(cfg, "evt_2", &st), SH_E_IN_PROGRESS,
	    "lock held by another process: SH_E_IN_PROGRESS");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	is_int(state_open(cfg, "evt_2", &st), SH_OK,
	    "lock of a killed holder is gone");
	is_int(state_hook_done(st, &cfg->hooks[0]), 0,
	    "a killed holder left no record");
	state_close(st);
}

static void
test_tools_api(struct sh_config *cfg)
{
	struct sh_state	*st;
	struct seen	 seen;
	char		 ev[PATH_MAX], p[PATH_MAX];

	st = (struct sh_state *)1;
	is_int(state_open_existing(cfg, "evt_nope", 1, &st), SH_OK,
	    "unknown event: SH_OK");
	ok(st == NULL, "unknown event: no handle");
	ok(!exists(sdir, "evt_nope"), "unknown event: nothing made");
	is_int(state_open_existing(cfg, "../x", 0, &st), SH_E_EVENT_ID,
	    "tools refuse invalid ids too");

	is_int(state_open_existing(cfg, "evt_1", 1, &st), SH_OK,
	    "open existing locked");
	is_int(state_forget(st, ID0), 1, "forget hook 0");
	is_int(state_forget(st, ID0), 0, "forget hook 0 again: none");
	is_int(state_forget(st, "on * /bin/false"), 0,
	    "forget an unknown hook: none");
	is_int(state_hook_done(st, &cfg->hooks[0]), 0, "hook 0 runs again");
	is_int(state_hook_done(st, &cfg->hooks[1]), 1, "hook 1 still done");
	state_close(st);

	/* A record whose content does not match its name is refused. */
	join(ev, sdir, "evt_bad");
	mkdir(ev, 0700);
	write_file(join(p, ev, HASH0), ID1 "\n1700000000\n");
	is_int(state_open_existing(cfg, "evt_bad", 0, &st), SH_OK,
	    "open unlocked");
	memset(&seen, 0, sizeof(seen));
	is_int(state_records(st, seen_cb, &seen), -1,
	    "record not matching its name refused");
	is_int(state_hook_done(st, &cfg->hooks[0]), 1,
	    "(its presence still counts as done)");
	state_close(st);
	write_file(p, ID0 "\nsoon\n");
	is_int(state_open_existing(cfg, "evt_bad", 0, &st), SH_OK, "reopen");
	is_int(state_records(st, seen_cb, &seen), -1,
	    "record with a bad time refused");
	state_close(st);
}

static void
test_write_failures(struct sh_config *cfg)
{
	struct sh_state	*st;
	char		 ev[PATH_MAX], p[PATH_MAX];

	/* A directory where a file must go makes the rename fail, as root
	 * too. */
	join(ev, sdir, "evt_3");
	is_int(state_open(cfg, "evt_3", &st), SH_OK, "open evt_3");
	mkdir(join(p, ev, "payload"), 0700);
	mkdir(join(p, ev, HASH0), 0700);
	is_int(state_keep_payload(st, (const unsigned char *)"x", 1),
	    SH_E_STATE, "payload that cannot be written: SH_E_STATE");
	is_int(state_record(st, &cfg->hooks[0]), SH_E_STATE,
	    "record that cannot be written: SH_E_STATE");
	is_int(state_hook_done(st, &cfg->hooks[0]), -1,
	    "a record that is not a file is an error");
	is_int(state_finish(st), SH_E_STATE,
	    "payload that cannot be removed: SH_E_STATE");
	is_int(count_entries(ev), 3, "no temporary file left behind");
	rmdir(join(p, ev, "payload"));
	rmdir(join(p, ev, HASH0));
	if (geteuid() != 0) {
		chmod(ev, 0500);
		is_int(state_record(st, &cfg->hooks[1]), SH_E_STATE,
		    "read-only event directory: SH_E_STATE");
		chmod(ev, 0700);
	} else
		ok(1, "# SKIP read-only event directory: running as root");
	is_int(state_hook_done(st, &cfg->hooks[1]), 0,
	    "failed record is not done");
	state_close(st);
}

static void
test_prune(struct sh_config *cfg)
{
	struct sh_state	*held, *st;
	char		 p[PATH_MAX];
	unsigned	 removed, busy;
	time_t		 now = time(NULL);
	int		 before;

	/* Not ours: left alone. */
	write_file(join(p, sdir, "README"), "x\n");
	mkdir(join(p, sdir, ".hidden"), 0700);
	mkdir(join(p, sdir, "not.an.id"), 0700);
	before = count_entries(sdir);

	is_int(state_prune(cfg, now, &removed, &busy), SH_OK, "prune now");
	is_int(removed, 0, "fresh events are kept");
	is_int(count_entries(sdir), before, "nothing removed");

	/* evt_old: last written 31 days ago, ttl 30. */
	is_int(state_open(cfg, "evt_old", &st), SH_OK, "open evt_old");
	state_keep_payload(st, (const unsigned char *)"{}", 2);
	state_record(st, &cfg->hooks[0]);
	state_close(st);
	age_dir(join(p, sdir, "evt_old"), now - 31 * DAY);
	is_int(state_prune(cfg, now, &removed, &busy), SH_OK, "prune");
	is_int(removed, 1, "one expired event removed");
	ok(!exists(sdir, "evt_old"), "expired event is gone");
	ok(exists(sdir, "evt_1"), "fresh event kept");

	/* Everything expired, but evt_1 is being delivered. */
	is_int(state_open(cfg, "evt_1", &held), SH_OK, "hold evt_1");
	is_int(state_prune(cfg, now + 31 * DAY, &removed, &busy), SH_OK,
	    "prune with everything expired");
	is_int(busy, 1, "locked event skipped");
	ok(exists(sdir, "evt_1"), "locked event kept");
	ok(!exists(sdir, "evt_2") && !exists(sdir, "evt_3") &&
	    !exists(sdir, "evt_bad") && !exists(sdir, "evt_other"),
	    "unlocked expired events removed");
	is_int(removed, 4, "four removed");
	ok(exists(sdir, "README") && exists(sdir, ".hidden") &&
	    exists(sdir, "not.an.id"), "foreign entries left alone");
	is_int(state_hook_done(held, &cfg->hooks[1]), 1,
	    "held event's records intact");
	state_close(held);

	is_int(state_prune(cfg, now + 31 * DAY, &removed, &busy), SH_OK,
	    "prune again");
	is_int(removed, 1, "released event removed");
	is_int(state_open(cfg, "evt_1", &st), SH_OK, "pruned event reopens");
	is_int(state_hook_done(st, &cfg->hooks[1]), 0,
	    "pruned event starts over");
	state_close(st);

	{
		struct sh_config c2 = *cfg;

		c2.state_dir = join(p, base, "missing");
		is_int(state_prune(&c2, now, &removed, &busy), SH_E_STATE,
		    "prune of a missing state_dir fails");
	}
}

int
main(void)
{
	struct sh_config cfg;
	struct sh_hook	 hooks[2];
	char		 id0[] = ID0, id1[] = ID1;
	const char	*tmp = getenv("TMPDIR");
	char		 longid[SH_ID_MAX + 1];
	struct sh_state	*st;

	log_init("t_state");
	if (tmp == NULL || *tmp == '\0')
		tmp = P_tmpdir;
	snprintf(base, sizeof(base), "%s/t_state.XXXXXX", tmp);
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	join(sdir, base, "state");
	mkdir(sdir, 0700);

	memset(&cfg, 0, sizeof(cfg));
	memset(hooks, 0, sizeof(hooks));
	hooks[0].pattern = (char *)"*";
	hooks[0].identity = id0;
	hooks[1].pattern = (char *)"payment_intent.succeeded";
	hooks[1].identity = id1;
	cfg.state_dir = sdir;
	cfg.state_ttl = 30;
	cfg.hooks = hooks;
	cfg.nhooks = 2;

	test_refusals(&cfg);
	test_round_trip(&cfg);
	test_dead_holder(&cfg);
	test_tools_api(&cfg);
	test_write_failures(&cfg);

	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	is_int(state_open(&cfg, longid, &st), SH_OK, "255-character id fits");
	state_close(st);
	ok(exists(sdir, longid), "255-character id is one directory");
	rm_rf(join((char[PATH_MAX]){ 0 }, sdir, longid));

	test_prune(&cfg);

	rm_rf(base);
	return tap_done();
}
