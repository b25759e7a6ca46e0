#!/usr/bin/env bash
# Integration tests of ack receipt (stripehook(8) ACK ON RECEIPT): the
# request queues and answers, a runner runs the hooks with retries, dead
# events, on_failure, list, replay --dead and metrics.  Three stacks, each
# with its own records, run side by side:
#
#   cgi    CGI requests (env and stdin) and `stripehook run`
#   fcgi   the FastCGI app under spawn-fcgi (reached with cgi-fcgi) and
#          `stripehook run`
#   serve  `stripehook serve`, whose own runner runs the queue
#
# Every process runs as one unprivileged user (nobody when the test runs
# as root), as a service would.  No sleep stands in for a wait: every wait
# is for a condition, with a generous bound.  Output is TAP.

# Functions called through wait_for look unreachable to shellcheck.
# shellcheck disable=SC2317
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lib_setup

# ---- set-up ----------------------------------------------------------------

R=$W/receipt
STACKS=(cgi fcgi serve)
AS=()
MOUNTS=()
T0=$(date +%s)
mkdir -p "$R" || bail "mkdir $R"
chmod 0755 "$W" "$R" "$W/conf" "$H" || bail "chmod $W"
if [ "$(id -u)" -eq 0 ]; then
	RU=nobody
	RG=$(id -gn "$RU")
	AS=(setpriv --reuid="$RU" --regid="$RG" --init-groups)
	# The build tree may sit in a home others cannot enter: the user
	# runs copies (and under valgrind writes its reports here, copied
	# to the build tree's logs when the test ends).
	mkdir -p "$R/bin" "$R/vg" || bail "mkdir $R/bin"
	chmod 0755 "$R/bin"
	chmod 1777 "$R/vg"
	cp "$STRIPEHOOK" "$R/bin/stripehook" || bail "cannot copy the binary"
	chmod 0755 "$R/bin/stripehook"
	RUN=("$R/bin/stripehook")
	if [ -n "${STRIPEHOOK_VALGRIND:-}" ]; then
		cp "$tests_dir/stripehook-vg" "$tests_dir/valgrind.supp" \
		    "$R/bin/" || bail "cannot copy the valgrind wrapper"
		chmod 0755 "$R/bin/stripehook-vg"
		chmod 0644 "$R/bin/valgrind.supp"
		RUN=("$R/bin/stripehook-vg" "$STRIPEHOOK_VALGRIND" "$R/vg"
		    "$R/bin/stripehook")
	fi
else
	RU=$(id -un)
	RG=$(id -gn)
fi
owned() {
	mkdir -p "$@" && chown "$RU:$RG" "$@"
}
owned "$R/flags" || bail "mkdir"
printf '%s\n' "$SECRET" >"$R/secret"
chmod 0600 "$R/secret"
chown "$RU:$RG" "$R/secret"

# The hook.  Usage: rh NAME.  It logs "ID NAME start PID" to $HOOK_LOG,
# then acts on $FLAG_DIR/ID.NAME when present:
#   fail N    fail (exit 1) N more times
#   always    fail (exit 1)
#   sleep N   sleep N seconds, then succeed
#   hold      wait until ID.NAME.release exists (at most 300 s), then
#             succeed: a run that lasts as long as the test needs
#   hang      (once) write its pid to ID.NAME.pid and sleep 60 s
# It logs "ID NAME ok" or "ID NAME fail" at the end.  As "rh onfail" it
# keeps its environment and stdin in $FLAG_DIR/ID.onfail.*.
RH=$R/rh
cat >"$RH" <<'EOF'
#!/bin/sh
set -u
id=$STRIPE_EVENT_ID
name=$1
if [ "$name" = onfail ]; then
	env > "$FLAG_DIR/$id.onfail.env"
	cat > "$FLAG_DIR/$id.onfail.stdin"
	echo "$id onfail ran" >> "$HOOK_LOG"
	exit 0
fi
echo "$id $name start $$" >> "$HOOK_LOG"
flag=$FLAG_DIR/$id.$name
if [ -f "$flag" ]; then
	read -r mode n < "$flag"
	case $mode in
	fail)
		if [ "$n" -le 1 ]; then rm -f "$flag"; else
			echo "fail $((n - 1))" > "$flag.tmp"
			mv "$flag.tmp" "$flag"
		fi
		echo "$id $name fail" >> "$HOOK_LOG"
		exit 1 ;;
	always)
		echo "$id $name fail" >> "$HOOK_LOG"
		exit 1 ;;
	sleep)
		sleep "$n" ;;
	hold)
		i=0
		while [ ! -e "$flag.release" ] && [ "$i" -lt 3000 ]; do
			sleep 0.1
			i=$((i + 1))
		done ;;
	hang)
		rm -f "$flag"
		echo $$ > "$flag.pid.tmp"
		mv "$flag.pid.tmp" "$flag.pid"
		exec sleep 60 ;;
	esac
fi
cat > /dev/null
echo "$id $name ok" >> "$HOOK_LOG"
exit 0
EOF
chmod 0755 "$RH"

RETRY_MIN=2
# rconf S STATE_DIR: the stack's configuration (readable by the user).
rconf() {
	local f=$W/conf/receipt-$1.conf
	cat >"$f" <<EOF
secret_file $R/secret
state_dir $2
ack receipt
retry_min $RETRY_MIN
retry_max 4
retry_for 60
runners 2
hook_timeout 30
env FLAG_DIR=$R/flags
env HOOK_LOG=$R/$1/hooks.log
on_failure $RH onfail
on test.* $RH h1
on test.* $RH h2
EOF
	chmod 0644 "$f"
	printf '%s' "$f"
}

for s in "${STACKS[@]}"; do
	owned "$R/$s" "$R/$s/state" "$R/$s/req" || bail "mkdir $R/$s"
	chmod 0700 "$R/$s/state"
	: >"$R/$s/hooks.log"
	: >"$R/$s/run.log"
	: >"$R/$s/n200"
	chown "$RU:$RG" "$R/$s/hooks.log" "$R/$s/run.log"
	declare "CONF_$s=$(rconf "$s" "$R/$s/state")"
done
conf_of() {
	local v=CONF_$1
	printf '%s' "${!v}"
}
ID_H1="on test.* $RH h1"

# ---- processes ---------------------------------------------------------------

# bg LOG CMD...: CMD as the user in the background, stderr to LOG; the
# pid in BGP.
bg() {
	local log=$1
	shift
	"${AS[@]}" env -i PATH=/usr/bin:/bin "$@" </dev/null >>"$log" 2>&1 &
	BGP=$!
	BG_PIDS+=("$BGP")
}

# runner_start S: `stripehook run` for the stack.
runner_start() {
	bg "$R/$1/run.log" "${RUN[@]}" -c "$(conf_of "$1")" run
	declare -g "RUNNER_$1=$BGP"
	wait_for $((10 * SLOW)) grep -q "runner: running the queue" \
	    "$R/$1/run.log" || bail "runner of $1 did not start"
}

# stop PID: SIGTERM, wait (bounded); the exit status in STOP_RC.
stop() {
	kill -TERM "$1" 2>/dev/null
	if ! wait_for $((60 * SLOW)) pid_gone "$1"; then
		kill -KILL "$1" 2>/dev/null
	fi
	wait "$1" 2>/dev/null
	STOP_RC=$?
	forget_pid "$1"
}

FCGI_SOCK_R=$R/fcgi/app.sock
SERVE_SOCK=$R/serve/serve.sock
fcgi_app_start() {
	bg "$R/fcgi/run.log" spawn-fcgi -n -s "$FCGI_SOCK_R" -- \
	    "${RUN[@]}" -c "$(conf_of fcgi)"
	FCGI_APP=$BGP
	wait_for $((10 * SLOW)) test -S "$FCGI_SOCK_R" ||
		bail "spawn-fcgi did not start: $(cat "$R/fcgi/run.log")"
}
serve_start_r() {
	rm -f "$SERVE_SOCK"
	bg "$R/serve/run.log" "${RUN[@]}" -c "$(conf_of serve)" serve \
	    --listen "unix:$SERVE_SOCK" --workers 2
	SERVE_PID_R=$BGP
	wait_for $((10 * SLOW)) test -S "$SERVE_SOCK" ||
		bail "serve did not start: $(cat "$R/serve/run.log")"
	wait_for $((10 * SLOW)) grep -q "runner: running the queue" \
	    "$R/serve/run.log" || bail "serve started no runner"
}

# ---- requests ----------------------------------------------------------------

# rpost S FILE OUT [CGI]: one signed request to the stack's front end (or
# as CGI with its configuration when the fourth argument is given); OUT
# gets the answer, OUT.err the log.
rpost() {
	local s=$1 file=$2 out=$3 len hdr
	len=$(stat -c %s "$file")
	hdr=$(header_for "$file")
	if [ "$s" = cgi ] || [ -n "${4:-}" ]; then
		timeout -k 5 $((60 * SLOW)) "${AS[@]}" env -i \
		    REQUEST_METHOD=POST GATEWAY_INTERFACE=CGI/1.1 \
		    CONTENT_LENGTH="$len" HTTP_STRIPE_SIGNATURE="$hdr" \
		    STRIPEHOOK_CONFIG="$(conf_of "$s")" "${RUN[@]}" \
		    <"$file" >"$out" 2>"$out.err"
	else
		local sock=$FCGI_SOCK_R
		[ "$s" = serve ] && sock=$SERVE_SOCK
		timeout -k 5 $((60 * SLOW)) env -i REQUEST_METHOD=POST \
		    CONTENT_LENGTH="$len" HTTP_STRIPE_SIGNATURE="$hdr" \
		    cgi-fcgi -bind -connect "$sock" <"$file" >"$out" 2>"$out.err"
	fi
	if [ "$(answer_code "$out")" = 200 ]; then
		echo x >>"$R/$s/n200"
	fi
}

# answer_code FILE, answer_body FILE
answer_code() {
	tr -d '\r' <"$1" | sed -n 's/^Status: \([0-9]*\) .*/\1/p' | head -1
}
answer_body() {
	local raw
	raw=$(cat "$1"; printf x)
	raw=${raw%x}
	printf '%s' "${raw#*$'\r\n\r\n'}"
}

B_QUEUED='{"received":true,"queued":true}'
N=0
# post1 S ID DESC WANT_BODY: one request for event ID; checks 200 and body.
post1() {
	local f=$R/$1/ev-$2.json out
	N=$((N + 1))
	out=$R/$1/req/$N.out
	[ -f "$f" ] || make_event "$f" "$2" test.receipt
	rpost "$1" "$f" "$out" "${5:-}"
	is "$(answer_code "$out") $(answer_body "$out")" "200 $4" "$1: $3"
}

# count S PATTERN: lines of the stack's hook log matching the ERE.
count() {
	grep -c -E -- "$2" "$R/$1/hooks.log"
}
oks() {
	count "$1" "^$2 $3 ok\$"
}
starts() {
	count "$1" "^$2 $3 start "
}
has_ok() {
	[ "$(oks "$1" "$2" "$3")" -ge 1 ]
}
has_start() {
	[ "$(starts "$1" "$2" "$3")" -ge "${4:-1}" ]
}
rtool() {
	"${AS[@]}" env -i PATH=/usr/bin:/bin "${RUN[@]}" -c "$(conf_of "$1")" \
	    "${@:2}"
}
flag() {
	printf '%s\n' "$3" >"$R/flags/$2.$1"
	chown "$RU:$RG" "$R/flags/$2.$1"
}
# list_line S ID [OPTION]: the event's line of `list`.
list_line() {
	rtool "$1" list ${3:+"$3"} | grep "^$2	"
}

# ---- the scenarios -----------------------------------------------------------

# A hook that runs until the test releases it: the answer comes while it
# still runs; redeliveries during and after answer 200 and run nothing;
# the success is recorded.
t_slow() {
	local s=$1 id=evt_${1}_slow
	flag h1 "$id" "hold"
	post1 "$s" "$id" "slow hook: queued, 200" "$B_QUEUED"
	ok "$(oks "$s" "$id" h1)" "$s: slow hook: answered before the hook ended"
	wait_for $((20 * SLOW)) has_start "$s" "$id" h1
	ok $? "$s: slow hook: started by the runner"
	like "$(list_line "$s" "$id" --pending)" \
	    "^$id	test.receipt	running	0	" \
	    "$s: slow hook: list shows it running"
	post1 "$s" "$id" "redelivery while the hook runs: 200 queued" \
	    "$B_QUEUED"
	is "$(oks "$s" "$id" h1)" 0 \
	    "$s: slow hook: still running after the redelivery"
	: >"$R/flags/$id.h1.release"
	wait_for $((40 * SLOW)) has_ok "$s" "$id" h2
	ok $? "$s: slow hook: both hooks succeeded"
	# The runner records the last success, then the event leaves the
	# queue: a redelivery before that is still answered queued.
	wait_for $((10 * SLOW)) not_queued "$s" "$id"
	post1 "$s" "$id" "redelivery after the run: 200 duplicate" \
	    "$B_DUPLICATE"
	is "$(starts "$s" "$id" h1)/$(starts "$s" "$id" h2)" 1/1 \
	    "$s: slow hook: each hook ran once"
	like "$(rtool "$s" status "$id")" "$ID_H1	succeeded	" \
	    "$s: slow hook: success recorded"
	is "$(list_line "$s" "$id")" "" "$s: slow hook: no longer listed"
}

# 20 copies at once: all 200, one run per hook.
t_copies() {
	local s=$1 id=evt_${1}_copies i f bad=0 codes
	f=$R/$s/ev-$id.json
	make_event "$f" "$id" test.receipt
	flag h1 "$id" "sleep 1"
	local pids=()
	for i in $(seq 1 20); do
		rpost "$s" "$f" "$R/$s/req/copy$i.out" &
		pids+=($!)
	done
	wait "${pids[@]}"
	codes=$(for i in $(seq 1 20); do
		answer_code "$R/$s/req/copy$i.out"
	done | sort | uniq -c | tr -s ' ')
	is "$codes" " 20 200" "$s: 20 copies at once: all 200"
	for i in $(seq 1 20); do
		case $(answer_body "$R/$s/req/copy$i.out") in
		"$B_QUEUED" | "$B_DUPLICATE") ;;
		*) bad=$((bad + 1)) ;;
		esac
	done
	is "$bad" 0 "$s: 20 copies: each answer queued (or duplicate)"
	wait_for $((30 * SLOW)) has_ok "$s" "$id" h2
	ok $? "$s: 20 copies: the hooks ran"
	is "$(starts "$s" "$id" h1)/$(starts "$s" "$id" h2)" 1/1 \
	    "$s: 20 copies: one run per hook"
}

# attempt_line S ID N: the runner's log line of attempt N.
attempt_line() {
	grep -E "run event=$2 .* attempt=$3 " "$R/$1/run.log" | tail -1
}
has_attempt() {
	[ -n "$(attempt_line "$@")" ]
}
# secs ISO: seconds since the epoch.
secs() {
	date -u -d "$(printf '%s' "$1" | sed 's/T/ /; s/Z$//')" +%s
}

# A hook failing twice, then succeeding: attempts and next times as the
# back-off says (retry_min, then twice that), list shows pending.
t_retry() {
	local s=$1 id=evt_${1}_retry l t n
	flag h1 "$id" "fail 2"
	post1 "$s" "$id" "failing hook: queued" "$B_QUEUED"
	wait_for $((20 * SLOW)) has_attempt "$s" "$id" 1
	l=$(attempt_line "$s" "$id" 1)
	like "$l" "result=exit=1 .*outcome=retry next=" \
	    "$s: attempt 1 failed, logged with attempt=1 and next="
	t=$(secs "$(printf '%s' "$l" | sed 's/.*time=\([^ ]*\).*/\1/')")
	n=$(secs "$(printf '%s' "$l" | sed 's/.*next=\([^ ]*\).*/\1/')")
	is "$((n - t))" "$RETRY_MIN" "$s: next attempt after retry_min"
	wait_for $((20 * SLOW)) has_attempt "$s" "$id" 2
	l=$(attempt_line "$s" "$id" 2)
	like "$(list_line "$s" "$id" --pending)" \
	    "^$id	test.receipt	(pending|running)	2	[0-9T:Z-]+	[0-9T:Z-]+	exit=1\$" \
	    "$s: list shows it pending after two attempts"
	t=$(secs "$(printf '%s' "$l" | sed 's/.*time=\([^ ]*\).*/\1/')")
	n=$(secs "$(printf '%s' "$l" | sed 's/.*next=\([^ ]*\).*/\1/')")
	is "$((n - t))" "$((2 * RETRY_MIN))" "$s: then after twice retry_min"
	wait_for $((30 * SLOW)) has_ok "$s" "$id" h2
	ok $? "$s: the third attempt succeeded"
	# The attempt's line follows its last hook.
	wait_for $((10 * SLOW)) has_attempt "$s" "$id" 3
	like "$(attempt_line "$s" "$id" 3)" "outcome=handled next=-" \
	    "$s: attempt=3 logged as handled"
	is "$(oks "$s" "$id" h1)/$(starts "$s" "$id" h1)/$(starts "$s" "$id" h2)" \
	    1/3/1 "$s: h1 ran three times, to success once; h2 once"
}

# The runner SIGKILLed mid-hook: the hook dies, nothing is recorded, the
# event runs again (once to success).
t_kill() {
	local s=$1 id=evt_${1}_kill hp ep rp
	flag h1 "$id" hang
	post1 "$s" "$id" "hook to be killed: queued" "$B_QUEUED"
	wait_for $((20 * SLOW)) test -f "$R/flags/$id.h1.pid"
	hp=$(cat "$R/flags/$id.h1.pid")
	if [ "$s" = serve ]; then
		# serve's child that the hook descends from.
		rp=$hp
		while ep=$(ps -o ppid= -p "$rp" | tr -d ' ') &&
		    [ -n "$ep" ] && [ "$ep" -gt 1 ] &&
		    [ "$ep" != "$SERVE_PID_R" ]; do
			rp=$ep
		done
		[ "$ep" = "$SERVE_PID_R" ] || rp=
	else
		rp=RUNNER_$s
		rp=${!rp}
	fi
	if [ -z "$rp" ] || [ "$rp" -le 1 ]; then
		ok 1 "$s: found the runner of the hook"
		return
	fi
	kill -KILL "$rp"
	wait_for $((10 * SLOW)) pid_gone "$hp"
	ok $? "$s: runner SIGKILLed: its hook died with it"
	# serve starts a new runner at once, which may already be at work.
	[ "$s" = serve ] ||
		is "$(oks "$s" "$id" h1)" 0 "$s: runner SIGKILLed: no success"
	if [ "$s" != serve ]; then
		wait "$rp" 2>/dev/null
		forget_pid "$rp"
		runner_start "$s"
	fi
	wait_for $((30 * SLOW)) has_ok "$s" "$id" h2
	ok $? "$s: after a restart the event ran again"
	is "$(starts "$s" "$id" h1)/$(oks "$s" "$id" h1)/$(oks "$s" "$id" h2)" \
	    2/1/1 "$s: h1 started twice, succeeded once; h2 once"
	is "$(grep "^$id h1 " "$R/$s/hooks.log" | cut -d' ' -f3 | tr '\n' ' ')" \
	    "start start ok " "$s: the killed run never succeeded"
}

# SIGTERM to the runner mid-hook: the hook finishes (its success is
# recorded), no further hook starts, the runner exits 0; after a restart
# the rest of the chain runs.
t_term() {
	local s=$1 id=evt_${1}_term pid=RUNNER_$1
	flag h1 "$id" "sleep 3"
	post1 "$s" "$id" "hook to outlive a SIGTERM: queued" "$B_QUEUED"
	wait_for $((20 * SLOW)) has_start "$s" "$id" h1
	stop "${!pid}"
	is "$STOP_RC" 0 "$s: SIGTERM mid-hook: runner exit 0"
	is "$(oks "$s" "$id" h1)/$(starts "$s" "$id" h2)" 1/0 \
	    "$s: SIGTERM mid-hook: the hook finished, the next did not start"
	like "$(rtool "$s" status "$id")" "$ID_H1	succeeded	" \
	    "$s: SIGTERM mid-hook: its success is recorded"
	runner_start "$s"
	wait_for $((30 * SLOW)) has_ok "$s" "$id" h2
	is "$(starts "$s" "$id" h1)/$(oks "$s" "$id" h2)" 1/1 \
	    "$s: after the restart the chain went on, h1 not again"
}

# Everything stopped with events queued, then started: all of them run.
t_reboot() {
	local s=$1 i pid cgi=
	if [ "$s" = serve ]; then
		stop "$SERVE_PID_R"
		cgi=1
	else
		pid=RUNNER_$s
		stop "${!pid}"
	fi
	is "$STOP_RC" 0 "$s: stopped with SIGTERM, exit 0"
	for i in 1 2 3; do
		post1 "$s" "evt_${s}_boot$i" "queued while stopped ($i)" \
		    "$B_QUEUED" $cgi
	done
	is "$(rtool "$s" list --pending | grep -c "^evt_${s}_boot")" 3 \
	    "$s: list --pending shows the three"
	is "$(count "$s" "^evt_${s}_boot")" 0 "$s: nothing ran while stopped"
	if [ "$s" = serve ]; then
		serve_start_r
	else
		runner_start "$s"
	fi
	for i in 1 2 3; do
		wait_for $((30 * SLOW)) has_ok "$s" "evt_${s}_boot$i" h2
	done
	is "$(count "$s" "^evt_${s}_boot[123] h[12] ok\$")" 6 \
	    "$s: after the start every queued event ran"
}

# Past retry_for: dead, on_failure once with the right environment and
# payload, listed as dead, replay --dead runs it.
t_dead_start() {
	flag h1 "evt_${1}_dead" always
	post1 "$1" "evt_${1}_dead" "always failing hook: queued" "$B_QUEUED"
}
not_queued() {
	[ -z "$(list_line "$1" "$2")" ]
}
has_onfail() {
	[ "$(count "$1" "^$2 onfail ran\$")" -ge 1 ]
}
is_dead() {
	list_line "$1" "$2" --dead | grep -q "	dead	"
}
t_dead_end() {
	local s=$1 id=evt_${1}_dead l att env
	wait_for $((120 * SLOW)) is_dead "$s" "$id"
	ok $? "$s: failing past retry_for: dead"
	l=$(list_line "$s" "$id" --dead)
	att=$(printf '%s' "$l" | cut -f4)
	like "$l" "^$id	test.receipt	dead	[0-9]+	[0-9T:Z-]+	-	exit=1\$" \
	    "$s: list --dead shows it"
	wait_for $((10 * SLOW)) has_attempt "$s" "$id" "$att"
	like "$(attempt_line "$s" "$id" "$att")" \
	    "outcome=dead next=-" "$s: the last attempt logged outcome=dead"
	wait_for $((10 * SLOW)) has_onfail "$s" "$id"
	is "$(count "$s" "^$id onfail ran\$")" 1 "$s: on_failure ran once"
	env=$(grep -E '^STRIPE_(FAILED_HOOK|ATTEMPTS|LAST_RESULT|EVENT_ID)=' \
	    "$R/flags/$id.onfail.env" | sort | tr '\n' '|')
	is "$env" "STRIPE_ATTEMPTS=$att|STRIPE_EVENT_ID=$id|STRIPE_FAILED_HOOK=$ID_H1|STRIPE_LAST_RESULT=exit=1|" \
	    "$s: on_failure's environment"
	cmp -s "$R/flags/$id.onfail.stdin" "$R/$s/ev-$id.json"
	ok $? "$s: on_failure got the payload"
	ok "$(grep -c "^$id h2 " "$R/$s/hooks.log")" \
	    "$s: the chain stopped at the failed hook"
	metrics_check "$s" 1
	rm -f "$R/flags/$id.h1"
	rtool "$s" replay --dead >"$R/$s/replay.out" 2>&1
	is "$?" 0 "$s: replay --dead: exit 0"
	is "$(oks "$s" "$id" h1)/$(oks "$s" "$id" h2)" 1/1 \
	    "$s: replay --dead ran the hooks"
	is "$(rtool "$s" list --dead)" "" "$s: nothing dead any more"
	is "$(count "$s" "^$id onfail ran\$")" 1 "$s: on_failure still once"
}

# metrics_check S DEAD: parsed by Prometheus's own parser, values against
# what the test did.
metrics_check() {
	local s=$1 out
	rtool "$s" metrics >"$R/$s/metrics.txt" 2>"$R/$s/metrics.err"
	is "$?" 0 "$s: metrics: exit 0"
	out=$(/usr/bin/python3 - "$R/$s/metrics.txt" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
v = {}
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for smp in fam.samples:
        key = smp.name + "".join("{%s=%s}" % kv for kv in sorted(smp.labels.items()))
        v[key] = int(smp.value)
print(v["stripehook_events_pending"], v["stripehook_events_dead"],
      v["stripehook_requests_total{status=200}"],
      v["stripehook_requests_total{status=500}"],
      v["stripehook_hook_runs_total{result=ok}"],
      v["stripehook_hook_runs_total{result=failed}"],
      v["stripehook_last_event_timestamp_seconds"])
EOF
)
	ok $? "$s: metrics parsed by prometheus_client"
	read -r pend dead n200 n500 hok hfail last <<<"$out"
	is "$pend/$dead" "0/$2" "$s: metrics: pending and dead"
	is "$n200/$n500" "$(wc -l <"$R/$s/n200")/0" \
	    "$s: metrics: requests_total{status=200} as answered"
	is "$hok/$hfail" "$(count "$s" ' h[12] ok$')/$(count "$s" ' h[12] fail$')" \
	    "$s: metrics: hook_runs_total ok and failed as the hooks logged"
	ok "$([ "$last" -ge "$T0" ] && [ "$last" -le "$(date +%s)" ]; echo $?)" \
	    "$s: metrics: last event time within the test ($last)"
}

# The queue cannot be written (read-only) or is full: 500, nothing kept,
# nothing run; once it can be written again the redelivery is queued and
# runs once.  Through CGI and the FastCGI app, on small tmpfs mounts.
t_faults() {
	local d=$R/mnt-ro f=$R/mnt-full fr
	mkdir -p "$d" "$f"
	if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs \
	    -o mode=0700,size=64k,ro stripehook-rtest "$d" 2>/dev/null; then
		skip "queue unwritable: cannot mount a tmpfs"
		skip "queue full: cannot mount a tmpfs"
		return
	fi
	MOUNTS+=("$d")
	declare -g "CONF_ro=$(rconf ro "$d")"
	owned "$R/ro" "$R/ro/req"
	: >"$R/ro/hooks.log"
	: >"$R/ro/n200"
	chown "$RU:$RG" "$R/ro/hooks.log"
	make_event "$R/ro/ev.json" evt_fault_ro test.receipt
	rpost ro "$R/ro/ev.json" "$R/ro/a.out" cgi
	is "$(answer_code "$R/ro/a.out") $(answer_body "$R/ro/a.out")" \
	    '500 {"error":"internal error"}' "cgi: queue read-only: 500"
	mount -t tmpfs -o mode=0700,size=64k stripehook-rtest "$f" ||
	    bail "mount $f"
	MOUNTS+=("$f")
	chown "$RU:$RG" "$f"
	declare -g "CONF_full=$(rconf full "$f")"
	owned "$R/full" "$R/full/req"
	: >"$R/full/hooks.log"
	: >"$R/full/n200"
	chown "$RU:$RG" "$R/full/hooks.log"
	dd if=/dev/zero of="$f/filler" bs=4096 2>/dev/null
	make_event "$R/full/ev.json" evt_fault_full test.receipt
	rpost full "$R/full/ev.json" "$R/full/a.out" cgi
	is "$(answer_code "$R/full/a.out") $(answer_body "$R/full/a.out")" \
	    '500 {"error":"internal error"}' "cgi: queue full: 500"
	bg "$R/full/fcgi.log" spawn-fcgi -n -s "$R/full/app.sock" -- \
	    "${RUN[@]}" -c "$(conf_of full)"
	fr=$BGP
	wait_for $((10 * SLOW)) test -S "$R/full/app.sock"
	FCGI_SOCK_SAVE=$FCGI_SOCK_R
	FCGI_SOCK_R=$R/full/app.sock
	rpost full "$R/full/ev.json" "$R/full/b.out"
	is "$(answer_code "$R/full/b.out") $(answer_body "$R/full/b.out")" \
	    '500 {"error":"internal error"}' "fcgi: queue full: 500"
	FCGI_SOCK_R=$FCGI_SOCK_SAVE
	is "$(rtool full list)" "" "queue full: nothing queued"
	rm -f "$f/filler"
	: >"$R/full/run.log"
	chown "$RU:$RG" "$R/full/run.log"
	runner_start full
	is "$(count full .)" 0 "queue full: nothing ran"
	post1 full evt_fault_full "room again: the redelivery is queued" \
	    "$B_QUEUED" cgi
	wait_for $((30 * SLOW)) has_ok full evt_fault_full h2
	is "$(starts full evt_fault_full h1)/$(oks full evt_fault_full h2)" \
	    1/1 "room again: the event ran once"
	local rp=RUNNER_full
	stop "${!rp}"
	stop "$fr"
}

# shellcheck disable=SC2317	# (called by the trap)
receipt_cleanup() {
	local m p
	for p in "${BG_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for m in "${MOUNTS[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	if [ -n "${STRIPEHOOK_VALGRIND:-}" ] && [ -d "$R/vg" ] &&
	    mkdir -p "$top_builddir/tests/logs/valgrind"; then
		cp "$R"/vg/*.log "$top_builddir/tests/logs/valgrind/" \
		    2>/dev/null
	fi
	cleanup
}
trap receipt_cleanup EXIT

# ---- run ---------------------------------------------------------------------

printf 'secret_file %s\nstate_dir %s\non test.* %s h1\n' "$R/secret" \
    "$R/cgi/state" "$RH" >"$W/conf/hooks.conf"
chmod 0644 "$W/conf/hooks.conf"
"${AS[@]}" env -i PATH=/usr/bin:/bin "${RUN[@]}" -c "$W/conf/hooks.conf" \
    run >"$R/norun.out" 2>&1 </dev/null
is "$?" 1 "run without ack receipt: exit 1"
like "$(cat "$R/norun.out")" "ack receipt is not set" \
    "run without ack receipt: says why"

runner_start cgi
fcgi_app_start
runner_start fcgi
serve_start_r

for s in "${STACKS[@]}"; do
	t_dead_start "$s"
done
for s in "${STACKS[@]}"; do
	t_slow "$s"
	t_copies "$s"
	t_retry "$s"
	t_kill "$s"
	[ "$s" = serve ] || t_term "$s"
	t_reboot "$s"
done
t_faults
for s in "${STACKS[@]}"; do
	t_dead_end "$s"
	metrics_check "$s" 0
done

stop "$SERVE_PID_R"
is "$STOP_RC" 0 "serve: SIGTERM, exit 0 (runner included)"

# The small run of the load script's receipt mode, behind nginx.
LOADTEST=$top_srcdir/scripts/loadtest
for front in serve fcgiwrap; do
	if ! command -v nginx >/dev/null || ! command -v curl >/dev/null ||
	    ! [ -x /usr/sbin/fcgiwrap ]; then
		skip "loadtest --small --receipt $front: nginx, curl or fcgiwrap missing"
		continue
	fi
	STRIPEHOOK=$STRIPEHOOK timeout -k 10 $((300 * SLOW)) "$LOADTEST" \
	    --small --receipt "$front" >"$R/loadtest-$front.out" 2>&1
	ok $? "loadtest --small --receipt $front: every delivery 2xx, no event lost, no hook run twice"
	diag "$(tail -n 9 "$R/loadtest-$front.out")"
done
for s in cgi fcgi; do
	pid=RUNNER_$s
	stop "${!pid}"
done
stop "$FCGI_APP"
tap_done
