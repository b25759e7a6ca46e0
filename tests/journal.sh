#!/usr/bin/env bash
# Priorities for the journal (stripehook(8) LOGGING): when JOURNAL_STREAM
# names the device and inode of standard error, as systemd sets it for a
# unit whose standard error is the journal, each log line starts with <3>
# (a failed hook, answered 500), <4> (a refused request, a hook's output
# cut) or <6> (the rest).  Any other standard error is left unchanged.
# The binary runs as a CGI program with standard error on a file; the
# "journal" is that file's st_dev:st_ino as stat(1) gives it.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lib_setup

base_conf | write_conf plain
CONF=$(conf_path plain)

# journal_of FILE: "DEV:INODE" of FILE, decimal (what systemd puts in
# JOURNAL_STREAM).
journal_of() {
	stat -c '%d:%i' "$1"
}

# post_journal MODE FILE HEADER: post() with JOURNAL_STREAM naming the
# request's own standard error file (MODE match), another file (other) or
# unset (none).  The file is made before the request, so that the
# redirection in post() truncates it and keeps its inode.
post_journal() {
	local mode=$1 err=$W/req/$((REQ_N + 1)).err js
	shift
	: >"$err"
	case $mode in
	match) js=$(journal_of "$err") ;;
	other) js=$(journal_of "$CONF") ;;
	none) post "$@"; return ;;
	esac
	post "$@" "JOURNAL_STREAM=$js"
}

# first_of PATTERN: the first line of this request's log that matches.
first_of() {
	printf '%s\n' "$A_LOG" | grep -m1 -- "$1"
}

PI_HDR=$(header_for "$PI_EVENT")
make_event "$W/ev/fail.json" evt_journal_fail_1 test.fail
FAIL_HDR=$(header_for "$W/ev/fail.json")
make_event "$W/ev/chatty.json" evt_journal_chatty_1 test.chatty
CHATTY_HDR=$(header_for "$W/ev/chatty.json")

# ---- standard error is the journal ------------------------------------------
post_journal match "$PI_EVENT" "$PI_HDR"
is "$A_STATUS" "$S200" "journal: handled event answered 200"
like "$(first_of 'status=200')" '^<6>stripehook\[[0-9]+\]: time=' \
    "journal: a handled request's line starts with <6>"

post_journal match "$W/ev/fail.json" "$FAIL_HDR"
is "$A_STATUS" "$S500" "journal: failed hook answered 500"
like "$(first_of 'error="hook failed"')" '^<3>stripehook\[[0-9]+\]: time=.* status=500 error="hook failed"' \
    "journal: a failed hook's request line starts with <3>"

post_journal match "$PI_EVENT" "t=1,v1=$(printf '0%.0s' $(seq 64))"
is "$A_STATUS" "$S400" "journal: bad signature answered 400"
like "$(first_of 'status=400')" '^<4>stripehook\[[0-9]+\]: .*status=400 error=' \
    "journal: a refused request's line starts with <4>"

post_journal match "$W/ev/chatty.json" "$CHATTY_HDR"
like "$(first_of 'stream=stdout')" '^<6>stripehook\[[0-9]+\]: hook event=' \
    "journal: a hook's standard output starts with <6>"
like "$(first_of 'output=cut')" '^<4>stripehook\[[0-9]+\]: hook event=' \
    "journal: a hook's output cut at the limit: <4>"
n_lines=$(printf '%s\n' "$A_LOG" | grep -c .)
n_prefixed=$(printf '%s\n' "$A_LOG" | grep -Ec '^<[346]>stripehook\[')
is "$n_prefixed" "$n_lines" "journal: every line carries a prefix"

# ---- any other standard error: unchanged ------------------------------------
post_journal other "$W/ev/fail.json" "$FAIL_HDR"
like "$(first_of 'error="hook failed"')" '^stripehook\[[0-9]+\]: time=' \
    "JOURNAL_STREAM of another file: no prefix"

post_journal none "$W/ev/fail.json" "$FAIL_HDR"
like "$(first_of 'error="hook failed"')" '^stripehook\[[0-9]+\]: time=' \
    "no JOURNAL_STREAM: no prefix"
n_prefixed=$(printf '%s\n' "$A_LOG" | grep -Ec '^<[0-9]>')
is "$n_prefixed" 0 "no JOURNAL_STREAM: no line carries a prefix"

# The web server's own environment variable reaches a CGI program too,
# but its standard error is the web server's log file, not the journal.
post_journal other "$PI_EVENT" "$PI_HDR"
like "$(first_of 'status=200')" '^stripehook\[[0-9]+\]: time=' \
    "JOURNAL_STREAM of another file, handled request: no prefix"

tap_done
