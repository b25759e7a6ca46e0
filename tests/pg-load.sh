#!/usr/bin/env bash
# The load script across several hosts (scripts/loadtest --hosts,
# stripehook(8) SEVERAL HOSTS), small: 200 deliveries, 20% duplicates, 5%
# failing hooks, redelivered as Stripe would, to three `serve` hosts
# sharing one PostgreSQL cluster behind one nginx upstream, one host
# killed in the middle of a hook and started again; then, from the hooks'
# own logs, every event's hooks ran to success exactly once.  Once with
# `ack hooks`, once with `ack receipt`.  Without PostgreSQL, nginx or curl
# the runs are skipped, except under STRIPEHOOK_REQUIRE_SERVERS=1 (CI),
# where that is a failure.  TAP output.

# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lib_setup
# shellcheck source=tests/servers-lib.sh
. "$tests_dir/servers-lib.sh"
# shellcheck source=tests/pg-lib.sh
. "$tests_dir/pg-lib.sh"

missing=
pg_have || missing="PostgreSQL (initdb, pg_ctl, psql)"
for t in nginx curl spawn-fcgi cgi-fcgi; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
	if [ "${STRIPEHOOK_REQUIRE_SERVERS:-0}" = 1 ]; then
		ok 1 "the load run across hosts needs: $missing"
	else
		skip "the load run across hosts needs: $missing"
	fi
	tap_done
fi

LOADTEST=$top_srcdir/scripts/loadtest
for mode in hooks receipt; do
	args=(--hosts --deliveries 200 --workers 2 --deadline $((150 * SLOW)))
	[ "$mode" = hooks ] || args+=(--receipt serve)
	out=$W/run/loadtest-hosts-$mode.out
	STRIPEHOOK=$STRIPEHOOK timeout -k 10 $((300 * SLOW)) \
	    bash "$LOADTEST" "${args[@]}" >"$out" 2>&1
	ok $? "ack $mode across three hosts, one killed: the load script says OK"
	diag "$(tail -n 24 "$out")"
	like "$(cat "$out")" 'host 2 killed after [0-9]+ deliveries answered \(mid-hook: yes\)' \
	    "ack $mode: host 2 was killed in the middle of a hook"
	like "$(cat "$out")" 'host 2 started again after [0-9]+ deliveries answered' \
	    "ack $mode: host 2 was started again during the run"
	like "$(cat "$out")" 'answered 2xx 200 of 200' \
	    "ack $mode: every delivery answered 2xx in the end"
	like "$(cat "$out")" 'hook failures injected 8, observed 8' \
	    "ack $mode: the injected hook failures happened and were retried"
	is "$(grep -E '^lost=' "$out")" "lost=0 double=0" \
	    "ack $mode: from the hooks' logs, 0 lost, 0 double"
	like "$(cat "$out")" 'hook successes per host: [1-9][0-9]* [1-9][0-9]* [1-9][0-9]* ' \
	    "ack $mode: each of the three hosts ran hooks"
done

tap_done
