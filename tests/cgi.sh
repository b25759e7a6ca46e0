#!/usr/bin/env bash
# Integration tests: every request case of stripehook(8) REQUESTS, with
# the binary run as a CGI program (env -i plus the CGI variables, the body
# on stdin).  The cases are in cases.sh, shared with the other transport;
# the helpers in lib.sh.  TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
TRANSPORT=cgi
tests_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$tests_dir/lib.sh"
lib_setup
# shellcheck source=tests/cases.sh
. "$tests_dir/cases.sh"
run_all_cases
