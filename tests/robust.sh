#!/usr/bin/env bash
# The handler in unfriendly surroundings, and the operator tools' own
# rules: a parent that left SIGCHLD ignored, a web server that hung up
# before the answer, a front end that keeps stdin open after the body, the
# state tools finding their configuration without -c, sign's timestamp
# range, a payload left behind by a handler that died after its last
# record, and a FastCGI app told to stop while it waits for a connection.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lib_setup

PI_HDR=$(header_for "$PI_EVENT")
PI_LEN=$(stat -c %s "$PI_EVENT")
mkdir -p "$W/st"
chmod 0700 "$W/st"
CONF_STATE=$W/st base_conf | write_conf state
STATE_CONF=$(conf_path state)
base_conf | write_conf plain
PLAIN_CONF=$(conf_path plain)

cgi_env() {
	printf '%s\n' REQUEST_METHOD=POST "CONTENT_LENGTH=$PI_LEN" \
	    "HTTP_STRIPE_SIGNATURE=$PI_HDR" "STRIPEHOOK_CONFIG=$1"
}

# ---- SIGCHLD ignored by whatever started us ---------------------------------
# The kernel would reap the hook itself and its exit status would be lost:
# a hook that succeeded must still count as a success.
mapfile -t vars < <(cgi_env "$PLAIN_CONF")
clear_marks
# shellcheck disable=SC2016 # perl's variables
env -i "${vars[@]}" perl -e '$SIG{CHLD} = "IGNORE"; exec @ARGV or die' \
    "${RUN[@]}" <"$PI_EVENT" >"$W/chld.out" 2>"$W/chld.err"
parse_answer "$W/chld.out"
is "$A_STATUS" "$S200" "SIGCHLD ignored by the parent: the hook's success counts"
is "$A_BODY" "$B_OK" "SIGCHLD ignored by the parent: body"
ok "$([ -e "$MARKS/pi.ran" ]; echo $?)" "SIGCHLD ignored by the parent: the hook ran"

# ---- the web server hung up before the answer -------------------------------
# SIGPIPE must not kill the handler before its log line.
clear_marks
(
	env -i "${vars[@]}" "${RUN[@]}" <"$PI_EVENT" 2>"$W/pipe.err"
	echo $? >"$W/pipe.rc"
) | true
wait_for 10 test -s "$W/pipe.rc"
is "$(cat "$W/pipe.rc")" 0 "stdout closed before the answer: exit 0, no SIGPIPE"
ok "$(grep -q 'status=200' "$W/pipe.err"; echo $?)" \
    "stdout closed before the answer: the request is still logged"
ok "$(grep -q 'status=200 answer=unsent ' "$W/pipe.err"; echo $?)" \
    "stdout closed before the answer: the log line says the answer was unsent"

# ---- a front end that keeps stdin open after the body -----------------------
# An early answer drains CONTENT_LENGTH bytes, not up to end of input, so a
# GET with a 5-byte body is answered at once although stdin stays open.
mkfifo "$W/fifo"
(
	printf 'hello'
	sleep 20
) >"$W/fifo" &
HOLDER=$!
BG_PIDS+=("$HOLDER")
t0=$(now_ms)
env -i REQUEST_METHOD=GET CONTENT_LENGTH=5 STRIPEHOOK_CONFIG="$PLAIN_CONF" \
    "${RUN[@]}" <"$W/fifo" >"$W/get.out" 2>/dev/null
ms=$(($(now_ms) - t0))
parse_answer "$W/get.out"
is "$A_STATUS" "$S405" "GET with a body, stdin left open: 405"
ok "$([ "$ms" -lt $((10000 * SLOW)) ]; echo $?)" \
    "GET with a body, stdin left open: answered after the body, not at end of input (${ms} ms)"
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null
forget_pid "$HOLDER"

# ---- the state tools without -c ---------------------------------------------
# A delivery to have something to ask about.
mapfile -t vars < <(cgi_env "$STATE_CONF")
clear_marks
env -i "${vars[@]}" "${RUN[@]}" <"$PI_EVENT" >"$W/d1.out" 2>/dev/null
parse_answer "$W/d1.out"
is "$A_STATUS" "$S200" "delivery with records: 200"
out=$(env -i PATH=/usr/bin:/bin STRIPEHOOK_CONFIG="$STATE_CONF" \
    "${RUN[@]}" status "$PI_ID" 2>&1)
rc=$?
is "$rc" 0 "status finds the configuration in STRIPEHOOK_CONFIG"
like "$out" "succeeded" "status without -c lists the succeeded hook"
out=$(env -i PATH=/usr/bin:/bin STRIPEHOOK_CONFIG="$STATE_CONF" \
    "${RUN[@]}" prune 2>&1)
is "$?" 0 "prune finds the configuration in STRIPEHOOK_CONFIG"
out=$(env -i PATH=/usr/bin:/bin STRIPEHOOK_CONFIG= \
    "${RUN[@]}" -c "$STATE_CONF" status "$PI_ID" 2>&1)
is "$?" 0 "an empty STRIPEHOOK_CONFIG counts as unset (-c used)"

# ---- a payload left behind after the last record ----------------------------
# A handler that died between its last record and dropping the payload
# leaves it; the next (duplicate) delivery removes it.
cp "$PI_EVENT" "$W/st/$PI_ID/payload"
chmod 0600 "$W/st/$PI_ID/payload"
clear_marks
env -i "${vars[@]}" "${RUN[@]}" <"$PI_EVENT" >"$W/d2.out" 2>/dev/null
parse_answer "$W/d2.out"
is "$A_BODY" "$B_DUPLICATE" "stale payload: the delivery is a duplicate"
ok "$([ ! -e "$W/st/$PI_ID/payload" ]; echo $?)" \
    "stale payload: removed by the duplicate delivery"
ok "$([ ! -e "$MARKS/pi.ran" ]; echo $?)" "stale payload: no hook ran"

# ---- sign's timestamp --------------------------------------------------------
# stripehook(8) SIGNATURES: t is [1-9][0-9]{0,17}; sign refuses what verify would call
# malformed.
tool sign --secret-file "$W/secret" --timestamp 0 "$PI_EVENT" >/dev/null 2>&1
is "$?" 2 "sign --timestamp 0 is a usage error"
tool sign --secret-file "$W/secret" --timestamp 1000000000000000000 \
    "$PI_EVENT" >/dev/null 2>&1
is "$?" 2 "sign --timestamp with 19 digits is a usage error"
h=$(tool sign --secret-file "$W/secret" --timestamp 1 "$PI_EVENT")
is "$h" "t=1,v1=$(sign_openssl "$SECRET" 1 "$PI_EVENT")" \
    "sign --timestamp 1 matches openssl"

# ---- replay as root switches to the configured user --------------------------
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1 &&
	[ -z "${STRIPEHOOK_VALGRIND:-}" ]; then
	chmod o+x "$W"
	mkdir -p "$W/pub" "$W/rst/evt_whoami_1"
	chmod 1777 "$W/pub"
	printf '#!/bin/sh\nid -u > %s/pub/uid\ncat >/dev/null\n' "$W" >"$W/whoami"
	chmod 0755 "$W/whoami"
	printf 'secret_file %s/secret\nstate_dir %s/rst\nuser nobody\non test.whoami %s/whoami\n' \
	    "$W" "$W" "$W" | write_conf replay
	make_event "$W/rst/evt_whoami_1/payload" evt_whoami_1 test.whoami
	chown -R nobody "$W/rst"
	chmod -R go-rwx "$W/rst"
	tool -c "$(conf_path replay)" replay evt_whoami_1 >"$W/replay.out" 2>&1
	is "$?" 0 "replay as root with user: exit 0"
	is "$(cat "$W/pub/uid" 2>/dev/null)" "$(id -u nobody)" \
	    "replay as root with user: the hook ran as that user"
	ok "$([ ! -e "$W/rst/evt_whoami_1/payload" ]; echo $?)" \
	    "replay as root with user: the payload is dropped after success"
else
	for i in 1 2 3; do
		skip "replay as root ($i): not root, no user nobody, or under valgrind (which cannot follow the switch of user)"
	done
fi

# ---- a FastCGI app stopped while it waits ------------------------------------
for sig in TERM USR1; do
	fcgi_start "$PLAIN_CONF"
	pid=$FCGI_PID
	# One request first, so the app is in its accept loop.
	fcgi_post "$PI_EVENT" "$PI_HDR"
	is "$A_STATUS" "$S200" "FastCGI app ($sig test): serves"
	kill -"$sig" "$pid"
	wait_for $((10 * SLOW)) pid_gone "$pid"
	ok $? "FastCGI app exits on SIG$sig while idle"
	wait "$pid" 2>/dev/null
	forget_pid "$pid"
	FCGI_PID=
done

tap_done
