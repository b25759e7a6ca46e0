#!/usr/bin/env bash
# Integration tests: every request case of stripehook(8) REQUESTS, with
# the binary run as a FastCGI app (spawn-fcgi, requests through libfcgi's
# cgi-fcgi).  The cases are in cases.sh, shared with the other transport;
# the helpers in lib.sh.  TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
TRANSPORT=fcgi
tests_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$tests_dir/lib.sh"
lib_setup
# shellcheck source=tests/cases.sh
. "$tests_dir/cases.sh"
for tool in spawn-fcgi cgi-fcgi; do
	command -v "$tool" >/dev/null ||
		bail "$tool is missing (Debian packages spawn-fcgi, libfcgi-bin)"
done
run_all_cases
