# shellcheck shell=bash disable=SC2034
# (SC2034: the variables set here are used by tests/servers.sh.)
# Helpers for tests/servers.sh: real web servers (nginx, Apache), the
# FastCGI spawners (spawn-fcgi, fcgiwrap) and `stripehook serve`, each
# started on 127.0.0.1 or on unix sockets inside the test's workspace $W
# (from tests/lib.sh, which must be sourced first), with the shipped
# configurations from examples/ whose paths are substituted with sed.
# Every process started here is in BG_PIDS, so lib.sh's EXIT trap stops it.

# ---- who runs what ----------------------------------------------------------

# Servers started as root switch to an unprivileged user; so do the
# FastCGI applications and `serve` (which refuses to run hooks as root).
if [ "$(id -u)" -eq 0 ]; then
	if id www-data >/dev/null 2>&1; then
		SV_USER=www-data
	else
		SV_USER=nobody
	fi
	SV_GROUP=$(id -gn "$SV_USER")
else
	SV_USER=$(id -un)
	SV_GROUP=$(id -gn)
fi
SV_IS_ROOT=0
[ "$(id -u)" -eq 0 ] && SV_IS_ROOT=1

# top_srcdir comes from tests/lib.sh.
# shellcheck disable=SC2154
EXAMPLES=$top_srcdir/examples
STRIPE_NODE=${STRIPE_NODE:-$top_srcdir/tests/interop/node_modules/stripe}
APACHE_MODDIR=${APACHE_MODDIR:-/usr/lib/apache2/modules}
NGINX_FASTCGI_PARAMS=${NGINX_FASTCGI_PARAMS:-/etc/nginx/fastcgi_params}

# The workspace must be reachable by the servers' users: everything in it
# is readable, and the directories they write to belong to SV_USER.
sv_setup() {
	chmod 0755 "$W" "$W/run" "$W/conf" "$H" || bail "chmod $W"
	SV_BIN=$W/bin/stripehook
	mkdir -p "$W/bin" "$W/sv" || bail "mkdir $W/bin"
	chmod 0755 "$W/bin" "$W/sv"
	# A copy: the build tree may sit in a home directory others cannot
	# enter.
	if ! cp "$STRIPEHOOK" "$SV_BIN" || ! chmod 0755 "$SV_BIN"; then
		bail "cannot copy $STRIPEHOOK"
	fi
	SV_MARKS=$W/sv/marks
	if ! mkdir -p "$SV_MARKS" || ! chmod 0755 "$SV_MARKS" ||
	    ! chown "$SV_USER:$SV_GROUP" "$SV_MARKS"; then
		bail "cannot make $SV_MARKS"
	fi
	# The secret belongs to the user that reads it (mode 0600).
	SV_SECRET_FILE=$W/sv/secret
	if ! printf '%s\n' "$SECRET" >"$SV_SECRET_FILE" ||
	    ! chmod 0600 "$SV_SECRET_FILE" ||
	    ! chown "$SV_USER:$SV_GROUP" "$SV_SECRET_FILE"; then
		bail "cannot write $SV_SECRET_FILE"
	fi
}

# sv_conf NAME [EXTRA LINE]...: a configuration readable by every server
# user, writable by its owner only; prints its path.
sv_conf() {
	local f=$W/sv/$1.conf l
	shift
	{
		echo "secret_file $SV_SECRET_FILE"
		echo "state_dir none"
		echo "env MARK_DIR=$SV_MARKS"
		echo "on payment_intent.succeeded $H/record pi"
		echo "on charge.dispute.created $H/record dispute"
		echo "on test.big $H/record big"
		echo "on test.fail $H/fail fail"
		for l in "$@"; do
			echo "$l"
		done
	} >"$f"
	chmod 0644 "$f"
	printf '%s' "$f"
}

sv_clear_marks() {
	find "$SV_MARKS" -mindepth 1 -delete
}

# ---- ports, processes, readiness --------------------------------------------

# sv_port: a TCP port on 127.0.0.1 that nothing listens on now, below the
# kernel's ephemeral range, so that no outgoing connection of a concurrent
# test can take it between this check and the server's bind.
sv_port() {
	local p i low=32768
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
	[ "$low" -gt 11024 ] 2>/dev/null || low=32768
	for ((i = 0; i < 200; i++)); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % (low - 10000)))
		if ! (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			printf '%s' "$p"
			return 0
		fi
	done
	bail "no free port found"
}

# sv_bg LOG CMD...: starts CMD in the background, remembered for cleanup;
# sets SV_PID.
sv_bg() {
	local log=$1
	shift
	"$@" </dev/null >>"$log" 2>&1 &
	SV_PID=$!
	BG_PIDS+=("$SV_PID")
}

# sv_stop PID: SIGTERM, then up to 20 s before SIGKILL.  Returns 1 when it
# had to be killed.
sv_stop() {
	local p=$1 rc=0
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null
	if ! wait_for 20 pid_gone "$p"; then
		kill -KILL "$p" 2>/dev/null
		rc=1
	fi
	wait "$p" 2>/dev/null
	forget_pid "$p"
	return $rc
}

# sv_http_up PORT: any HTTP answer on 127.0.0.1:PORT.
sv_http_up() {
	curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null
}

sv_socket_up() {
	[ -S "$1" ]
}

# sv_procs_of PATH: pids of processes running the binary PATH.
sv_procs_of() {
	local p exe
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[ "$exe" = "$1" ] && printf '%s\n' "${p#/proc/}"
	done
	return 0
}

# ---- signing ----------------------------------------------------------------

SV_SIGNER=
if [ -f "$STRIPE_NODE/package.json" ] && command -v node >/dev/null 2>&1; then
	SV_SIGNER=node
fi

# sv_sign FILE: a Stripe-Signature value for FILE made by Stripe's official
# Node library (openssl when it is not installed; the test says so).
sv_sign() {
	if [ "$SV_SIGNER" = node ]; then
		node -e '
const fs = require("fs");
const stripe = require(process.argv[1]);
process.stdout.write(stripe.webhooks.generateTestHeaderString({
    payload: fs.readFileSync(process.argv[2], "utf8"),
    secret: process.argv[3],
}));' "$STRIPE_NODE" "$1" "$SECRET" || bail "node signing failed"
	else
		header_for "$1"
	fi
}

# ---- HTTP -------------------------------------------------------------------

# sv_http METHOD URL [FILE HEADER]: one request with curl.  Sets H_CODE,
# H_BODY, H_CTYPE, H_ALLOW, H_HEADERS.
sv_http() {
	local m=$1 url=$2 n out hdr line args=()
	REQ_N=$((REQ_N + 1))
	n=$REQ_N
	out=$W/req/sv$n.body
	hdr=$W/req/sv$n.head
	args=(-sS -o "$out" -D "$hdr" -w '%{http_code}' --max-time 60
	    -H 'Expect:' -X "$m")
	if [ $# -ge 4 ]; then
		args+=(-H 'Content-Type: application/json; charset=utf-8'
		    -H "Stripe-Signature: $4" --data-binary "@$3")
	fi
	H_CODE=$(curl "${args[@]}" "$url" 2>"$W/req/sv$n.err") || H_CODE="curl failed: $(cat "$W/req/sv$n.err")"
	H_BODY=$(cat "$out" 2>/dev/null; printf x)
	H_BODY=${H_BODY%x}
	H_CTYPE='' H_ALLOW=''
	H_HEADERS=$(tr -d '\r' <"$hdr" 2>/dev/null)
	while IFS= read -r line; do
		case $line in
		[Cc]ontent-[Tt]ype:\ *) H_CTYPE=${line#*: } ;;
		[Aa]llow:\ *) H_ALLOW=${line#*: } ;;
		esac
	done <<<"$H_HEADERS"
}

# sv_expect DESC CODE BODY HOOKS: one TAP line for the last answer; HOOKS
# is "-" for none or the names in the marks' "runs" file.
sv_expect() {
	local desc=$1 code=$2 body=$3 hooks=$4 why=() ran
	[ "$H_CODE" = "$code" ] || why+=("status '$H_CODE', want '$code'")
	[ "$H_BODY" = "$body" ] || why+=("body '$H_BODY', want '$body'")
	[ "$H_CTYPE" = application/json ] ||
		why+=("Content-Type '$H_CTYPE', want 'application/json'")
	if [ "$code" = 405 ]; then
		[ "$H_ALLOW" = POST ] || why+=("Allow '$H_ALLOW', want 'POST'")
	fi
	ran=$(tr '\n' ' ' 2>/dev/null <"$SV_MARKS/runs")
	ran=${ran% }
	[ "$hooks" = - ] && hooks=
	[ "$ran" = "$hooks" ] || why+=("hooks ran: '$ran', want '$hooks'")
	if [ ${#why[@]} -eq 0 ]; then
		ok 0 "$desc"
		return 0
	fi
	ok 1 "$desc"
	diag "${why[@]}" "headers: $H_HEADERS"
	return 1
}

# sv_checks NAME URL LOG...: the checks every deployment must pass, through
# the real server at URL.  LOG files are shown when a check fails.
sv_checks() {
	local name=$1 url=$2 rc=0 big=$W/sv/big.json fail=$W/sv/fail.json
	local max=$W/sv/max.json
	shift 2
	[ -f "$big" ] || make_event_size "$big" $((900 * 1024)) \
	    evt_test_big900KiB test.big
	[ -f "$max" ] || make_event_size "$max" 1048576 \
	    evt_test_big1MiB test.big
	[ -f "$fail" ] || make_event "$fail" evt_test_fail_1 test.fail

	sv_clear_marks
	sv_http POST "$url" "$PI_EVENT" "$(sv_sign "$PI_EVENT")"
	sv_expect "$name: signed event answered 200" 200 "$B_OK" pi || rc=1
	cmp -s "$PI_EVENT" "$SV_MARKS/pi.stdin"
	ok $? "$name: the hook got the payload byte for byte" || rc=1

	sv_clear_marks
	sv_http POST "$url" "$PI_EVENT" "t=$(date +%s),v1=$(printf '%064d' 0)"
	sv_expect "$name: bad signature answered 400" 400 \
	    '{"error":"signature mismatch"}' - || rc=1

	sv_clear_marks
	sv_http POST "$url" "$fail" "$(sv_sign "$fail")"
	sv_expect "$name: failing hook answered 500" 500 \
	    '{"error":"hook failed"}' fail || rc=1

	sv_clear_marks
	sv_http POST "$url" "$big" "$(sv_sign "$big")"
	sv_expect "$name: a 900 KiB event passes" 200 "$B_OK" big || rc=1
	cmp -s "$big" "$SV_MARKS/big.stdin"
	ok $? "$name: the hook got the 900 KiB payload byte for byte" || rc=1

	# Exactly max_body: the front end's own limit must not cut it off.
	sv_clear_marks
	sv_http POST "$url" "$max" "$(sv_sign "$max")"
	sv_expect "$name: a 1 MiB event (max_body) passes the front end" 200 \
	    "$B_OK" big || rc=1

	sv_clear_marks
	sv_http GET "$url"
	sv_expect "$name: GET answered 405 with Allow: POST" 405 \
	    '{"error":"method not allowed"}' - || rc=1

	if [ $rc -ne 0 ]; then
		local f
		for f in "$@"; do
			diag "--- $f" "$(tail -n 20 "$f" 2>/dev/null)"
		done
	fi
	return $rc
}

# ---- front ends -------------------------------------------------------------

# nginx_start NAME LOCATION_FILE [HTTP_FILE]: nginx in the foreground on a
# free port, its server block including LOCATION_FILE, its http block
# HTTP_FILE (an upstream, say) when given.  Its directory is
# $W/sv/nginx-NAME, with fastcgi_params.  Sets NGX_PID, NGX_URL, NGX_LOG.
nginx_start() {
	local d=$W/sv/nginx-$1 port user_line='' http_line=''
	if ! mkdir -p "$d/tmp" || ! chmod 0755 "$d"; then
		bail "cannot make $d"
	fi
	cp "$NGINX_FASTCGI_PARAMS" "$d/fastcgi_params" || bail "no fastcgi_params"
	[ "$SV_IS_ROOT" -eq 1 ] && user_line="user $SV_USER $SV_GROUP;"
	[ -n "${3:-}" ] && http_line="include $3;"
	port=$(sv_port)
	cat >"$d/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
$user_line
events {
	worker_connections 64;
}
http {
	access_log $d/access.log;
	client_body_temp_path $d/tmp/body;
	fastcgi_temp_path $d/tmp/fastcgi;
	proxy_temp_path $d/tmp/proxy;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	$http_line
	server {
		listen 127.0.0.1:$port;
		server_name localhost;
		include $2;
	}
}
EOF
	NGX_LOG=$d/error.log
	sv_bg "$d/stderr" nginx -p "$d/" -e "$d/error.log" -c "$d/nginx.conf"
	NGX_PID=$SV_PID
	NGX_URL=http://127.0.0.1:$port/webhook
	wait_for 10 sv_http_up "$port" ||
		bail "nginx did not start: $(cat "$d/stderr" "$d/error.log" 2>/dev/null)"
}

# apache_start NAME EXAMPLE_FILE MODULE...: Apache in the foreground on a
# free port with the given modules, including EXAMPLE_FILE.  Sets AP_PID,
# AP_URL, AP_LOG.
apache_start() {
	local name=$1 inc=$2 d=$W/sv/apache-$1 port m mpm builtin
	shift 2
	if ! mkdir -p "$d/fcgid" "$d/htdocs" || ! chmod 0755 "$d" "$d/htdocs"
	then
		bail "cannot make $d"
	fi
	[ "$SV_IS_ROOT" -eq 1 ] && chown "$SV_USER:$SV_GROUP" "$d/fcgid"
	port=$(sv_port)
	builtin=" $(apache2 -l 2>/dev/null | tr -s ' \t\n' '   ') "
	mpm=event
	[ -f "$APACHE_MODDIR/mod_mpm_event.so" ] || mpm=prefork
	{
		echo "ServerRoot $d"
		echo "ServerName 127.0.0.1"
		echo "Listen 127.0.0.1:$port"
		echo "PidFile $d/httpd.pid"
		echo "DefaultRuntimeDir $d"
		echo "Mutex file:$d default"
		echo "ErrorLog $d/error.log"
		echo "LogLevel warn"
		echo "LoadModule mpm_${mpm}_module $APACHE_MODDIR/mod_mpm_$mpm.so"
		for m in unixd authz_core alias "$@"; do
			# Some are compiled in (apache2 -l).
			case $builtin in
			*" mod_$m.c "*) ;;
			*) echo "LoadModule ${m}_module $APACHE_MODDIR/mod_$m.so" ;;
			esac
		done
		if [ "$SV_IS_ROOT" -eq 1 ]; then
			echo "User $SV_USER"
			echo "Group $SV_GROUP"
		fi
		echo "DocumentRoot $d/htdocs"
		echo "<Directory />"
		echo "	Require all denied"
		echo "</Directory>"
		case " $* " in
		*" fcgid "*)
			echo "FcgidIPCDir $d/fcgid"
			echo "FcgidProcessTableFile $d/fcgid/table"
			;;
		esac
		echo "Include $inc"
	} >"$d/httpd.conf"
	AP_LOG=$d/error.log
	sv_bg "$d/stderr" apache2 -f "$d/httpd.conf" -DFOREGROUND
	AP_PID=$SV_PID
	AP_URL=http://127.0.0.1:$port/webhook
	wait_for 10 sv_http_up "$port" ||
		bail "apache2 did not start: $(cat "$d/stderr" "$d/error.log" 2>/dev/null)"
}

# ---- back ends --------------------------------------------------------------

# spawn_fcgi NAME SOCKET CMD...: spawn-fcgi in the foreground (-n: it
# becomes CMD) with the socket for the web server's user.  Sets FC_PID,
# FC_LOG.
spawn_fcgi() {
	local name=$1 sock=$2 ids=()
	shift 2
	FC_LOG=$W/sv/$name.log
	: >"$FC_LOG"
	if [ "$SV_IS_ROOT" -eq 1 ]; then
		ids=(-u "$SV_USER" -g "$SV_GROUP" -U "$SV_USER" -G "$SV_GROUP")
	fi
	sv_bg "$FC_LOG" env -i PATH=/usr/bin:/bin spawn-fcgi -n -s "$sock" \
	    -M 0660 "${ids[@]}" -- "$@"
	FC_PID=$SV_PID
	wait_for 10 sv_socket_up "$sock" ||
		bail "spawn-fcgi did not create $sock: $(cat "$FC_LOG")"
}

# serve_start NAME CONF LISTEN [WORKERS]: `stripehook serve` in the
# background.  Sets SERVE_PID, SERVE_LOG; waits for a unix socket.
serve_start() {
	SERVE_LOG=$W/sv/$1.log
	: >"$SERVE_LOG"
	# A serve that switched to its user cannot remove its socket from a
	# directory only root can write (stripehook(8) serve): the name of a
	# stopped one stays, and waiting for it to appear would wait for
	# nothing.
	case $3 in
	unix:*) rm -f "${3#unix:}" ;;
	esac
	sv_bg "$SERVE_LOG" env -i PATH=/usr/bin:/bin "$SV_BIN" -c "$2" serve \
	    --listen "$3" --workers "${4:-2}"
	SERVE_PID=$SV_PID
	case $3 in
	unix:*)
		wait_for 10 sv_socket_up "${3#unix:}" ||
			bail "serve did not create ${3#unix:}: $(cat "$SERVE_LOG")"
		;;
	esac
}
