#!/usr/bin/env bash
# Functions are called through wait_for and traps (SC2317); logs are read
# while servers append to them (SC2094); ls lists our own plain names.
# shellcheck disable=SC2317,SC2094,SC2012
# The PostgreSQL store (stripehook.conf(5) database, stripehook(8) SEVERAL
# HOSTS), against a cluster this test starts and stops itself
# (tests/pg-lib.sh): the configuration's refusals, migrate and the schema
# checks, a database that is unreachable or too slow, CGI requests that
# connect for themselves, and three `serve` hosts sharing one database with
# no file in common: concurrent copies of an event, a host killed mid-hook,
# PostgreSQL stopped and started under load, and ack receipt across the
# hosts.  Without initdb/pg_ctl the cluster tests are skipped, except under
# STRIPEHOOK_REQUIRE_SERVERS=1 (CI), where that is a failure.  TAP output.

# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lib_setup
# shellcheck source=tests/servers-lib.sh
. "$tests_dir/servers-lib.sh"
# shellcheck source=tests/pg-lib.sh
. "$tests_dir/pg-lib.sh"
# The hosts' logs are kept with the others (tests/secrets.sh reads them).
keep_host_logs() {
	cp "$W"/sv/*.log "$W/run/" 2>/dev/null
	return 0
}
trap 'keep_host_logs; pg_cleanup; cleanup' EXIT

PG_PASSWORD=pg-password-canary-7f3e
printf '%s\n' "$PG_PASSWORD" >>"$W/secrets.list"

# t_is DESC GOT WANT, t_like DESC GOT ERE: lib.sh's is and like, the
# description first.
t_is() {
	is "$2" "$3" "$1"
}
t_like() {
	like "$2" "$3" "$1"
}

# check_conf NAME: `check` on it; sets C_RC, C_OUT (stdout and stderr).
check_conf() {
	C_OUT=$(tool -c "$(conf_path "$1")" check 2>&1)
	C_RC=$?
}

# refused DESC NAME MESSAGE: check exits 1 naming MESSAGE, never the
# password.
refused() {
	check_conf "$2"
	if [ "$C_RC" -eq 1 ] && [[ $C_OUT == *"$3"* ]] &&
	    [[ $C_OUT != *"$PG_PASSWORD"* ]]; then
		ok 0 "$1"
	else
		ok 1 "$1"
		diag "exit $C_RC, output: $C_OUT"
	fi
}

pg_conf() {
	local name=$1
	shift
	{
		base_conf | grep -v '^state_dir'
		printf '%s\n' "$@"
	} | write_conf "$name"
}

# ---- the configuration (no cluster needed) ----------------------------------

pg_conf pw "database host=127.0.0.1 dbname=x password=$PG_PASSWORD"
refused "a password in the conninfo is refused" pw "database: holds a password"
pg_conf pwuri "database postgresql://sh:$PG_PASSWORD@127.0.0.1/x"
refused "a password in a URI is refused" pwuri "database: holds a password"
pg_conf withdir "database host=127.0.0.1 dbname=x" "state_dir $W/state"
refused "database with a state_dir is refused" withdir \
    "with database, state_dir must be absent or none"
pg_conf tmo "database host=127.0.0.1 dbname=x" "database_timeout 61"
refused "database_timeout above 60 is refused" tmo "database_timeout"
pg_conf junk "database host=127.0.0.1 nosuchkey=1"
refused "a conninfo libpq cannot parse is refused" junk \
    "not a libpq connection string or URI"

if ! pg_have; then
	if [ "${STRIPEHOOK_REQUIRE_SERVERS:-0}" = 1 ]; then
		ok 1 "PostgreSQL (initdb, pg_ctl, psql) is installed"
	else
		skip "PostgreSQL is not installed: no cluster tests"
	fi
	tap_done
fi

pg_init
DB=$(pg_conninfo)
sv_setup

# ---- schema: missing, made, current, newer ----------------------------------

pg_conf db "database $DB" "database_timeout 3"
use_conf db
check_conf db
if [ "$C_RC" -eq 1 ] && [[ $C_OUT == *"no stripehook schema: run stripehook migrate"* ]]; then
	ok 0 "check names the missing schema"
else
	ok 1 "check names the missing schema"
	diag "exit $C_RC: $C_OUT"
fi
post "$PI_EVENT" "$(header_for "$PI_EVENT")"
expect_error "no schema: 500" "internal error"
t_like "no schema: the log says why" "$A_LOG" "no stripehook schema"

out=$(tool -c "$CONF" migrate 2>&1)
t_is "migrate makes the schema" "$out" "schema version 1: made from version 0"
out=$(tool -c "$CONF" migrate 2>&1)
t_is "migrate again changes nothing" "$out" "schema version 1: already current"
pg_conf dbok "database $DB"
C_OUT=$(tool -c "$(conf_path dbok)" check 2>&1 | grep -c 'database')
t_is "check is happy about the database" "$C_OUT" 0

# ---- CGI requests connect for themselves --------------------------------------

post "$PI_EVENT" "$(header_for "$PI_EVENT")"
expect "first delivery runs the hook" "$S200" "$B_OK" "pi"
post "$PI_EVENT" "$(header_for "$PI_EVENT")"
expect "redelivery is a duplicate" "$S200" "$B_DUPLICATE" "-"
n=$(psql_do "SELECT count(*) FROM stripehook_records WHERE event_id = '$PI_ID'")
t_is "one success record in the database" "$n" 1
out=$(tool -c "$CONF" status "$PI_ID")
t_like "status reads the database" "$out" "succeeded"
out=$(tool -c "$CONF" forget "$PI_ID" 2>&1)
post "$PI_EVENT" "$(header_for "$PI_EVENT")"
expect "after forget the hook runs again" "$S200" "$B_OK" "pi"
out=$(tool -c "$CONF" metrics)
t_like "metrics counts this host's 200s" "$out" 'stripehook_requests_total\{status="200"\} [1-9]'
t_like "metrics has the last event time" "$out" 'stripehook_last_event_timestamp_seconds [1-9]'
t_is "metrics counts the two hook runs" \
    "$(printf '%s\n' "$out" | sed -n 's/^stripehook_hook_runs_total{result="ok"} //p')" 2

# Round trips per delivery, counted in the server's statement log (one
# line per round trip; the hook guard's "SELECT 1" checks depend on the
# hook's time and are left out).  A CGI request connects for itself, so
# the role's new log_statement applies at once.  Two hooks: a new event
# costs the connection's set-up, the lock and the records read with it,
# the payload kept, a record per hook, the payload dropped, the unlock and
# the counters (hook results included); a duplicate, the set-up, the lock
# and read, the unlock and the counters, and writes nothing.
trips() {
	grep -E '(LOG|ERROR):  (statement|execute [^:]*):' \
	    "$PG_T/log/server.log" | grep -cv 'statement: SELECT 1$'
}
psql_do "ALTER ROLE $PG_ROLE SET log_statement = 'all'" >/dev/null
make_event "$W/ev/trips.json" evt_pg_trips_1 test.chain.ok
n0=$(trips)
post "$W/ev/trips.json" "$(header_for "$W/ev/trips.json")"
expect "round trips: a new event with two hooks runs them" "$S200" "$B_OK" "first second"
n1=$(trips)
post "$W/ev/trips.json" "$(header_for "$W/ev/trips.json")"
expect "round trips: its redelivery is a duplicate" "$S200" "$B_DUPLICATE" "-"
n2=$(trips)
t_is "round trips: a new event with two hooks, over CGI" $((n1 - n0)) 8
t_is "round trips: a duplicate, over CGI" $((n2 - n1)) 4
psql_do "ALTER ROLE $PG_ROLE RESET log_statement" >/dev/null

psql_do "UPDATE stripehook_schema SET version = 99" >/dev/null
post "$PI_EVENT" "$(header_for "$PI_EVENT")"
expect_error "newer schema: 500" "internal error"
t_like "newer schema: the log says why" "$A_LOG" "schema version 99 is newer"
out=$(tool -c "$CONF" migrate 2>&1)
t_like "migrate refuses a newer schema" "$out" "newer than this stripehook"
psql_do "UPDATE stripehook_schema SET version = 1" >/dev/null

# ---- an unreachable database, a slow one ---------------------------------------

dead_port=$(sv_port)
pg_conf unreach "database host=127.0.0.1 port=$dead_port dbname=x" \
    "database_timeout 2"
use_conf unreach
post "$PI_EVENT" "$(header_for "$PI_EVENT")"
expect_error "unreachable database: 500" "internal error"
t_like "unreachable: the log has libpq's message" "$A_LOG" "database: connect: .*refused"
check_conf unreach
t_is "unreachable: check fails" "$C_RC" 1

# A statement that waits behind a lock the test holds.
use_conf db
make_event "$W/ev/slow.json" evt_pg_slow_1 payment_intent.succeeded
PGAPPNAME=stripehook-test-holder psql -X -q -h "$PG_T/sock" -p "$PG_PORT" \
    -U "$PG_ROLE" -d "$PG_DB" -c "BEGIN; LOCK TABLE stripehook_records IN \
    ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600)" >/dev/null 2>&1 &
holder=$!
BG_PIDS+=("$holder")
lock_held() {
	[ "$(psql_do "SELECT count(*) FROM pg_locks l JOIN pg_class c ON \
	    c.oid = l.relation WHERE c.relname = 'stripehook_records' AND \
	    l.mode = 'AccessExclusiveLock' AND l.granted")" = 1 ]
}
wait_for 30 lock_held || bail "the test's lock was not taken"
t0=$(now_ms)
post "$W/ev/slow.json" "$(header_for "$W/ev/slow.json")"
t=$(($(now_ms) - t0))
expect_error "slow database: 500" "internal error"
t_like "slow database: the log names the timeout" "$A_LOG" \
    "statement timeout|no answer within 3 s"
ok "$([ "$t" -lt $((30000 * SLOW)) ] && echo 0 || echo 1)" \
    "slow database: answered without waiting for the lock ($t ms)"
psql_do "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE \
    application_name = 'stripehook-test-holder'" >/dev/null
wait "$holder" 2>/dev/null
forget_pid "$holder"
post "$W/ev/slow.json" "$(header_for "$W/ev/slow.json")"
expect "once the lock is gone: served" "$S200" "$B_OK" "pi"

# ---- three hosts sharing the database ------------------------------------------

pg_hold_hook "$H/hold"
# first, count: one line per run.
cat >"$H/count" <<'EOF'
#!/bin/sh
echo "${1:-count} $STRIPE_EVENT_ID" >>"${MARK_DIR:?}/runs"
cat >/dev/null
exit 0
EOF
chmod 0755 "$H/hold" "$H/count"

# host_conf N [LINE]...: host N's own configuration file (and secret).
host_conf() {
	local n=$1 f=$W/sv/host$1.conf s=$W/sv/host$1.secret
	shift
	printf '%s\n' "$SECRET" >"$s"
	chmod 0600 "$s"
	[ "$SV_IS_ROOT" -eq 1 ] && chown "$SV_USER:$SV_GROUP" "$s"
	{
		echo "secret_file $s"
		echo "database $DB"
		echo "database_timeout ${HOST_DB_TIMEOUT:-3}"
		echo "env MARK_DIR=$SV_MARKS"
		[ "$SV_IS_ROOT" -eq 1 ] && echo "user $SV_USER"
		echo "on test.hold $H/count first"
		echo "on test.hold $H/hold"
		echo "on test.count $H/count count"
		printf '%s\n' "$@"
	} >"$f"
	chmod 0644 "$f"
	printf '%s' "$f"
}

HOST_PID=()
start_hosts() {
	local n
	for n in 1 2 3; do
		serve_start "host$n" "$(host_conf "$n" "$@")" \
		    "unix:$W/sv/host$n.sock" 2
		HOST_PID[n]=$SERVE_PID
	done
}
stop_hosts() {
	local n
	for n in 1 2 3; do
		sv_stop "${HOST_PID[n]}" || diag "host $n ignored SIGTERM"
	done
}

# hpost N FILE OUT: one delivery to host N; "STATUS BODY" into OUT.
hpost() {
	local raw
	raw=$(env -i REQUEST_METHOD=POST CONTENT_LENGTH="$(stat -c %s "$2")" \
	    HTTP_STRIPE_SIGNATURE="$(header_for "$2")" \
	    CONTENT_TYPE=application/json GATEWAY_INTERFACE=CGI/1.1 \
	    SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 \
	    timeout -k 5 120 cgi-fcgi -bind -connect "$W/sv/host$1.sock" \
	    <"$2" 2>"$3.err" | tr -d '\r')
	printf '%s %s\n' "$(printf '%s\n' "$raw" | sed -n 's/^Status: \([0-9]*\).*/\1/p')" \
	    "$(printf '%s\n' "$raw" | tail -n 1)" >"$3"
}

# hpost_all FILE OUT: the same delivery to hosts 1, 2 and 3 at once, in
# the background; answers in OUT.1 to OUT.3, the posts' pids in jobs_.
hpost_all() {
	local n
	jobs_=()
	for n in 1 2 3; do
		hpost "$n" "$1" "$2.$n" &
		jobs_+=($!)
	done
}

runs_of() {
	grep -c -- "$1" "$SV_MARKS/runs" 2>/dev/null || true
}

start_hosts

# Concurrent copies: one runs, the others 409 at once.
sv_clear_marks
make_event "$W/ev/c1.json" evt_pg_concurrent_1 test.hold
hpost_all "$W/ev/c1.json" "$W/req/c1"
count409() {
	[ "$(cat "$W"/req/c1.[123] 2>/dev/null | grep -c '^409 ')" -ge 2 ]
}
wait_for 60 count409
ok $? "concurrent copies on three hosts: two answer 409 while one runs"
touch "$SV_MARKS/release"
wait "${jobs_[@]}"
t_is "concurrent copies: one 200" "$(cat "$W"/req/c1.[123] | grep -c '^200 ')" 1
t_is "concurrent copies: each hook ran once" \
    "$(runs_of 'first evt_pg_concurrent_1') $(runs_of 'hold evt_pg_concurrent_1 start')" "1 1"
hpost 2 "$W/ev/c1.json" "$W/req/c1.again"
t_is "a copy on another host later: duplicate" "$(cat "$W/req/c1.again")" \
    "200 $B_DUPLICATE"

# libpq is loaded by a process that uses a database, and is not linked
# (stripehook.conf(5) database): host 1's processes map it, the binary
# does not name it.
maps_libpq() {
	local p
	for p in "$1" $(pgrep -P "$1"); do
		grep -q 'libpq\.so' "/proc/$p/maps" 2>/dev/null && return 0
	done
	return 1
}
maps_libpq "${HOST_PID[1]}"
ok $? "a host with a database has libpq loaded"
ldd "$STRIPEHOOK" | grep -q 'libpq'
t_is "the binary is not linked to libpq" "$?" 1

# A host killed mid-hook: the redelivery through another host runs the
# unfinished hook (no stale lock), never the one already recorded.
sv_clear_marks
make_event "$W/ev/k1.json" evt_pg_killed_1 test.hold
hpost 1 "$W/ev/k1.json" "$W/req/k1.1" &
bgpost=$!
wait_for 30 test -s "$SV_MARKS/hold.pid" || bail "the hold hook did not start"
hookpid=$(cat "$SV_MARKS/hold.pid")
# The worker: the hook's ancestor whose parent is host 1's serve.
worker=$hookpid
while [ -n "$worker" ] && [ "$worker" -gt 1 ]; do
	parent=$(sed 's/^.*) //' "/proc/$worker/stat" | cut -d' ' -f2)
	[ "$parent" = "${HOST_PID[1]}" ] && break
	worker=$parent
done
[ "$parent" = "${HOST_PID[1]}" ] || bail "no worker of host 1 above the hook"
kill -KILL "$worker"
wait_for 30 pid_gone "$hookpid"
ok $? "host 1's worker killed mid-hook: its hook died with it"
wait "$bgpost"
touch "$SV_MARKS/release"
hpost 2 "$W/ev/k1.json" "$W/req/k1.2"
t_is "redelivery through host 2: 200" "$(cat "$W/req/k1.2")" "200 $B_OK"
t_is "redelivery: the recorded hook did not run again, the killed one did" \
    "$(runs_of 'first evt_pg_killed_1') $(runs_of 'hold evt_pg_killed_1 start')" "1 2"

# PostgreSQL stopped mid-load and started again: 500s while down, then
# normal service without restarting any host; every event runs once.
sv_clear_marks
down500=0 bad=0
send_round() {
	local i n r
	for ((i = $1; i < $2; i++)); do
		n=$((i % 3 + 1))
		make_event "$W/ev/l$i.json" "evt_pg_load_$i" test.count
		hpost "$n" "$W/ev/l$i.json" "$W/req/l$i"
		r=$(cut -d' ' -f1 <"$W/req/l$i")
		if [ "$r" = 200 ]; then
			:
		elif [ "$3" = down ] && [ "$r" = 500 ]; then
			down500=$((down500 + 1))
		else
			bad=$((bad + 1))
			diag "event $i on host $n: $(cat "$W/req/l$i")"
		fi
	done
}
send_round 0 12 up
pg_stop_cluster fast
send_round 12 18 down
pg_start_cluster
# Stripe retries what failed; then new events.
send_round 12 18 up
send_round 18 30 up
t_is "database down: every delivery answered 500" "$down500" 6
t_is "database back: every delivery answered 200" "$bad" 0
twice=$(sort "$SV_MARKS/runs" | uniq -d | wc -l)
all=$(sort -u "$SV_MARKS/runs" | wc -l)
t_is "after the restart: 30 events, each hook ran once" "$all $twice" "30 0"
grep -q 'database: ' "$W/sv/host1.log"
ok $? "the hosts logged why they answered 500"

# A load across the three hosts, as Stripe sends it: every event three
# times, copies at once on different hosts, host 3 killed (serve and its
# workers) and started again during the run, every delivery not answered
# 200 delivered again until it is.  0 lost, 0 double.
sv_clear_marks
LOAD_N=60
load_send() {	# load_send I COPY HOST
	hpost "$3" "$W/ev/m$1.json" "$W/req/m$1.$2"
	if [ "$(cut -d' ' -f1 <"$W/req/m$1.$2")" = 200 ]; then
		: >"$W/req/m$1.done"
	fi
}
for ((i = 0; i < LOAD_N; i++)); do
	make_event "$W/ev/m$i.json" "evt_pg_mix_$i" test.count
done
for ((i = 0; i < LOAD_N; i++)); do
	if [ "$i" = $((LOAD_N / 2)) ]; then
		kill -KILL "${HOST_PID[3]}"
		wait "${HOST_PID[3]}" 2>/dev/null
		forget_pid "${HOST_PID[3]}"
		rm -f "$W/sv/host3.sock"
		serve_start host3 "$W/sv/host3.conf" "unix:$W/sv/host3.sock" 2
		HOST_PID[3]=$SERVE_PID
	fi
	jobs_=()
	for c in 1 2 3; do
		load_send "$i" "$c" $(((i + c) % 3 + 1)) &
		jobs_+=($!)
	done
	wait "${jobs_[@]}"
done
for ((round = 0; round < 20; round++)); do
	left=0
	for ((i = 0; i < LOAD_N; i++)); do
		[ -e "$W/req/m$i.done" ] && continue
		left=$((left + 1))
		load_send "$i" "r$round" $((RANDOM % 3 + 1))
	done
	[ "$left" = 0 ] && break
done
t_is "load across hosts with one killed: every event answered 200 in the end" \
    "$(ls "$W"/req/m*.done | wc -l | tr -d ' ')" "$LOAD_N"
t_is "load across hosts: 0 lost, 0 double" \
    "$(grep -c '^count evt_pg_mix_' "$SV_MARKS/runs") $(sort "$SV_MARKS/runs" | uniq -d | wc -l | tr -d ' ')" \
    "$LOAD_N 0"

# A host cut off from the database mid-hook (its traffic goes through a
# proxy the test freezes): it kills its hook when the session does not
# answer within database_timeout; until the server drops that session the
# event stays locked (409 elsewhere), and a run elsewhere starts only
# after the first hook is gone.
cat >"$W/proxy.py" <<'PY'
import socket, sys, threading
lst = socket.socket()
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(("127.0.0.1", int(sys.argv[1])))
lst.listen(16)
def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    c, _ = lst.accept()
    u = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
PY
proxy_port=$(sv_port)
python3 "$W/proxy.py" "$proxy_port" "$PG_PORT" </dev/null >"$W/run/proxy.log" 2>&1 &
proxy=$!
BG_PIDS+=("$proxy")
proxy_up() { (: <"/dev/tcp/127.0.0.1/$proxy_port") 2>/dev/null; }
wait_for 20 proxy_up || bail "the proxy did not start"
DB_SAVED=$DB
DB="host=127.0.0.1 port=$proxy_port dbname=$PG_DB user=$PG_ROLE"
HOST_DB_TIMEOUT=2
# hook_timeout far above the wait below: only the guard can end the hook.
serve_start host4 "$(host_conf 4 "hook_timeout 120")" "unix:$W/sv/host4.sock" 1
HOST_DB_TIMEOUT=
DB=$DB_SAVED
HOST4_PID=$SERVE_PID
sv_clear_marks
make_event "$W/ev/cut.json" evt_pg_cut_1 test.hold
hpost 4 "$W/ev/cut.json" "$W/req/cut.4" &
bgpost=$!
wait_for 30 test -s "$SV_MARKS/hold.pid" || bail "the hold hook did not start"
hookpid=$(cat "$SV_MARKS/hold.pid")
kill -STOP "$proxy"
wait_for 60 pid_gone "$hookpid"
ok $? "cut off from the database: host 4 killed its hook"
hpost 2 "$W/ev/cut.json" "$W/req/cut.2a"
t_is "while the server keeps the silent session: 409 elsewhere" \
    "$(cut -d' ' -f1 <"$W/req/cut.2a")" 409
# What the server's keepalives would do: drop the silent session.
psql_do "SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE \
    l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND \
    ((l.classid::bigint << 32) | l.objid::bigint) = \
    hashtextextended('evt_pg_cut_1', 0)" >/dev/null
touch "$SV_MARKS/release"
hpost 2 "$W/ev/cut.json" "$W/req/cut.2b"
t_is "after the session is dropped: the event runs on host 2" \
    "$(cat "$W/req/cut.2b")" "200 $B_OK"
t_is "the hold hook ran twice, never at once: first run killed first" \
    "$(runs_of 'hold evt_pg_cut_1 start')" 2
kill -CONT "$proxy"
wait "$bgpost"
t_like "host 4 answered that its hook failed" "$(cat "$W/req/cut.4")" \
    '^500 \{"error":"hook failed"\}'
grep -q 'session holding the event.s lock is lost' "$W/sv/host4.log"
ok $? "host 4 logged why it stopped the hook"
grep -q 'result=session-lost' "$W/sv/host4.log"
ok $? "host 4 logged the hook's result as session-lost"
sv_stop "$HOST4_PID" || diag "host 4 ignored SIGTERM"
stop_hosts

# ---- ack receipt across the hosts --------------------------------------------

sv_clear_marks
start_hosts "ack receipt" "retry_min 1"
make_event "$W/ev/r1.json" evt_pg_receipt_1 test.count
hpost_all "$W/ev/r1.json" "$W/req/r1"
wait "${jobs_[@]}"
# Each copy is queued, or a duplicate when a runner was quicker.
t_like "ack receipt: three copies on three hosts all answer 200" \
    "$(cat "$W"/req/r1.[123] | sort -u | tr '\n' ' ')" \
    '^200 \{"received":true,"(queued|duplicate)":true\} (200 \{"received":true,"(queued|duplicate)":true\} )?$'
t_is "ack receipt: at least one copy was queued" \
    "$(grep -l queued "$W"/req/r1.[123] | wc -l | tr -d ' ' | sed 's/^[1-3]$/yes/')" yes
for ((i = 0; i < 15; i++)); do
	make_event "$W/ev/r$i.q.json" "evt_pg_rq_$i" test.count
	hpost $((i % 3 + 1)) "$W/ev/r$i.q.json" "$W/req/rq$i" &
	jobs_+=($!)
done
wait "${jobs_[@]}"
queue_empty() {
	[ "$(psql_do "SELECT count(*) FROM stripehook_events WHERE queued")" = 0 ]
}
wait_for 60 queue_empty
ok $? "ack receipt: the runners of the three hosts drained the queue"
t_is "ack receipt: every event ran once" \
    "$(sort -u "$SV_MARKS/runs" | wc -l) $(sort "$SV_MARKS/runs" | uniq -d | wc -l)" "16 0"
stop_hosts

tap_done
