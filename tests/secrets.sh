#!/usr/bin/env bash
# Runs last (Makefile.am makes its log depend on every other test's): greps
# every log and answer the suite kept for the secrets it used, since no
# secret may appear in a log line or an answer (stripehook.conf(5) SECRET
# FILE).
#
# The integration tests (tests/lib.sh) keep, when they finish, a copy of
# what the binary wrote under $top_builddir/tests/logs/TEST/:
#   req/N.out, answers.all   every answer (CGI stdout, FastCGI STDOUT)
#   req/N.err, run/*.log     every log (CGI stderr, FastCGI app stderr)
#   secrets.list             every secret written by write_secret
# Under valgrind (STRIPEHOOK_VALGRIND), tests/stripehook-vg writes one
# report per process to tests/logs/valgrind/; any error in one is a
# failure.
# TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u
lib_paths		# no workspace: this test only reads what others kept
LOGS=$top_builddir/tests/logs

# Used by the suite whatever secrets.list says (tests/lib.sh, cases.sh).
KNOWN_SECRETS=(whsec_test_secret whsec_test_secret_rolled_key
    whsec_reloaded_secret webhook_secret)

if [ ! -d "$LOGS" ] || [ -z "$(find "$LOGS" -mindepth 1 -maxdepth 1 -type d ! -name valgrind)" ]; then
	skip "no logs kept under tests/logs (tests/lib.sh keeps them)"
	tap_done
fi

pats=$(mktemp) || exit 1
trap 'rm -f "$pats"' EXIT
{
	printf '%s\n' "${KNOWN_SECRETS[@]}"
	find "$LOGS" -name secrets.list -exec cat {} +
} | awk 'length($0) > 0' | sort -u >"$pats"

mapfile -t answers < <(find "$LOGS" -type f \( -name '*.out' -o -name 'answers*' \) | sort)
mapfile -t logs < <(find "$LOGS" -type f \( -name '*.err' -o -name '*.log' \) \
    ! -path "$LOGS/valgrind/*" | sort)
diag "$(wc -l <"$pats") secrets, ${#answers[@]} answer files, ${#logs[@]} log files"

[ ${#answers[@]} -gt 0 ]
ok $? "the suite kept its answers"
[ ${#logs[@]} -gt 0 ]
ok $? "the suite kept its logs"

# Fixed strings: a secret is matched exactly as written.
hits=$( ((${#answers[@]})) && grep -l -F -f "$pats" -- "${answers[@]}")
[ -z "$hits" ]
ok $? "no answer holds a secret" || diag "in: $hits"
hits=$( ((${#answers[@]})) && grep -l -F whsec_ -- "${answers[@]}")
[ -z "$hits" ]
ok $? "no answer holds anything like a secret (whsec_)" || diag "in: $hits"
hits=$( ((${#logs[@]})) && grep -l -F -f "$pats" -- "${logs[@]}")
[ -z "$hits" ]
ok $? "no log holds a secret" || {
	diag "in: $hits"
	diag "$(grep -h -F -f "$pats" -- "${logs[@]}" | head -3 | cut -c1-200)"
}

if [ -n "${STRIPEHOOK_VALGRIND:-}" ]; then
	# Errors are "==PID==" lines; "--PID--" lines are valgrind's own
	# warnings (such as a system call it does not know, pidfd_open).
	mapfile -t reports < <(find "$LOGS/valgrind" -type f -size +0 \
	    -exec grep -l '^==[0-9]*==' {} + 2>/dev/null | sort)
	[ -d "$LOGS/valgrind" ]
	ok $? "valgrind: the binary ran under valgrind (tests/stripehook-vg)"
	[ ${#reports[@]} -eq 0 ]
	ok $? "valgrind: no error or leak in any run of the binary" || {
		diag "${reports[@]}"
		diag "$(head -40 "${reports[0]}")"
	}
fi

tap_done
