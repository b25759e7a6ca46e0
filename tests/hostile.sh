#!/usr/bin/env bash
# The hostile input table: inputs an attacker on the open internet can
# send, each through the real binary as a CGI program and as a FastCGI
# app.  Every case must be refused (or, for the log-only headers,
# accepted) cleanly: the exact status and JSON body of stripehook(8)
# REQUESTS, exit status 0 for a CGI process, no hook run, an answer within
# a bounded time, and the FastCGI app still alive at the end.  A client
# that stalls mid-body under FastCGI must be answered 400 "incomplete
# body" about 30 s after its last byte (stripehook(8) REQUESTS); it runs
# in the background meanwhile and times the answer itself.  So do the
# connection cases (stripehook(8) REQUESTS, FastCGI connections): a
# connection that never completes its request's header, one that drips
# its body, FCGI_GET_VALUES, a second multiplexed request, and a SIGHUP
# while an accepted connection's request has not arrived yet.  TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
tests_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$tests_dir/lib.sh"
lib_setup

# Milliseconds one refused request may take (valgrind gets more).
BOUND_MS=$((10000 * SLOW))
PWNED=$W/pwned

# refused DESC ERROR: the last answer is ERROR's, nothing ran, fast.
refused() {
	expect_error "$1" "$2"
	if [ "$A_MS" -gt "$BOUND_MS" ]; then
		ok 1 "$TRANSPORT: $1: answered in time"
		diag "took $A_MS ms, bound $BOUND_MS ms"
	fi
}

# body_case DESC ERROR PRINTF-FORMAT: the body (printf %b) signed right.
body_case() {
	local f=$W/ev/hostile.$T_N
	printf '%b' "$3" >"$f"
	post "$f" "$(header_for "$f")"
	refused "$1" "$2"
}

# json_case DESC ERROR TEXT: TEXT as is (JSON escapes stay escapes).
json_case() {
	local f=$W/ev/hostile.$T_N
	printf '%s' "$3" >"$f"
	post "$f" "$(header_for "$f")"
	refused "$1" "$2"
}

# file_case DESC ERROR FILE: FILE signed right.
file_case() {
	post "$3" "$(header_for "$3")"
	refused "$1" "$2"
}

ev_with() {
	printf '{"id":"%s","object":"event","type":"%s"%s}' "$1" "$2" "${3:-}"
}

setup() {
	base_conf | write_conf hostile
	make_event "$W/ev/invoice.json" evt_hostile_1 invoice.paid
	# Nested 100,000 deep: arrays, and objects inside an event.
	{
		head -c 100000 /dev/zero | tr '\0' '['
		head -c 100000 /dev/zero | tr '\0' ']'
	} >"$W/ev/deep-arrays.json"
	{
		printf '{"id":"evt_deep","object":"event","type":"invoice.paid","x":'
		for _ in $(seq 1000); do printf '%s' "$(printf '{"a":%.0s' {1..100})"; done
		printf '1'
		head -c 100000 /dev/zero | tr '\0' '}'
		printf '}'
	} >"$W/ev/deep-objects.json"
	ev_with evt_hostile_num invoice.paid \
	    ",\"created\":1$(head -c 400 /dev/zero | tr '\0' 0)" \
	    >"$W/ev/bigint.json"
	ev_with "$(head -c 10240 /dev/zero | tr '\0' a)" invoice.paid \
	    >"$W/ev/id10k.json"
	ev_with evt_hostile_1 "$(head -c 10240 /dev/zero | tr '\0' a)" \
	    >"$W/ev/type10k.json"
}

cases_headers() {
	local f=$W/ev/invoice.json t v1 h i
	t=$(date +%s)
	v1=$(sign_openssl "$SECRET" "$t" "$f")

	h="t=$t,v1=$v1,v0=$(head -c 10240 /dev/zero | tr '\0' a)"
	post "$f" "$h"
	refused "Stripe-Signature of 10 KB" "malformed signature"
	h="t=$t"
	for ((i = 2; i < 5000; i++)); do h="$h,v1=x"; done
	post "$f" "$h,v1=$v1"
	refused "5000 signature items (the right v1 last)" \
	    "malformed signature"
	h="t=$t"
	for ((i = 1; i < 1000; i++)); do h="$h,v1=$v1"; done
	post "$f" "$h"
	refused "1000 right v1 items (64 KB)" "malformed signature"
	h="t=$t"
	for ((i = 1; i < 1000; i++)); do h="$h,a="; done
	post "$f" "$h,v1=$v1"
	refused "1001 signature items within 8 KiB" "malformed signature"

	# Headers that are only logged: accepted, and escaped in the log.
	h=$(head -c 10240 /dev/zero | tr '\0' r)
	post "$f" "t=$t,v1=$v1" "HTTP_X_REQUEST_ID=$h" \
	    "CONTENT_TYPE=$h" "REMOTE_ADDR=$h"
	expect "10 KB request id, content type and address: accepted" \
	    "$S200" "$B_OK" invoice
	post "$f" "t=$t,v1=$v1" "HTTP_X_REQUEST_ID=a"$'\n'"forged=1 status=200"
	expect "request id with a newline: accepted" "$S200" "$B_OK" invoice
	[ "$(printf '%s\n' "$A_LOG" | grep -c '^forged=1')" -eq 0 ]
	ok $? "$TRANSPORT: a newline in a header cannot start a log line"
}

cases_length() {
	local f=$W/ev/invoice.json v
	for v in 9223372036854775807 9223372036854775808 \
	    18446744073709551615 18446744073709551616 \
	    "1$(head -c 30 /dev/zero | tr '\0' 0)" \
	    "$(head -c 400 /dev/zero | tr '\0' 9)"; do
		post "$f" "$(header_for "$f")" "CONTENT_LENGTH=$v"
		refused "CONTENT_LENGTH ${v:0:24} (${#v} digits)" "body too large"
	done
	for v in -1 -0 " 12" "12 " "1 2" +12 0x10 1e3 12.0 \
	    $'12\n' "$(printf '\xd9\xa1\xd9\xa2')" "99999999999999999999x"; do
		post "$f" "$(header_for "$f")" "CONTENT_LENGTH=$v"
		refused "CONTENT_LENGTH '$(printf '%q' "$v")'" "bad content length"
	done
}

cases_bodies() {
	local e ok_ev
	ok_ev=$(ev_with evt_hostile_1 invoice.paid)
	body_case "NUL byte after the event" "invalid json" "$ok_ev\\0"
	body_case "NUL byte inside a string" "invalid json" \
	    "$(ev_with evt_hostile_1 invoice.paid ',"x":"a\0b"')"
	json_case "an escaped NUL inside a key" "invalid json" \
	    '{"id":"evt_hostile_1","object":"event","type\u0000x":"invoice.paid"}'
	for e in '\xff' '\xc0\xaf' '\xed\xa0\x80' '\xe2\x82' '\xf4\x90\x80\x80' \
	    '\x80'; do
		body_case "invalid UTF-8 $e in a string" "invalid json" \
		    "$(ev_with evt_hostile_1 invoice.paid ",\"x\":\"$e\"")"
	done
	body_case "invalid UTF-8 in the type" "invalid json" \
	    "$(ev_with evt_hostile_1 'invoice.paid\xff')"
	file_case "arrays nested 100,000 deep" "invalid json" \
	    "$W/ev/deep-arrays.json"
	file_case "objects nested 100,000 deep in an event" "invalid json" \
	    "$W/ev/deep-objects.json"
	body_case "number 1e400" "invalid json" \
	    "$(ev_with evt_hostile_1 invoice.paid ',"created":1e400')"
	body_case "number -1e400" "invalid json" \
	    "$(ev_with evt_hostile_1 invoice.paid ',"amount":-1e400')"
	# A huge integer is valid JSON (RFC 8259) and json-c clamps it: the
	# event is accepted but the clamped value is never passed on.
	post "$W/ev/bigint.json" "$(header_for "$W/ev/bigint.json")"
	expect "integer of 401 digits: accepted" "$S200" "$B_OK" invoice
	! grep -q '^STRIPE_CREATED=' "$MARKS/invoice.env" 2>/dev/null
	ok $? "$TRANSPORT: ... and no clamped STRIPE_CREATED reaches the hook"
}

# stripehook(8) EVENTS: with "type" twice the last wins, and the signature covers the
# whole body, the first "type" included.
cases_duplicate_type() {
	local f=$W/ev/dup.json g=$W/ev/dup-changed.json t v1 got
	printf '%s' '{"id":"evt_hostile_dup","object":"event","type":"charge.refunded","type":"invoice.paid"}' >"$f"
	t=$(date +%s)
	v1=$(sign_openssl "$SECRET" "$t" "$f")
	post "$f" "t=$t,v1=$v1"
	expect "\"type\" twice: the last one wins" "$S200" "$B_OK" invoice
	got=$(grep '^STRIPE_EVENT_TYPE=' "$MARKS/invoice.env" 2>/dev/null)
	is "$got" STRIPE_EVENT_TYPE=invoice.paid \
	    "$TRANSPORT: the hook is told the last \"type\""
	sed 's/charge\.refunded/charge.refundex/' "$f" >"$g"
	cmp -s "$f" "$g" && bail "the change did nothing"
	post "$g" "t=$t,v1=$v1"
	refused "the first \"type\" changed: the signature covers it" \
	    "signature mismatch"
}

cases_ids_types() {
	local id ty
	for id in 'evt/1' '..' '../../etc/passwd' 'evt\n1' 'evt\r\n1' \
	    'evt\u00011' 'evt\u007f' 'evt\t1' '*' 'evt;id'; do
		json_case "event id '$id'" "invalid event id" \
		    "$(ev_with "$id" invoice.paid)"
	done
	file_case "event id of 10 KB" "invalid event id" "$W/ev/id10k.json"
	for ty in '../../../etc/passwd' '/bin/sh' 'invoice/../paid' '*' \
	    'invoice.*' '?' 'invoice.pai?' '[a-z]*' \
	    "\$(touch $PWNED-1)" "\`touch $PWNED-2\`" "a;touch $PWNED-3" \
	    "a|touch $PWNED-4" "a&&touch $PWNED-5" 'invoice.paid\n' \
	    'invoice paid' '~root' "\$HOME"; do
		json_case "event type '$ty'" "invalid event type" \
		    "$(ev_with evt_hostile_1 "$ty")"
	done
	file_case "event type of 10 KB" "invalid event type" \
	    "$W/ev/type10k.json"
	! ls "$PWNED"* >/dev/null 2>&1
	ok $? "$TRANSPORT: no event type reached a shell (no file created)"
}

cases_short_body() {
	local f=$W/ev/invoice.json size
	size=$(stat -c %s "$f")
	post "$f" "$(header_for "$f")" "CONTENT_LENGTH=$((size + 100))"
	refused "the body ends 100 bytes early" "incomplete body"
	head -c $((size / 2)) "$f" >"$W/ev/half.json"
	post "$W/ev/half.json" "$(header_for "$f")" "CONTENT_LENGTH=$size"
	refused "half the body" "incomplete body"
}

# ---- a FastCGI client that stalls mid-body ---------------------------------

STALL_PID=
STALL_APP=
stall_begin() {
	local f=$W/ev/invoice.json
	fcgi_start "$(conf_path hostile)"
	STALL_APP=$FCGI_PID STALL_SOCK=$FCGI_SOCK STALL_LOG=$FCGI_LOG
	# shellcheck disable=SC2034 # lib.sh's state, reset for the next start
	FCGI_PID='' FCGI_CONF='' FCGI_SOCK='' FCGI_LOG=''
	python3 "$tests_dir/fcgi-client.py" "$STALL_SOCK" "$f" \
	    $(($(stat -c %s "$f") / 2)) $((60 * SLOW)) \
	    REQUEST_METHOD=POST "CONTENT_LENGTH=$(stat -c %s "$f")" \
	    "HTTP_STRIPE_SIGNATURE=$(header_for "$f")" \
	    >"$W/stall.out" 2>"$W/stall.err" &
	STALL_PID=$!
	BG_PIDS+=("$STALL_PID")
}

# The client reports when the answer came, counted from its last byte:
# never before the 30 s rule, and soon after it (the app's own timeout
# fires then; the slack is for a loaded machine and for valgrind).
stall_end() {
	local el
	wait "$STALL_PID" || diag "the stalled client got no answer in time"
	el=$(sed -n 's/^answered_after_ms=//p' "$W/stall.err")
	forget_pid "$STALL_PID"
	cat "$W/stall.out" >>"$ANSWERS"
	parse_answer "$W/stall.out"
	A_LOG=$(cat "$STALL_LOG")
	clear_marks
	TRANSPORT=fcgi expect_error \
	    "a client that stalls mid-body is answered" "incomplete body"
	[ -n "$el" ] && [ "$el" -ge 29500 ] &&
	    [ "$el" -lt $((30000 + 10000 * SLOW)) ]
	ok $? "fcgi: ... about 30 s after its last byte (${el:-no} ms)"
	pid_gone "$STALL_APP"
	ok $((1 - $?)) "fcgi: the app that met the stalled client is alive"
	fcgi_stop "$STALL_APP"
}

# ---- connections that hold a worker ----------------------------------------

declare -A CL_PID=()
# client NAME SOCKET BYTES [OPTION...]: fcgi-client.py in the background,
# posting the unhandled event (no hook runs, so the tables' marks are
# untouched) with its first BYTES body bytes; answer and report in
# $W/NAME.out and $W/NAME.err.
client() {
	local name=$1 sock=$2 bytes=$3 f=$W/ev/conn.json
	shift 3
	python3 "$tests_dir/fcgi-client.py" "$@" "$sock" "$f" "$bytes" \
	    $((90 * SLOW)) REQUEST_METHOD=POST \
	    "CONTENT_LENGTH=$(stat -c %s "$f")" \
	    "HTTP_STRIPE_SIGNATURE=$(header_for "$f")" \
	    >"$W/$name.out" 2>"$W/$name.err" &
	CL_PID[$name]=$!
	BG_PIDS+=("$!")
}

# client_wait NAME: its exit status (0 answered, 3 closed unanswered).
client_wait() {
	local rc
	wait "${CL_PID[$1]}"
	rc=$?
	forget_pid "${CL_PID[$1]}"
	return $rc
}

# report NAME KEY: a figure from the client's report.
report() {
	sed -n "s/^$2=//p" "$W/$1.err"
}

# The app's sockets: the listening one, plus each accepted connection.
# (Called through wait_for.)
# shellcheck disable=SC2317
sockets_of() {
	local n=0 l
	for l in /proc/"$1"/fd/*; do
		case $(readlink "$l" 2>/dev/null) in socket:*) n=$((n + 1)) ;; esac
	done
	printf '%s' "$n"
}
# (Called through wait_for.)
# shellcheck disable=SC2317
has_sockets() {
	[ "$(sockets_of "$1")" -ge "$2" ]
}

# An app per case: each is one process, so one held connection holds it.
CONN_APPS=()
conn_app() {
	fcgi_start "$(conf_path hostile)"
	CONN_APPS+=("$FCGI_PID")
	CA_PID=$FCGI_PID CA_SOCK=$FCGI_SOCK CA_LOG=$FCGI_LOG
	# shellcheck disable=SC2034 # lib.sh's state, reset for the next start
	FCGI_PID='' FCGI_CONF='' FCGI_SOCK='' FCGI_LOG=''
}

conn_begin() {
	local size
	make_event "$W/ev/conn.json" evt_hostile_conn conn.unhandled
	size=$(stat -c %s "$W/ev/conn.json")
	# One byte of a header, never completed; then a real request.
	conn_app
	client idle "$CA_SOCK" 0 --cut 1
	wait_for $((10 * SLOW)) has_sockets "$CA_PID" 2 ||
		diag "the app did not accept the idle connection"
	client after-idle "$CA_SOCK" "$size"
	# A body that drips one byte every 10 s, never idle for 30 s.
	conn_app
	client drip "$CA_SOCK" $((size / 2)) --drip 10
	# FCGI_GET_VALUES, then nothing.
	conn_app
	client values "$CA_SOCK" 0 --get-values
	# SIGHUP while an accepted connection's request has not arrived.
	conn_app
	client hup "$CA_SOCK" "$size" --wait-for "$W/hup.go"
	wait_for $((10 * SLOW)) has_sockets "$CA_PID" 2 ||
		diag "the app did not accept the connection"
	kill -HUP "$CA_PID"
	wait_for $((10 * SLOW)) grep -q "configuration reloaded" "$CA_LOG" ||
		diag "the app did not log its reload"
	: >"$W/hup.go"
	# A second request multiplexed on the connection of the first.
	client mpx "$CA_SOCK" "$size" --mpx
}

conn_end() {
	local el p
	client_wait hup
	parse_answer "$W/hup.out"
	is "$A_STATUS" "200 OK" \
	    "fcgi: SIGHUP before an accepted connection's request: answered"
	client_wait mpx
	parse_answer "$W/mpx.out"
	is "$A_STATUS $(report mpx mpx_status)" "200 OK 1" \
	    "fcgi: a second multiplexed request: FCGI_CANT_MPX_CONN, the first answered"
	client_wait idle
	is "$?" 3 "fcgi: a connection that never completes its header is closed"
	client_wait after-idle
	el=$(report after-idle answered_since_connect_ms)
	parse_answer "$W/after-idle.out"
	[ "$A_STATUS" = "200 OK" ] && [ -n "$el" ] &&
	    [ "$el" -lt $((30000 + 10000 * SLOW)) ]
	ok $? "fcgi: ... within 30 s, freeing the app for the next (${el:-no} ms)"
	client_wait values
	p=$?
	el=$(report values answered_since_connect_ms)
	{ [ "$p" -eq 0 ] && [ "$(report values types)" = 10 ]; } ||
	    { [ "$p" -eq 3 ]; }
	ok $? "fcgi: FCGI_GET_VALUES answered, or the connection closed (exit $p)"
	client_wait drip
	el=$(report drip answered_since_connect_ms)
	parse_answer "$W/drip.out"
	[ "$A_STATUS" = "400 Bad Request" ] && [ -n "$el" ] &&
	    [ "$el" -ge 59500 ] && [ "$el" -lt $((60000 + 15000 * SLOW)) ]
	ok $? "fcgi: a dripping body: 400 at the 60 s body deadline (${el:-no} ms)"
	for p in "${CONN_APPS[@]}"; do
		pid_gone "$p"
		ok $((1 - $?)) "fcgi: app $p survived its connection case"
		fcgi_stop "$p"
	done
}

run_table() {
	TRANSPORT=$1
	use_conf hostile
	cases_headers
	cases_length
	cases_bodies
	cases_duplicate_type
	cases_ids_types
	cases_short_body
	if [ "$TRANSPORT" = fcgi ]; then
		pid_gone "$FCGI_PID"
		ok $((1 - $?)) "fcgi: the app survived the whole table"
		fcgi_stop "$FCGI_PID"
	fi
}

command -v python3 >/dev/null || bail "python3 is needed for the stall case"
setup
stall_begin
conn_begin
run_table cgi
run_table fcgi
stall_end
conn_end
tap_done
