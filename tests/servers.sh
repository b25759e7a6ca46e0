#!/usr/bin/env bash
# stripehook behind real web servers, with the configurations shipped in
# examples/ (their paths substituted): nginx + fcgiwrap (CGI), nginx +
# spawn-fcgi, nginx + `stripehook serve`, Apache + mod_fcgid and Apache +
# mod_proxy_fcgi.  Events are signed by Stripe's official Node library and
# posted with curl.  Then `serve` itself: graceful stop with a request in
# flight, a killed worker replaced, root without `user`, the socket's mode,
# an existing file at its path and a socket directory others can write.
#
# Every server listens on 127.0.0.1 or on a unix socket in the test's own
# directory and is stopped on exit.  A missing server is a skip, unless
# STRIPEHOOK_REQUIRE_SERVERS=1 (CI), where it is a failure.  TAP output.

# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lib_setup
# shellcheck source=tests/servers-lib.sh
. "$tests_dir/servers-lib.sh"

sv_setup

# ---- what is installed ------------------------------------------------------

# have NAME WHAT...: 0 when every WHAT (a command or a file) exists, else
# prints the missing ones into HAVE_MISSING.
have() {
	local w
	HAVE_MISSING=()
	for w in "$@"; do
		case $w in
		/*) [ -e "$w" ] || HAVE_MISSING+=("$w") ;;
		*) command -v "$w" >/dev/null 2>&1 || HAVE_MISSING+=("$w") ;;
		esac
	done
	[ ${#HAVE_MISSING[@]} -eq 0 ]
}

# unavailable NAME N: N skips (or one failure when servers are required).
unavailable() {
	local i
	if [ "${STRIPEHOOK_REQUIRE_SERVERS:-0}" = 1 ]; then
		ok 1 "$1: required but missing: ${HAVE_MISSING[*]}"
		return
	fi
	for ((i = 0; i < $2; i++)); do
		skip "$1: not installed: ${HAVE_MISSING[*]}"
	done
}

# Each deployment makes this many TAP lines (sv_checks).
NCHECKS=8

if [ "$SV_SIGNER" = node ]; then
	diag "events signed by Stripe's Node library ($STRIPE_NODE)"
elif [ "${STRIPEHOOK_REQUIRE_SERVERS:-0}" = 1 ]; then
	ok 1 "Stripe's Node library is installed ($STRIPE_NODE)"
else
	diag "Stripe's Node library not found at $STRIPE_NODE: signing with openssl"
fi

# sub FILE SED-EXPR...: the shipped FILE with its paths substituted, into
# the workspace; prints the copy's path.  Fails when an expression did
# not change anything (the shipped file and the test disagree).
sub() {
	local src=$1 dst e
	dst=$W/sv/$(basename "$src").$REQ_N.$RANDOM
	shift
	cp "$src" "$dst" || return 1
	for e in "$@"; do
		if ! grep -q -- "$(printf '%s' "$e" | sed 's/^s|\([^|]*\)|.*/\1/')" "$dst"; then
			echo "sub: $src: no match for $e" >&2
			return 1
		fi
		sed -i "$e" "$dst" || return 1
	done
	printf '%s' "$dst"
}

SERVE_USER_LINE=()
[ "$SV_IS_ROOT" -eq 1 ] && SERVE_USER_LINE=("user $SV_USER")

APP_CONF=$(sv_conf app)
SERVE_CONF=$(sv_conf serve "${SERVE_USER_LINE[@]}")

# ---- nginx + fcgiwrap: the CGI program --------------------------------------

if have nginx spawn-fcgi fcgiwrap curl "$NGINX_FASTCGI_PARAMS"; then
	sock=$W/run/fcgiwrap.sock
	spawn_fcgi fcgiwrap "$sock" "$(command -v fcgiwrap)"
	loc=$(sub "$EXAMPLES/nginx-fcgiwrap.conf" \
	    "s|/usr/sbin/stripehook|$SV_BIN|" \
	    "s|/etc/stripehook.conf|$APP_CONF|" \
	    "s|unix:/run/fcgiwrap.socket|unix:$sock|") || bail "substitution"
	nginx_start fcgiwrap "$loc"
	sv_checks "nginx+fcgiwrap" "$NGX_URL" "$NGX_LOG" "$FC_LOG"
	sv_stop "$NGX_PID"
	sv_stop "$FC_PID"
else
	unavailable "nginx+fcgiwrap" $NCHECKS
fi

# ---- nginx + spawn-fcgi: the FastCGI application ----------------------------

if have nginx spawn-fcgi curl "$NGINX_FASTCGI_PARAMS"; then
	sock=$W/run/app.sock
	spawn_fcgi app "$sock" "$SV_BIN" -c "$APP_CONF"
	loc=$(sub "$EXAMPLES/nginx-fastcgi.conf" \
	    "s|unix:/run/stripehook/sock|unix:$sock|") || bail "substitution"
	nginx_start app "$loc"
	sv_checks "nginx+spawn-fcgi" "$NGX_URL" "$NGX_LOG" "$FC_LOG"
	sv_stop "$NGX_PID"
	sv_stop "$FC_PID"
else
	unavailable "nginx+spawn-fcgi" $NCHECKS
fi

# ---- nginx + stripehook serve -----------------------------------------------

if have nginx curl "$NGINX_FASTCGI_PARAMS"; then
	sock=$W/run/serve.sock
	serve_start serve-nginx "$SERVE_CONF" "unix:$sock"
	loc=$(sub "$EXAMPLES/nginx-fastcgi.conf" \
	    "s|unix:/run/stripehook/sock|unix:$sock|") || bail "substitution"
	nginx_start serve "$loc"
	sv_checks "nginx+serve" "$NGX_URL" "$NGX_LOG" "$SERVE_LOG"
	sv_stop "$NGX_PID"
	sv_stop "$SERVE_PID"
else
	unavailable "nginx+serve" $NCHECKS
fi

# ---- Apache + mod_fcgid -----------------------------------------------------

if have apache2 curl "$APACHE_MODDIR/mod_fcgid.so"; then
	inc=$(sub "$EXAMPLES/apache-fcgid.conf" \
	    "s|/usr/sbin/stripehook|$SV_BIN|" \
	    "s|/etc/stripehook.conf|$APP_CONF|") || bail "substitution"
	apache_start fcgid "$inc" fcgid
	sv_checks "apache+mod_fcgid" "$AP_URL" "$AP_LOG"
	sv_stop "$AP_PID"
	wait_for 10 test -z "$(sv_procs_of "$SV_BIN")"
	ok $? "apache+mod_fcgid: no stripehook process left after Apache stopped"
else
	unavailable "apache+mod_fcgid" $((NCHECKS + 1))
fi

# ---- Apache + mod_proxy_fcgi + stripehook serve ------------------------------

if have apache2 curl "$APACHE_MODDIR/mod_proxy_fcgi.so"; then
	sock=$W/run/serve-apache.sock
	serve_start serve-apache "$SERVE_CONF" "unix:$sock"
	inc=$(sub "$EXAMPLES/apache-proxy-fcgi.conf" \
	    "s|unix:/run/stripehook/sock|unix:$sock|") || bail "substitution"
	apache_start proxy "$inc" proxy proxy_fcgi
	sv_checks "apache+mod_proxy_fcgi" "$AP_URL" "$AP_LOG" "$SERVE_LOG"
	sv_stop "$AP_PID"
	sv_stop "$SERVE_PID"
else
	unavailable "apache+mod_proxy_fcgi" $NCHECKS
fi

# ---- stripehook serve itself ------------------------------------------------

# Requests go straight to the socket with libfcgi's cgi-fcgi.
# fcgi_post SOCK FILE OUT: the answer into OUT.
# shellcheck disable=SC2094 # FILE is only read
fcgi_post() {
	env -i REQUEST_METHOD=POST CONTENT_LENGTH="$(stat -c %s "$2")" \
	    HTTP_STRIPE_SIGNATURE="$(header_for "$2")" \
	    timeout 60 cgi-fcgi -bind -connect "$1" <"$2" >"$3" 2>&1
}

# The children of PID, one per line.
children() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(awk '{print $4}' "$p/stat" 2>/dev/null)" = "$1" ] &&
			printf '%s\n' "${p#/proc/}"
	done
	return 0
}

# (Called through wait_for.)
# shellcheck disable=SC2317
serve_has_workers() {
	[ "$(children "$1" | wc -l)" -eq "$2" ]
}

# A child of serve other than $old.
# shellcheck disable=SC2317
replaced() {
	local c
	c=$(children "$SERVE_PID")
	[ -n "$c" ] && [ "$c" != "$old" ]
}

if have cgi-fcgi; then
	# A hook that takes a while, to be caught in flight.
	slow=$W/sv/slow-hook
	cat >"$slow" <<'EOF'
#!/bin/sh
cat >/dev/null
: >"$MARK_DIR/slow.started"
sleep 2
echo slow >>"$MARK_DIR/runs"
EOF
	chmod 0755 "$slow"
	make_event "$W/sv/slow.json" evt_test_slow_1 test.slow
	conf=$(sv_conf serve-self "${SERVE_USER_LINE[@]}" "on test.slow $slow")
	sock=$W/run/self.sock

	# SIGTERM with a request in flight: it completes, then serve exits.
	sv_clear_marks
	serve_start serve-term "$conf" "unix:$sock" 2
	wait_for 10 serve_has_workers "$SERVE_PID" 2
	workers=$(children "$SERVE_PID" | tr '\n' ' ')
	fcgi_post "$sock" "$W/sv/slow.json" "$W/sv/slow.out" &
	post_pid=$!
	wait_for 10 test -e "$SV_MARKS/slow.started" || diag "slow hook did not start"
	kill -TERM "$SERVE_PID"
	wait "$post_pid"
	like "$(tr -d '\r' <"$W/sv/slow.out")" \
	    '^Status: 200 OK' "serve: SIGTERM lets the request in flight finish (200)"
	is "$(cat "$SV_MARKS/runs" 2>/dev/null)" slow "serve: the slow hook ran to the end"
	wait_for 20 pid_gone "$SERVE_PID"
	ok $? "serve: exits after SIGTERM"
	wait "$SERVE_PID"
	is "$?" 0 "serve: exit status 0 after SIGTERM"
	forget_pid "$SERVE_PID"
	left=
	for p in $workers; do
		pid_gone "$p" || left="$left $p"
	done
	left="$left $(pgrep -f "$slow" | tr '\n' ' ')"
	is "${left// /}" "" "serve: no worker or hook left behind"

	# A worker killed with SIGKILL is replaced, and the new one answers.
	serve_start serve-kill "$conf" "unix:$sock" 1
	wait_for 10 serve_has_workers "$SERVE_PID" 1
	old=$(children "$SERVE_PID")
	kill -KILL "$old"
	wait_for 10 replaced
	ok $? "serve: a worker killed by SIGKILL is replaced"
	new=$(children "$SERVE_PID")
	sv_clear_marks
	fcgi_post "$sock" "$PI_EVENT" "$W/sv/kill.out"
	like "$(tr -d '\r' <"$W/sv/kill.out")" '^Status: 200 OK' \
	    "serve: the new worker answers"
	wait_for 5 grep -q "stripehook\[$new\].*status=200" "$SERVE_LOG"
	ok $? "serve: the answer came from the new worker ($new)"
	sv_stop "$SERVE_PID"

	# The socket: mode 0660, group of the user.
	serve_start serve-mode "$conf" "unix:$sock" 1
	is "$(stat -c %a "$sock")" 660 "serve: unix socket mode 0660"
	is "$(stat -c %G "$sock")" "$SV_GROUP" "serve: unix socket group $SV_GROUP"
	sv_stop "$SERVE_PID"

	# The socket is listening before it shows up at its path: with
	# listen() held up for 3 s by strace, a client that connects the
	# moment the name appears is not refused.  (LeakSanitizer cannot run
	# under ptrace.)
	if have strace; then
		rm -f "$sock"
		SERVE_LOG=$W/sv/serve-early.log
		sv_bg "$SERVE_LOG" env -i PATH=/usr/bin:/bin ASAN_OPTIONS=detect_leaks=0 strace -f -qq \
		    -o /dev/null -e trace=listen -e inject=listen:delay_enter=3s \
		    "$SV_BIN" -c "$conf" serve --listen "unix:$sock" --workers 1
		tracer=$SV_PID
		wait_for 30 sv_socket_up "$sock"
		python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])' "$sock" 2>"$W/sv/early.err"
		ok $? "serve: the socket accepts connections as soon as it appears ($(tail -n 1 "$W/sv/early.err"))"
		# serve under strace: stop serve, then strace ends with it.
		sv_stop "$(pgrep -P "$tracer" | head -n 1)"
		sv_stop "$tracer" || diag "strace did not end with serve"
	else
		unavailable "serve socket early connect" 1
	fi

	# The stop grace follows the configuration in force after SIGHUP: a
	# reload that raises hook_timeout to 100 gives requests in flight at
	# least 100 s a hook (stripehook(8) serve).
	grace_conf=$(sv_conf serve-grace "${SERVE_USER_LINE[@]}" "hook_timeout 1")
	serve_start serve-grace "$grace_conf" "unix:$sock" 1
	wait_for 10 serve_has_workers "$SERVE_PID" 1
	new_conf=$(sv_conf serve-grace-new "${SERVE_USER_LINE[@]}" "hook_timeout 100")
	mv "$new_conf" "$grace_conf"
	kill -HUP "$SERVE_PID"
	wait_for 10 grep -q "configuration reloaded" "$SERVE_LOG" ||
		diag "no worker logged its reload"
	sv_stop "$SERVE_PID"
	g=$(sed -n 's/.*requests in flight have up to \([0-9]*\) s.*/\1/p' "$SERVE_LOG")
	[ -n "$g" ] && [ "$g" -ge 400 ]
	ok $? "serve: after a reload to hook_timeout 100, the stop grace follows (${g:-no} s)"

	# An existing regular file at the socket path is left alone.
	file=$W/run/not-a-socket
	printf 'keep me\n' >"$file"
	env -i PATH=/usr/bin:/bin "$SV_BIN" -c "$conf" serve \
	    --listen "unix:$file" >"$W/sv/file.log" 2>&1 &
	p=$!
	BG_PIDS+=("$p")
	wait_for 10 pid_gone "$p"
	wait "$p"
	is "$?" 1 "serve: exit 1 when a regular file is at the socket path"
	forget_pid "$p"
	is "$(cat "$file")" "keep me" "serve: the regular file is not replaced"

	# A socket directory that others can write is refused: whoever can
	# write there could swap serve's names for links (stripehook(8) serve).
	open_dir=$W/run/open
	{ mkdir -p "$open_dir" && chmod 0777 "$open_dir"; } || bail "mkdir $open_dir"
	env -i PATH=/usr/bin:/bin timeout 10 "$SV_BIN" -c "$conf" serve \
	    --listen "unix:$open_dir/sock" >"$W/sv/open.log" 2>&1
	is "$?" 1 "serve: exit 1 when others can write the socket's directory"
	like "$(cat "$W/sv/open.log")" "can be written by others" \
	    "serve: and says why ($(head -n 1 "$W/sv/open.log"))"
	[ -z "$(ls -A "$open_dir")" ]
	ok $? "serve: and creates nothing in that directory"

	# systemd socket activation (LISTEN_FDS, as stripehook-serve.service
	# would get it from a socket unit).
	if have systemd-socket-activate; then
		sa=$W/run/activated.sock
		SERVE_LOG=$W/sv/serve-activated.log
		sv_bg "$SERVE_LOG" env -i PATH=/usr/bin:/bin \
		    systemd-socket-activate -l "$sa" "$SV_BIN" -c "$conf" serve \
		    --workers 1
		SERVE_PID=$SV_PID
		wait_for 10 sv_socket_up "$sa"
		fcgi_post "$sa" "$PI_EVENT" "$W/sv/activated.out"
		like "$(tr -d '\r' <"$W/sv/activated.out")" '^Status: 200 OK' \
		    "serve: takes its socket from systemd (LISTEN_FDS)"
		sv_stop "$SERVE_PID"
		ok $? "serve: activated by systemd, stops on SIGTERM"
	else
		unavailable "serve socket activation" 2
	fi

	# Root without `user` refuses to start.
	if [ "$SV_IS_ROOT" -eq 1 ]; then
		nouser=$(sv_conf serve-nouser)
		env -i PATH=/usr/bin:/bin timeout 10 "$SV_BIN" -c "$nouser" \
		    serve --listen "unix:$W/run/nouser.sock" >"$W/sv/nouser.log" 2>&1
		is "$?" 1 "serve: started as root without user exits 1"
		like "$(cat "$W/sv/nouser.log")" "user" \
		    "serve: and says why ($(head -n 1 "$W/sv/nouser.log"))"
		[ ! -e "$W/run/nouser.sock" ]
		ok $? "serve: and creates no socket"
	else
		skip "serve as root without user: not running as root"
		skip "serve as root without user: not running as root"
		skip "serve as root without user: not running as root"
	fi
else
	unavailable "serve" 20
fi

tap_done
