#!/usr/bin/env bash
# Integration tests of the de-duplication records (stripehook(8) DELIVERY
# and the commands status, replay, forget and prune):
# each hook runs to success once per event, through redeliveries, partial
# failures, concurrent copies (CGI processes and FastCGI workers), faults
# of the state directory, a handler killed mid-hook and a hook killed by a
# signal; the replay, forget, status and prune tools; and the small run of
# scripts/loadtest.  Output is TAP.
#
# Requests go to the built binary as a web server would send them: CGI
# (environment and stdin) or FastCGI (spawn-fcgi and cgi-fcgi).  Signatures
# are made with openssl, never with the code under test.
#
# Environment: as for tests/lib.sh (STRIPEHOOK, top_srcdir, top_builddir).
# The file-system fault tests mount small tmpfs file systems; where mount
# is not permitted they are skipped with the reason.

# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lib_setup

# ---- set-up ----------------------------------------------------------------

COUNTS=$W/counts	# one line per hook success: "EVENT_ID HOOK"
FLAGS=$W/flags		# FLAGS/HOOK: how the next run of HOOK misbehaves
SH_HOOK=$W/shooks/flaky
MOUNTS=()
mkdir -p "$FLAGS" "$W/shooks" "$W/conc" || bail "cannot set up $W"
: >"$COUNTS"

# The test hook.  Usage: flaky NAME.  It adds NAME to $MARK_DIR/runs (what
# lib.sh's expect checks), then acts on $FLAG_DIR/NAME when present,
# consuming it (so only the next run misbehaves):
#   fail        exit 1
#   kill        die of SIGKILL
#   hang        write its pid to NAME.pid, then become a long sleep
#   fill PATH   fill the file system of PATH, then succeed
# A success appends "EVENT_ID NAME" to $COUNT_FILE (O_APPEND), after
# sleeping $HOOK_SLEEP seconds when set (to make concurrent copies overlap).
cat >"$SH_HOOK" <<'EOF'
#!/bin/sh
set -u
name=$1
echo "$name" >> "$MARK_DIR/runs"
flag=$FLAG_DIR/$name
if [ -f "$flag" ]; then
	read -r mode arg < "$flag" || mode=fail
	rm -f "$flag"
	case $mode in
	fail)
		exit 1 ;;
	kill)
		kill -KILL $$ ;;
	hang)
		echo $$ > "$FLAG_DIR/$name.pid.tmp"
		mv "$FLAG_DIR/$name.pid.tmp" "$FLAG_DIR/$name.pid"
		exec sleep 60 ;;
	fill)
		dd if=/dev/zero of="$arg" bs=4096 2>/dev/null
		;;
	esac
fi
if [ -n "${HOOK_SLEEP:-}" ]; then
	sleep "$HOOK_SLEEP"
fi
printf '%s %s\n' "$STRIPE_EVENT_ID" "$name" >> "$COUNT_FILE"
exit 0
EOF
chmod 0755 "$SH_HOOK"

HOOK_SLEEP=0.5
[ "$SLOW" -gt 1 ] && HOOK_SLEEP=3

# state_conf NAME STATE_DIR [EXTRA]: two hooks, h1 then h2, on test.*.
state_conf() {
	write_conf "$1" <<EOF
secret_file $W/secret
state_dir $2
hook_timeout 30
env MARK_DIR=$MARKS
env FLAG_DIR=$FLAGS
env COUNT_FILE=$COUNTS
${3:-}
on test.* $SH_HOOK h1
on test.* $SH_HOOK h2
EOF
}
ID_H1="on test.* $SH_HOOK h1"

# runs_of ID HOOK: how many times HOOK succeeded for event ID.
runs_of() {
	grep -c -x -F -- "$1 $2" "$COUNTS"
}

# flag HOOK MODE [ARG]: the next run of HOOK misbehaves.
flag() {
	printf '%s %s\n' "$2" "${3:-}" >"$FLAGS/$1"
}

# status_of_event CONF ID: `stripehook status`, output in ST_OUT, exit in
# ST_RC.
status_of_event() {
	ST_OUT=$(tool -c "$1" status "$2" 2>&1)
	ST_RC=$?
}

# mount_tmpfs DIR OPTIONS: 0 when a tmpfs is mounted at DIR (unmounted at
# exit), else 1 with the reason in MOUNT_WHY.
mount_tmpfs() {
	mkdir -p "$1" || return 1
	if ! MOUNT_WHY=$(mount -t tmpfs -o "mode=0700,$2" stripehook-test "$1" 2>&1); then
		MOUNT_WHY=${MOUNT_WHY%%$'\n'*}
		MOUNT_WHY="cannot mount a tmpfs (${MOUNT_WHY:-mount failed})"
		return 1
	fi
	MOUNTS+=("$1")
	return 0
}

# shellcheck disable=SC2317	# (called by the trap)
state_cleanup() {
	local m p
	for p in "${BG_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	for m in "${MOUNTS[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	cleanup
}
trap state_cleanup EXIT

# ---- concurrent requests ---------------------------------------------------

# raw_cgi CONF FILE HEADER OUT: one CGI request in the foreground; the
# answer in OUT, the log in OUT.err.
raw_cgi() {
	local len
	len=$(stat -c %s "$2")
	timeout -k 5 $((60 * SLOW)) env -i REQUEST_METHOD=POST \
	    GATEWAY_INTERFACE=CGI/1.1 CONTENT_LENGTH="$len" \
	    HTTP_STRIPE_SIGNATURE="$3" STRIPEHOOK_CONFIG="$1" \
	    "${RUN[@]}" <"$2" >"$4" 2>"$4.err"
}

# raw_fcgi SOCK FILE HEADER OUT: one request to a FastCGI socket.
raw_fcgi() {
	local len
	len=$(stat -c %s "$2")
	timeout -k 5 $((60 * SLOW)) env -i REQUEST_METHOD=POST \
	    CONTENT_LENGTH="$len" HTTP_STRIPE_SIGNATURE="$3" \
	    cgi-fcgi -bind -connect "$1" <"$2" >"$4" 2>"$4.err"
}

# answer_of FILE: "CODE BODY" of an answer, e.g. '409 {"error":"..."}'.
answer_of() {
	local raw code body
	raw=$(cat "$1"; printf x)
	raw=${raw%x}
	case $raw in
	*$'\r\n\r\n'*) ;;
	*)
		printf 'malformed'
		return
		;;
	esac
	code=$(printf '%s' "${raw%%$'\r\n\r\n'*}" | tr -d '\r' |
	    sed -n 's/^Status: \([0-9]*\) .*/\1/p')
	body=${raw#*$'\r\n\r\n'}
	printf '%s %s' "${code:-none}" "$body"
}

# fcgi_pool N CONF: N stripehook FastCGI processes on one socket
# (spawn-fcgi -F N); sets POOL_SOCK, POOL_LOG, POOL_PIDS.
POOL_N=0
fcgi_pool() {
	local pidf
	POOL_N=$((POOL_N + 1))
	POOL_SOCK=$W/run/pool$POOL_N.sock
	POOL_LOG=$W/run/pool$POOL_N.log
	pidf=$W/run/pool$POOL_N.pids
	: >"$POOL_LOG"
	# spawn-fcgi gives its children /dev/null as stderr: a shell keeps
	# the log, then becomes stripehook (fd 0 stays the socket).
	# shellcheck disable=SC2016	# (expanded by that shell)
	env -i PATH=/usr/bin:/bin spawn-fcgi -s "$POOL_SOCK" -F "$1" \
	    -P "$pidf" -- /bin/sh -c 'log=$1; shift; exec "$@" 2>>"$log"' \
	    sh "$POOL_LOG" "${RUN[@]}" -c "$2" >"$W/run/pool$POOL_N.out" 2>&1 ||
		bail "spawn-fcgi failed: $(cat "$W/run/pool$POOL_N.out")"
	mapfile -t POOL_PIDS < <(grep -o '[0-9][0-9]*' "$pidf")
	[ "${#POOL_PIDS[@]}" -eq "$1" ] ||
		bail "spawn-fcgi started ${#POOL_PIDS[@]} processes, not $1"
	BG_PIDS+=("${POOL_PIDS[@]}")
}

fcgi_pool_stop() {
	local p
	for p in "${POOL_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${POOL_PIDS[@]}"; do
		wait_for $((10 * SLOW)) pid_gone "$p" || kill -KILL "$p" 2>/dev/null
		forget_pid "$p"
	done
	POOL_PIDS=()
}

# concurrent16 WHAT CONF|SOCK FILE: 16 copies of one delivery at once,
# through cgi or fcgi.  Answers in $W/conc/WHAT.N; counts in C_200 C_409
# C_OTHER (with the odd answers in C_ODD).
concurrent16() {
	local what=$1 target=$2 file=$3 hdr i pids=() a
	hdr=$(header_for "$file")
	for ((i = 1; i <= 16; i++)); do
		if [ "$what" = cgi ]; then
			raw_cgi "$target" "$file" "$hdr" "$W/conc/$what.$i" &
		else
			raw_fcgi "$target" "$file" "$hdr" "$W/conc/$what.$i" &
		fi
		pids+=($!)
	done
	wait "${pids[@]}"
	C_200=0 C_409=0 C_OTHER=0 C_ODD=
	for ((i = 1; i <= 16; i++)); do
		a=$(answer_of "$W/conc/$what.$i")
		case $a in
		'200 {"received":true}' | '200 {"received":true,"duplicate":true}')
			C_200=$((C_200 + 1)) ;;
		'409 {"error":"event in progress"}')
			C_409=$((C_409 + 1))
			printf '%s\n' "$i" >>"$W/conc/$what.409" ;;
		*)
			C_OTHER=$((C_OTHER + 1))
			C_ODD="$C_ODD [$a]" ;;
		esac
	done
}

# redeliver_409 WHAT CONF|SOCK FILE: each copy answered 409 is sent again,
# freshly signed, as Stripe would, until it is answered 2xx (at most 50
# times each, 0.1 s apart).  Fails when one never is.
redeliver_409() {
	local what=$1 target=$2 file=$3 i n a out
	out=$W/conc/$what.again
	[ -f "$W/conc/$what.409" ] || return 0
	while read -r i; do
		for ((n = 0; n < 50; n++)); do
			if [ "$what" = cgi ]; then
				raw_cgi "$target" "$file" "$(header_for "$file")" "$out"
			else
				raw_fcgi "$target" "$file" "$(header_for "$file")" "$out"
			fi
			a=$(answer_of "$out")
			case $a in
			200\ *) break ;;
			esac
			sleep 0.1
		done
		case $a in
		200\ *) ;;
		*)
			diag "copy $i never answered 200; last: $a"
			return 1
			;;
		esac
	done <"$W/conc/$what.409"
}

# ---- 1. redelivery after a partial failure ---------------------------------

ST1=$W/state1
mkdir -m 0700 "$ST1"
state_conf partial "$ST1"
use_conf partial
EV=$W/ev/partial.json
make_event "$EV" evt_state_partial_1 test.partial
flag h2 fail
post "$EV" "$(header_for "$EV")"
expect_error "h2 fails once: 500 hook failed after h1 ran" "hook failed" "h1 h2"
post "$EV" "$(header_for "$EV")"
expect "redelivery runs only h2: 200" "$S200" "$B_OK" "h2"
is "$(runs_of evt_state_partial_1 h1)" 1 "h1 ran to success once"
is "$(runs_of evt_state_partial_1 h2)" 1 "h2 ran to success once (twice in all)"
post "$EV" "$(header_for "$EV")"
expect "third delivery: duplicate, nothing runs" "$S200" "$B_DUPLICATE" -
is "$(wc -l <"$COUNTS" | tr -d ' ')" 2 "two successes in all"

status_of_event "$CONF" evt_state_partial_1
is "$ST_RC" 0 "status exits 0"
like "$ST_OUT" "^payload not kept" "status: payload not kept once every hook succeeded"
like "$ST_OUT" "on test\.\* [^	]*flaky h1	succeeded	[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z" \
    "status: h1 succeeded, with its time"
like "$ST_OUT" "flaky h2	succeeded	[0-9]{4}-" "status: h2 succeeded"

out=$(tool -c "$CONF" forget evt_state_partial_1 "$ID_H1" 2>&1)
is "$?/$out" "0/forgot $ID_H1" "forget EVENT HOOK drops that hook's record"
status_of_event "$CONF" evt_state_partial_1
like "$ST_OUT" "flaky h1	not run" "status: h1 not run after forget"
post "$EV" "$(header_for "$EV")"
expect "after forget, a redelivery runs h1 only" "$S200" "$B_OK" "h1"
is "$(runs_of evt_state_partial_1 h1)/$(runs_of evt_state_partial_1 h2)" "2/1" \
    "h1 ran again, h2 did not"
out=$(tool -c "$CONF" forget evt_state_partial_1 "no such hook" 2>&1)
is "$?" 1 "forget of an unknown hook is a negative answer (exit 1)"
out=$(tool -c "$CONF" status evt_state_never_seen 2>&1)
is "$?" 1 "status of an unknown event exits 1"
out=$(tool -c "$CONF" status '../etc' 2>&1)
is "$?" 1 "status of an invalid event id exits 1"

# ---- 2. concurrent copies of one event -------------------------------------

ST2=$W/state2
mkdir -m 0700 "$ST2"
state_conf conc "$ST2" "env HOOK_SLEEP=$HOOK_SLEEP"
CONC_CONF=$(conf_path conc)
EVC=$W/ev/conc-cgi.json
make_event "$EVC" evt_state_conc_cgi test.concurrent
concurrent16 cgi "$CONC_CONF" "$EVC"
is "$C_OTHER" 0 "cgi: 16 concurrent copies: every answer is 200 or 409 event in progress" ||
	diag "odd answers:$C_ODD"
ok $((C_409 > 0 ? 0 : 1)) "cgi: the copies overlapped ($C_409 answered 409)"
is "$(runs_of evt_state_conc_cgi h1)/$(runs_of evt_state_conc_cgi h2)" 1/1 \
    "cgi: each hook ran once"
redeliver_409 cgi "$CONC_CONF" "$EVC"
ok $? "cgi: every 409 copy redelivered until 200"
is "$(runs_of evt_state_conc_cgi h1)/$(runs_of evt_state_conc_cgi h2)" 1/1 \
    "cgi: still once each after the redeliveries"

fcgi_pool 4 "$CONC_CONF"
EVF=$W/ev/conc-fcgi.json
make_event "$EVF" evt_state_conc_fcgi test.concurrent
concurrent16 fcgi "$POOL_SOCK" "$EVF"
is "$C_OTHER" 0 "fcgi x4: 16 concurrent copies: every answer is 200 or 409 event in progress" ||
	diag "odd answers:$C_ODD"
ok $((C_409 > 0 ? 0 : 1)) "fcgi x4: the copies overlapped ($C_409 answered 409)"
is "$(runs_of evt_state_conc_fcgi h1)/$(runs_of evt_state_conc_fcgi h2)" 1/1 \
    "fcgi x4: each hook ran once"
redeliver_409 fcgi "$POOL_SOCK" "$EVF"
ok $? "fcgi x4: every 409 copy redelivered until 200"
is "$(runs_of evt_state_conc_fcgi h1)/$(runs_of evt_state_conc_fcgi h2)" 1/1 \
    "fcgi x4: still once each after the redeliveries"
fcgi_pool_stop

# ---- 3. faults ---------------------------------------------------------------

EVX=$W/ev/fault.json
# fault_post DESC CONF ID WANT_ERROR: one delivery that must be refused with
# 500 and run no hook.
fault_post() {
	make_event "$EVX" "$3" test.fault
	use_conf "$2"
	post "$EVX" "$(header_for "$EVX")"
	expect_error "$1" "$4" -
}

state_conf missing "$W/no-such-dir"
fault_post "state_dir missing: 500, no hook" missing evt_state_missing "internal error"

: >"$W/state-file"
state_conf notdir "$W/state-file"
fault_post "state_dir is a regular file: 500, no hook" notdir evt_state_notdir \
    "internal error"

# Read-only: as root, permissions do not bite; a read-only mount does.
RO=$W/ro
if mount_tmpfs "$RO" ro,size=64k; then
	state_conf ro "$RO"
	fault_post "state_dir on a read-only file system: 500, no hook" ro \
	    evt_state_ro "internal error"
elif [ "$(id -u)" != 0 ]; then
	# Without mount, permissions do the job for a user other than root.
	mkdir -p "$W/ro-perm" && chmod 0500 "$W/ro-perm"
	state_conf ro "$W/ro-perm"
	fault_post "state_dir not writable (mode 0500): 500, no hook" ro \
	    evt_state_ro "internal error"
else
	skip "state_dir read-only: $MOUNT_WHY"
fi

# A file system that turns read-only after h1 succeeded and h2 failed: the
# redelivery must neither run h1 again nor run h2 without being able to
# record it; once writable again, only h2 runs.
RW=$W/rw
if mount_tmpfs "$RW" size=256k; then
	state_conf rw "$RW"
	use_conf rw
	make_event "$EVX" evt_state_remount test.fault
	flag h2 fail
	post "$EVX" "$(header_for "$EVX")"
	expect_error "remount: first delivery, h2 fails" "hook failed" "h1 h2"
	if mount -o remount,ro "$RW" 2>/dev/null; then
		post "$EVX" "$(header_for "$EVX")"
		expect_error "remount: state_dir now read-only: 500, no hook" \
		    "internal error" -
		mount -o remount,rw "$RW" || bail "cannot remount $RW"
		post "$EVX" "$(header_for "$EVX")"
		expect "remount: writable again: 200, only h2 runs" "$S200" "$B_OK" h2
	else
		skip "remount read-only: not permitted"
		skip "remount read-only: not permitted"
	fi
	is "$(runs_of evt_state_remount h1)" 1 "remount: h1 ran to success once"
else
	skip "remount read-only: $MOUNT_WHY"
fi

# Full file system: nothing can be written, so no hook may run; and a
# file system that fills up while a hook runs: its success cannot be
# recorded, so the answer is 500 (never 200) and the next delivery, once
# there is room, runs it again.
FULL=$W/full
if mount_tmpfs "$FULL" size=64k; then
	state_conf full "$FULL"
	use_conf full
	dd if=/dev/zero of="$FULL/filler" bs=4096 2>/dev/null
	fault_post "state_dir on a full file system: 500, no hook" full \
	    evt_state_full "internal error"
	rm -f "$FULL/filler"
	make_event "$EVX" evt_state_fills test.fault
	flag h1 fill "$FULL/filler"
	post "$EVX" "$(header_for "$EVX")"
	expect_error "file system fills during h1: 500 internal error, never 200" \
	    "internal error" "h1"
	status_of_event "$CONF" evt_state_fills
	like "$ST_OUT" "flaky h1	not run" "fills: no record of h1"
	rm -f "$FULL/filler"
	post "$EVX" "$(header_for "$EVX")"
	expect "fills: room again: redelivery runs h1 again, 200" "$S200" "$B_OK" "h1 h2"
else
	skip "state_dir on a full file system: $MOUNT_WHY"
fi

# Handler killed with SIGKILL while a hook runs.
ST3=$W/state3
mkdir -m 0700 "$ST3"
state_conf kill "$ST3"
use_conf kill
EVK=$W/ev/kill.json
make_event "$EVK" evt_state_killed test.kill
flag h1 hang
clear_marks
len=$(stat -c %s "$EVK")
hdr=$(header_for "$EVK")
env -i REQUEST_METHOD=POST GATEWAY_INTERFACE=CGI/1.1 CONTENT_LENGTH="$len" \
    HTTP_STRIPE_SIGNATURE="$hdr" STRIPEHOOK_CONFIG="$CONF" \
    "${RUN[@]}" <"$EVK" >"$W/kill.out" 2>"$W/kill.err" &
HANDLER=$!
BG_PIDS+=("$HANDLER")
if wait_for $((10 * SLOW)) test -s "$FLAGS/h1.pid"; then
	HOOKPID=$(cat "$FLAGS/h1.pid")
	ok 0 "kill: the hook is running (pid $HOOKPID)"
	kill -KILL "$HANDLER"
	wait "$HANDLER" 2>/dev/null
	forget_pid "$HANDLER"
	wait_for $((5 * SLOW)) pid_gone "$HOOKPID"
	ok $? "kill: the hook died with its handler (PR_SET_PDEATHSIG)"
	kill -KILL "$HOOKPID" 2>/dev/null
	status_of_event "$CONF" evt_state_killed
	like "$ST_OUT" "^payload kept" "kill: the payload is kept"
	like "$ST_OUT" "flaky h1	not run" "kill: no record of the killed hook"
	post "$EVK" "$(header_for "$EVK")"
	expect "kill: redelivery runs the hook again: 200, not 409" "$S200" "$B_OK" "h1 h2"
	is "$(runs_of evt_state_killed h1)" 1 "kill: h1 succeeded once"
else
	ok 1 "kill: the hook is running"
	diag "$(cat "$W/kill.err")"
fi

# The same with a FastCGI worker: the web server sees the connection
# close (no 2xx, so Stripe retries), and another worker runs the hook.
fcgi_pool 2 "$CONF"
make_event "$EVK" evt_state_killed_fcgi test.kill
flag h1 hang
rm -f "$FLAGS/h1.pid"
raw_fcgi "$POOL_SOCK" "$EVK" "$(header_for "$EVK")" "$W/killf.out" &
CLIENT=$!
if wait_for $((10 * SLOW)) test -s "$FLAGS/h1.pid"; then
	HOOKPID=$(cat "$FLAGS/h1.pid")
	# The hook's parent is its run's supervisor, whose parent is a worker.
	SUP=$(sed 's/^.*) //' "/proc/$HOOKPID/stat" | cut -d' ' -f2)
	WORKER=$(sed 's/^.*) //' "/proc/$SUP/stat" | cut -d' ' -f2)
	like " ${POOL_PIDS[*]} " " $WORKER " \
	    "fcgi kill: the hook runs under a worker (pid $WORKER)"
	kill -KILL "$WORKER"
	wait_for $((5 * SLOW)) pid_gone "$HOOKPID"
	ok $? "fcgi kill: the hook died with its worker (PR_SET_PDEATHSIG)"
	kill -KILL "$HOOKPID" 2>/dev/null
	wait "$CLIENT"
	like "$(answer_of "$W/killf.out")" "^(malformed|none )" \
	    "fcgi kill: the killed request got no answer (the server gives 5xx)"
	raw_fcgi "$POOL_SOCK" "$EVK" "$(header_for "$EVK")" "$W/killf.out"
	is "$(answer_of "$W/killf.out")" '200 {"received":true}' \
	    "fcgi kill: redelivery to the other worker: 200, not 409"
	is "$(runs_of evt_state_killed_fcgi h1)/$(runs_of evt_state_killed_fcgi h2)" \
	    1/1 "fcgi kill: each hook succeeded once"
else
	ok 1 "fcgi kill: the hook is running"
	wait "$CLIENT"
fi
fcgi_pool_stop

# A hook killed by a signal.
make_event "$EVK" evt_state_hooksig test.kill
flag h2 kill
post "$EVK" "$(header_for "$EVK")"
expect_error "hook killed by SIGKILL: 500 hook failed" "hook failed" "h1 h2"
post "$EVK" "$(header_for "$EVK")"
expect "hook killed by a signal: redelivery 200, h2 only" "$S200" "$B_OK" h2

# ---- 4. replay, prune --------------------------------------------------------

ST4=$W/state4
mkdir -m 0700 "$ST4"
state_conf replay "$ST4"
use_conf replay
EVR=$W/ev/replay.json
make_event "$EVR" evt_state_replay test.replay
flag h1 fail
post "$EVR" "$(header_for "$EVR")"
expect_error "replay: the first delivery fails" "hook failed" "h1"
status_of_event "$CONF" evt_state_replay
like "$ST_OUT" "^payload kept" "replay: status shows the payload kept"
like "$ST_OUT" "type test\.replay" "replay: status shows the type"
clear_marks
out=$(tool -c "$CONF" replay evt_state_replay 2>&1)
is "$?" 0 "replay: exits 0"
is "$(tr '\n' ' ' <"$MARKS/runs")" "h1 h2 " "replay: ran h1 then h2"
is "$(runs_of evt_state_replay h1)/$(runs_of evt_state_replay h2)" 1/1 \
    "replay: each hook succeeded once"
status_of_event "$CONF" evt_state_replay
like "$ST_OUT" "^payload not kept" "replay: payload not kept afterwards"
like "$ST_OUT" "flaky h2	succeeded" "replay: status shows h2 succeeded"
out=$(tool -c "$CONF" replay evt_state_replay 2>&1)
is "$?" 1 "replay of a finished event: exit 1 (no payload kept)"
post "$EVR" "$(header_for "$EVR")"
expect "replay: a later delivery is a duplicate" "$S200" "$B_DUPLICATE" -

make_event "$EVR" evt_state_fresh test.replay
post "$EVR" "$(header_for "$EVR")"
expect "prune: a fresh event" "$S200" "$B_OK" "h1 h2"
touch -d '40 days ago' "$ST4/evt_state_replay"/*
out=$(tool -c "$CONF" prune -v 2>&1)
is "$?" 0 "prune: exits 0"
like "$out" "removed 1 events" "prune -v: one event removed"
ok "$([ ! -e "$ST4/evt_state_replay" ] && echo 0 || echo 1)" \
    "prune: the aged event's records are gone"
status_of_event "$CONF" evt_state_fresh
is "$ST_RC" 0 "prune: status of the fresh event exits 0"
like "$ST_OUT" "flaky h2	succeeded" "prune: the fresh event's records stay"
status_of_event "$CONF" evt_state_replay
is "$ST_RC" 1 "prune: status of the pruned event: unknown (exit 1)"

# ---- 4b. replay that must not run: configuration changed, livemode --------

ST5=$W/state5
mkdir -m 0700 "$ST5"
state_conf nomatch "$ST5"
# The same records after the hooks were moved to other types.
write_conf nomatch_new <<EOF
secret_file $W/secret
state_dir $ST5
env MARK_DIR=$MARKS
env FLAG_DIR=$FLAGS
env COUNT_FILE=$COUNTS
on other.* $SH_HOOK h1
EOF
state_conf nomatch_live "$ST5" "livemode live"
use_conf nomatch
EVN=$W/ev/nomatch.json
make_event "$EVN" evt_state_nomatch test.nomatch
flag h1 fail
post "$EVN" "$(header_for "$EVN")"
expect_error "replay no match: the first delivery fails" "hook failed" "h1"
clear_marks
out=$(tool -c "$(conf_path nomatch_new)" replay evt_state_nomatch 2>&1)
is "$?" 1 "replay when no hook matches any more: exit 1"
like "$out" "no configured hook matches" "replay no match: says no hook matches"
case $out in
*succeeded*) ok 1 "replay no match: claims no success"; diag "$out" ;;
*) ok 0 "replay no match: claims no success" ;;
esac
ok "$([ -f "$ST5/evt_state_nomatch/payload" ] && echo 0 || echo 1)" \
    "replay no match: the payload is kept"
ok "$([ -s "$MARKS/runs" ] && echo 1 || echo 0)" "replay no match: no hook ran"

# A test-mode event (livemode false) under livemode live: a redelivery is
# ignored, and so is a replay.
out=$(tool -c "$(conf_path nomatch_live)" replay evt_state_nomatch 2>&1)
is "$?" 1 "replay of a test-mode event under livemode live: exit 1"
like "$out" "livemode" "replay livemode: says why"
ok "$([ -s "$MARKS/runs" ] && echo 1 || echo 0)" "replay livemode: no hook ran"
ok "$([ -f "$ST5/evt_state_nomatch/payload" ] && echo 0 || echo 1)" \
    "replay livemode: the payload is kept"
out=$(tool -c "$(conf_path nomatch)" replay evt_state_nomatch 2>&1)
is "$?" 0 "replay with the original configuration then runs the hooks"
is "$(tr '\n' ' ' <"$MARKS/runs")" "h1 h2 " "replay then: ran h1 then h2"

# ---- 4c. records that are not regular files --------------------------------

# A FIFO (or anything but a regular file) named lock, payload or ok-* is
# never opened for reading or waited on: deliveries answer 500 at once,
# status and replay fail with a message, prune goes on past the event.
ST6=$W/state6
mkdir -m 0700 "$ST6"
state_conf fifo "$ST6"
use_conf fifo
EVF=$W/ev/fifo.json
REC_H1=ok-$(printf '%s' "$ID_H1" | openssl dgst -sha256 | sed 's/^.*= //')
# fifo_event ID NAME: an event directory whose NAME is a FIFO.
fifo_event() {
	mkdir -m 0700 "$ST6/$1" && mkfifo -m 0600 "$ST6/$1/$2"
}
# quick_tool ARGS...: a tool that must not hang (bounded).
quick_tool() {
	timeout -k 2 $((20 * SLOW)) env -i PATH=/usr/bin:/bin "${RUN[@]}" "$@"
}
fifo_event evt_fifo_lock lock
make_event "$EVF" evt_fifo_lock test.fifo
post "$EVF" "$(header_for "$EVF")"
expect_error "FIFO named lock: 500 at once, no hook" "internal error" -
like "$A_LOG" "lock: not a regular file" "FIFO named lock: the log says what is wrong"

fifo_event evt_fifo_rec "$REC_H1"
make_event "$EVF" evt_fifo_rec test.fifo
post "$EVF" "$(header_for "$EVF")"
expect_error "FIFO named ok-HASH: 500 at once, no hook" "internal error" -
out=$(quick_tool -c "$CONF" status evt_fifo_rec 2>&1)
is "$?" 2 "FIFO named ok-HASH: status fails at once (exit 2)"
like "$out" "not a regular file" "FIFO named ok-HASH: status says why"

fifo_event evt_fifo_payload payload
out=$(quick_tool -c "$CONF" status evt_fifo_payload 2>&1)
is "$?" 2 "FIFO named payload: status fails at once (exit 2)"
like "$out" "not a regular file" "FIFO named payload: status says why"
out=$(quick_tool -c "$CONF" replay evt_fifo_payload 2>&1)
is "$?" 2 "FIFO named payload: replay fails at once (exit 2)"
make_event "$EVF" evt_fifo_payload test.fifo
post "$EVF" "$(header_for "$EVF")"
expect "FIFO named payload: a delivery replaces it and runs the hooks" \
    "$S200" "$B_OK" "h1 h2"
ok "$([ ! -e "$ST6/evt_fifo_payload/payload" ] && echo 0 || echo 1)" \
    "FIFO named payload: gone once every hook succeeded"

# prune: every event here is aged; the good one goes, the one whose lock
# is a FIFO is reported, and prune exits 2.
make_event "$EVF" evt_fifo_good test.fifo
post "$EVF" "$(header_for "$EVF")"
expect "prune past a bad entry: a good event" "$S200" "$B_OK" "h1 h2"
touch -h -d '40 days ago' "$ST6"/*/*
out=$(quick_tool -c "$CONF" prune -v 2>&1)
is "$?" 2 "prune with a FIFO named lock: finishes, exit 2"
like "$out" "lock: not a regular file" "prune: names the bad entry"
ok "$([ ! -e "$ST6/evt_fifo_good" ] && echo 0 || echo 1)" \
    "prune: goes on past the bad entry and removes the aged good event"

# ---- 5. load ---------------------------------------------------------------

LOADTEST=$top_srcdir/scripts/loadtest
if [ -r "$LOADTEST" ]; then
	out=$(STRIPEHOOK=$STRIPEHOOK timeout -k 5 $((180 * SLOW)) \
	    bash "$LOADTEST" --small --deadline $((90 * SLOW)) 2>&1)
	rc=$?
	diag "$out"
	ok $rc "loadtest --small: no event lost, no hook run twice"
else
	ok 1 "loadtest --small: $LOADTEST is missing"
fi

tap_done
