/*
 * The queue of ack receipt (stripehook(8) ACK ON RECEIPT) through the
 * records interface: entries round trip, are listed, dropped, refused when
 * malformed; a change wakes a watcher with the event's id; a held event
 * lock shows as busy.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stripehook.h"
#include "tap.h"

static char	 base[1024];

static int
count_entry(void *arg, const char *id, const struct sh_queued *q)
{
	(void)id;
	(void)q;
	(*(int *)arg)++;
	return 0;
}

static void
seen(void *arg, const char *id)
{
	snprintf(arg, SH_ID_MAX + 1, "%s", id);
}

static void
rm_tree(void)
{
	char	 cmd[1200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", base);
}

static void
test_entries(const struct sh_config *cfg)
{
	struct sh_queued q, r;
	char		 path[1200];
	int		 n = 0, fd;

	is_int(queue_get(cfg, "evt_q1", &r), 0, "no entry before queueing");
	is_int(queue_each(cfg, count_entry, &n), 0, "empty queue lists");
	is_int(n, 0, "  nothing");
	memset(&q, 0, sizeof(q));
	q.attempts = 3;
	q.first = 1700000000;
	q.next = 1700000120;
	snprintf(q.last, sizeof(q.last), "signal=9");
	is_int(queue_put(cfg, "evt_q1", &q), SH_OK, "queue_put");
	is_int(queue_get(cfg, "evt_q1", &r), 1, "entry read back");
	ok(r.attempts == 3 && r.first == 1700000000 && r.next == 1700000120 &&
	    r.dead == 0 && strcmp(r.last, "signal=9") == 0,
	    "  with every field");
	q.dead = 1;
	q.last[0] = '\0';
	is_int(queue_put(cfg, "evt_q2", &q), SH_OK, "a second entry");
	is_int(queue_get(cfg, "evt_q2", &r), 1, "  read back");
	ok(r.dead == 1 && r.last[0] == '\0', "  dead, no last result");
	n = 0;
	is_int(queue_each(cfg, count_entry, &n), 0, "the queue lists");
	is_int(n, 2, "  two entries");
	is_int(queue_drop(cfg, "evt_q1"), SH_OK, "queue_drop");
	is_int(queue_get(cfg, "evt_q1", &r), 0, "  gone");
	is_int(queue_drop(cfg, "evt_q1"), SH_OK, "dropping twice is fine");

	snprintf(path, sizeof(path), "%s/.queue/evt_bad", base);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1 ||
	    write(fd, "attempts=x\n", 11) != 11 || close(fd) == -1)
		printf("# cannot write %s\n", path);
	is_int(queue_get(cfg, "evt_bad", &r), -1, "a malformed entry is an "
	    "error");
	n = 0;
	is_int(queue_each(cfg, count_entry, &n), 0, "listing skips it");
	is_int(n, 1, "  one entry listed");
}

static void
test_watch(const struct sh_config *cfg)
{
	struct sh_queued q;
	struct pollfd	 pfd;
	char		 id[SH_ID_MAX + 1] = "";
	int		 fd;

	if ((fd = queue_watch(cfg)) == -1) {
		ok(0, "queue_watch");
		return;
	}
	memset(&q, 0, sizeof(q));
	is_int(queue_put(cfg, "evt_w1", &q), SH_OK, "queued while watched");
	pfd.fd = fd;
	pfd.events = POLLIN;
	is_int(poll(&pfd, 1, 10000), 1, "the watcher is woken");
	is_int(queue_changed(fd, seen, id), 0, "  nothing lost");
	is_str(id, "evt_w1", "  with the event's id");
	id[0] = '\0';
	is_int(queue_drop(cfg, "evt_w1"), SH_OK, "dropped while watched");
	is_int(poll(&pfd, 1, 10000), 1, "the watcher is woken");
	(void)queue_changed(fd, seen, id);
	is_str(id, "evt_w1", "  with the event's id");
	close(fd);
}

static void
test_busy(const struct sh_config *cfg)
{
	struct sh_state	*st = NULL;
	int		 fd;

	is_int(queue_busy(cfg, "evt_b1"), 0, "unknown event: not busy");
	if (state_open(cfg, "evt_b1", &st) != SH_OK) {
		ok(0, "state_open");
		return;
	}
	is_int(queue_busy(cfg, "evt_b1"), 1, "event locked: busy");
	fd = queue_lock(st);
	ok(fd != -1, "the queue lock is another lock than the event's");
	queue_unlock(fd);
	state_close(st);
	is_int(queue_busy(cfg, "evt_b1"), 0, "lock released: not busy");
}

int
main(void)
{
	struct sh_config cfg;
	const char	*tmp = getenv("TMPDIR");

	log_init("t_queue");
	if (tmp == NULL || *tmp == '\0')
		tmp = P_tmpdir;
	snprintf(base, sizeof(base), "%s/t_queue.XXXXXX", tmp);
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.state_dir = base;
	test_entries(&cfg);
	test_watch(&cfg);
	test_busy(&cfg);
	rm_tree();
	return tap_done();
}
