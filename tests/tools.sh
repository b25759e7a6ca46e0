#!/usr/bin/env bash
# The operator commands' own rules (stripehook(8) COMMANDS): `check`
# finding hooks that cannot start, configuration files it refuses with a
# clear reason, `--help`, `-h` and `--version`, and each command's own
# `--help`.  Output is TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lib_setup

# check_conf NAME HOOK...: a configuration with one on line per HOOK.
check_conf() {
	local name=$1 h i=0
	shift
	{
		printf 'secret_file %s/secret\nstate_dir none\n' "$W"
		for h in "$@"; do
			i=$((i + 1))
			printf 'on test.c%d %s\n' "$i" "$h"
		done
	} | write_conf "$name"
}

# run_check NAME: `check` on it; output in C_OUT, exit in C_RC.
run_check() {
	C_OUT=$(tool -c "$(conf_path "$1")" check 2>&1)
	C_RC=$?
}

# ---- check: hooks that cannot start -------------------------------------------

printf 'echo no interpreter line\n' >"$H/noshebang"
printf '#!%s/no-such-shell\necho hi\n' "$W" >"$H/badinterp"
printf '#!/bin/sh -e\necho fine\n' >"$H/goodscript"
printf '#!%s/goodscript\necho nested\n' "$H" >"$H/scriptinterp"
printf '#!\n' >"$H/emptyinterp"
chmod 0755 "$H/noshebang" "$H/badinterp" "$H/goodscript" \
    "$H/scriptinterp" "$H/emptyinterp"

check_conf good "$H/goodscript" /bin/true
run_check good
is "$C_RC" 0 "check: a #! script and an ELF binary pass"
like "$C_OUT" "configuration OK$" "check: a #! script and an ELF binary: configuration OK"

check_conf noshebang "$H/noshebang"
run_check noshebang
is "$C_RC" 1 "check: a script without #! fails"
like "$C_OUT" "$(conf_path noshebang):3: $H/noshebang: neither a #! script nor an ELF binary" \
    "check: names the hook's line and says why (no #!)"

check_conf badinterp "$H/badinterp"
run_check badinterp
is "$C_RC" 1 "check: a script whose interpreter is missing fails"
like "$C_OUT" "$(conf_path badinterp):3: $H/badinterp: interpreter $W/no-such-shell: No such file or directory" \
    "check: names the missing interpreter"

check_conf emptyinterp "$H/emptyinterp"
run_check emptyinterp
is "$C_RC" 1 "check: a #! line without an interpreter fails"
like "$C_OUT" "emptyinterp: #! names no interpreter" "check: says the #! line is empty"

# ---- check: the user hooks run as ---------------------------------------------

check_conf nouser /bin/true
printf 'user no-such-user-stripehook\n' >>"$(conf_path nouser)"
run_check nouser
is "$C_RC" 1 "check: a user that does not exist fails"
like "$C_OUT" "^$(conf_path nouser): user no-such-user-stripehook does not exist$" \
    "check: names the file and the missing user"

check_conf rootuser /bin/true
printf 'user root\n' >>"$(conf_path rootuser)"
run_check rootuser
is "$C_RC" 1 "check: user root fails"
like "$C_OUT" "^$(conf_path rootuser): user must not be root$" \
    "check: says user must not be root"

# Linux starts a script whose interpreter is itself a script.
check_conf scriptinterp "$H/scriptinterp"
run_check scriptinterp
is "$C_RC" 0 "check: an interpreter that is itself a #! script passes"

# ---- configuration files refused with a clear reason ----------------------------

printf '\357\273\277secret_file %s/secret\n' "$W" | write_conf bom
run_check bom
is "$C_RC" 1 "check: a configuration starting with a byte order mark fails"
like "$C_OUT" "$(conf_path bom):1: starts with a UTF-8 byte order mark" \
    "check: says it is a byte order mark"

# ---- --help, -h, --version ------------------------------------------------------

for opt in --help -h; do
	out=$(tool "$opt" 2>"$W/help.err")
	is "$?" 0 "stripehook $opt: exit 0"
	like "$out" "^usage: stripehook \[-c file\]" "stripehook $opt: usage on stdout"
	is "$(cat "$W/help.err")" "" "stripehook $opt: nothing on stderr"
done
out=$(tool 2>&1 >/dev/null)
is "$?" 2 "stripehook without a command: exit 2"
like "$out" "^usage: stripehook" "stripehook without a command: usage on stderr"
is "$(tool --version)" "$(tool version)" "stripehook --version prints what version does"
like "$(tool --version)" "^stripehook [0-9]" "stripehook --version: name and version"

for cmd in serve sign verify check status replay forget prune version; do
	out=$(tool "$cmd" --help 2>"$W/help.err")
	is "$?" 0 "stripehook $cmd --help: exit 0"
	like "$out" "^usage: stripehook (\[-c file\] )?$cmd( |$)" \
	    "stripehook $cmd --help: its own usage on stdout"
	is "$(printf '%s\n' "$out" | wc -l)" 1 "stripehook $cmd --help: one usage line"
	is "$(cat "$W/help.err")" "" "stripehook $cmd --help: nothing on stderr"
done

tap_done
