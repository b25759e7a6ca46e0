# shellcheck shell=bash disable=SC2034
# (SC2034: the variables set here are used by the scripts sourcing it.)
# The shell test library, sourced by every shell test.  It runs the built
# binary exactly as a web server would: as a CGI program (env -i plus the
# CGI variables, the body on stdin) or as a FastCGI app started by
# spawn-fcgi and reached with libfcgi's cgi-fcgi.  Output is TAP.
#
# Sourcing it only defines constants and functions: nothing is created,
# started, trapped or changed.  A test then calls
#   lib_paths    where the trees, the binary and the canned events are
#                (for a test that needs no workspace, such as secrets.sh)
#   lib_setup    lib_paths, then `set -u`, the workspace $W (hooks,
#                secrets, directories) and the EXIT trap that stops every
#                process the test started, keeps its logs and removes $W
#
# Environment (set by `make check`; the defaults suit a run from the tree):
#   top_srcdir, top_builddir  source and build trees
#   STRIPEHOOK                the binary under test
#   SHARED_VECTORS            Stripe's signature vectors (tests/data/vectors)
#   STRIPEHOOK_VALGRIND       when set, the binary runs under this valgrind
#   TRANSPORT                 cgi (default) or fcgi

SECRET=whsec_test_secret
ROLLED_SECRET=whsec_test_secret_rolled_key
# The canned payment_intent.succeeded event and what a hook must be told.
PI_ID=evt_3QbJ4nLkdIwHu7ix0Wc5Zq9T
PI_OBJECT_ID=pi_3QbJ4nLkdIwHu7ix0a2B3c4D
THIN_ID=evt_test_65RTestThinEventMeterError0001

# lib_paths: the trees, the binary (under valgrind when asked) and the
# canned events, from the environment or the defaults above.
lib_paths() {
	tests_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	: "${top_srcdir:=$(dirname "$tests_dir")}"
	: "${top_builddir:=$top_srcdir}"
	: "${STRIPEHOOK:=$top_builddir/stripehook}"
	: "${SHARED_VECTORS:=$top_srcdir/tests/data/vectors}"
	: "${TRANSPORT:=cgi}"
	DATA=$top_srcdir/tests/data
	EVENTS=$DATA/events
	PI_EVENT=$EVENTS/payment_intent.succeeded.json
	THIN_EVENT=$EVENTS/v1.billing.meter.error_report_triggered.json
	TEST_NAME=$(basename "$0" .sh)
	# The binary, under valgrind when asked: tests/stripehook-vg writes
	# each process's report to its own file under tests/logs/valgrind
	# (so answers and logs are the same as without valgrind) and makes
	# an error exit 99.
	RUN=("$STRIPEHOOK")
	if [ -n "${STRIPEHOOK_VALGRIND:-}" ]; then
		RUN=("$tests_dir/stripehook-vg" "$STRIPEHOOK_VALGRIND"
		    "$top_builddir/tests/logs/valgrind" "$STRIPEHOOK")
	fi
	# Slack for timing bounds (valgrind is slow).
	SLOW=1
	[ -n "${STRIPEHOOK_VALGRIND:-}" ] && SLOW=5
	return 0
}

# Status lines as stripehook(8) REQUESTS gives them.
S200="200 OK"
S400="400 Bad Request"
S405="405 Method Not Allowed"
S409="409 Conflict"
S411="411 Length Required"
S413="413 Payload Too Large"
S500="500 Internal Server Error"
B_OK='{"received":true}'
B_IGNORED='{"received":true,"ignored":true}'
B_DUPLICATE='{"received":true,"duplicate":true}'

# ---- TAP ----------------------------------------------------------------

T_N=0
T_FAILED=0

# diag MSG...: each message (each of its lines) as a TAP comment.
diag() {
	local msg line
	for msg in "$@"; do
		while IFS= read -r line; do
			printf '# %s\n' "$line"
		done <<<"$msg"
	done
}

# ok RC DESC: passes when RC is 0.
ok() {
	T_N=$((T_N + 1))
	if [ "$1" -eq 0 ]; then
		printf 'ok %d - %s\n' "$T_N" "$2"
		return 0
	fi
	T_FAILED=$((T_FAILED + 1))
	printf 'not ok %d - %s\n' "$T_N" "$2"
	return 1
}

# is GOT WANT DESC
is() {
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
		return 0
	fi
	ok 1 "$3"
	diag "got:  '$1'" "want: '$2'"
	return 1
}

# like GOT ERE DESC
like() {
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		ok 0 "$3"
		return 0
	fi
	ok 1 "$3"
	diag "got:  '$1'" "want to match: $2"
	return 1
}

skip() {
	T_N=$((T_N + 1))
	printf 'ok %d # SKIP %s\n' "$T_N" "$1"
}

tap_done() {
	printf '1..%d\n' "$T_N"
	[ "$T_FAILED" -eq 0 ]
	exit $?
}

# A failure to set up: the whole script fails with one clear line.
bail() {
	printf 'Bail out! %s\n' "$*"
	exit 1
}

# ---- workspace and processes ----------------------------------------------

W=
BG_PIDS=()

# What the binary wrote is kept, when the test ends, under
# $top_builddir/tests/logs/TEST/ (answers, logs, and the secrets used),
# for tests/secrets.sh to search and for a person to read.
keep_logs() {
	local dest=$top_builddir/tests/logs/$TEST_NAME
	rm -rf "$dest"
	mkdir -p "$dest/run" 2>/dev/null || return 0
	[ -d "$W/req" ] && cp -R "$W/req" "$dest/"
	cp "$W"/run/*.log "$dest/run/" 2>/dev/null
	cp "$W"/answers.all "$W"/secrets.list "$W"/stall.out "$W"/stall.err \
	    "$dest/" 2>/dev/null
	return 0
}

cleanup() {
	local p i
	for p in "${BG_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${BG_PIDS[@]}"; do
		for ((i = 0; i < 50; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "${W:-}" ] && [ -d "$W" ]; then
		keep_logs
		rm -rf "$W"
	fi
}
forget_pid() {
	local p keep=()
	for p in "${BG_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	BG_PIDS=("${keep[@]}")
}

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
	local limit=$(($1 * 10)) i
	shift
	for ((i = 0; i < limit; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

now_ms() {
	date +%s%3N
}

# A process that has exited (gone or a zombie).
pid_gone() {
	local st
	[ -r "/proc/$1/stat" ] || return 0
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

# write_secret FILE SECRET...: one per line, mode 0600.  Every secret is
# listed in $W/secrets.list, which the kept logs are searched for.
write_secret() {
	local f=$1
	shift
	: >"$f"
	chmod 0600 "$f"
	printf '%s\n' "$@" >"$f"
	printf '%s\n' "$@" >>"$W/secrets.list"
}

# base_conf: the common configuration.  CONF_SECRET_FILE and CONF_STATE
# override the secret file and state_dir.
base_conf() {
	cat <<EOF
# stripehook test configuration
secret_file ${CONF_SECRET_FILE:-$W/secret}
state_dir ${CONF_STATE:-none}
env MARK_DIR=$MARKS
env TEST_CONFIGURED=configured-value
on payment_intent.succeeded $H/record pi one two
on charge.dispute.* $H/record dispute
on balance.available $H/record balance
on customer.subscription.* $H/record subscription
on invoice.paid $H/record invoice
on checkout.session.completed $H/record checkout
on v1.billing.meter.* $H/record thin
on test.env $H/record env
on test.chain.ok $H/record first
on test.chain.* $H/record second
on test.chainfail.x $H/fail first
on test.chainfail.* $H/record second
on test.fail $H/fail fail
on test.signal $H/killself signal
on test.chatty $H/chatty chatty
on test.background $H/background background
on test.missing $H/does-not-exist
on test.noexec $H/noexec noexec
on test.timeout $H/sleeper sleeper
on test.stubborn $H/sleeper stubborn stubborn
on test.brackets[1] $H/record brackets
EOF
}

# write_conf NAME < TEXT: the configuration NAME, mode 0600.
write_conf() {
	local f=$W/conf/$1.conf
	: >"$f"
	chmod 0600 "$f"
	cat >"$f"
}

conf_path() {
	printf '%s/conf/%s.conf' "$W" "$1"
}

# ---- events and signatures ------------------------------------------------

# make_event FILE ID TYPE [LIVEMODE] [EXTRA]: a small snapshot event.
# EXTRA is inserted into data.object (starting with a comma).
make_event() {
	printf '{"id":"%s","object":"event","api_version":"2024-06-20","created":1735210000,"data":{"object":{"id":"obj_test_1","object":"test_object"%s}},"livemode":%s,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"type":"%s"}\n' \
	    "$2" "${5:-}" "${4:-false}" "$3" >"$1"
}

# make_event_size FILE SIZE ID TYPE: a valid event of exactly SIZE bytes.
make_event_size() {
	local f=$1 size=$2 base pad
	make_event "$f" "$3" "$4" false ',"pad":""'
	base=$(stat -c %s "$f")
	pad=$((size - base))
	[ "$pad" -ge 0 ] || bail "make_event_size: $size is too small"
	make_event "$f" "$3" "$4" false ",\"pad\":\"$(head -c "$pad" /dev/zero | tr '\0' x)\""
}

# sign_openssl SECRET T FILE: the lowercase hex HMAC-SHA256 of "T.BODY",
# computed by openssl, outside the code under test.
sign_openssl() {
	local out hex
	out=$(printf '%s.' "$2" | cat - "$3" | openssl dgst -sha256 -hmac "$1") ||
		bail "openssl dgst failed"
	hex=${out##*= }
	case $hex in
	*[!0-9a-f]* | "") bail "cannot parse openssl output: $out" ;;
	esac
	[ ${#hex} -eq 64 ] || bail "cannot parse openssl output: $out"
	printf '%s' "$hex"
}

# header_for FILE [T] [SECRET]: a Stripe-Signature value (T defaults to now).
header_for() {
	local t=${2:-$(date +%s)}
	printf 't=%s,v1=%s' "$t" "$(sign_openssl "${3:-$SECRET}" "$t" "$1")"
}

# ---- requests -------------------------------------------------------------

CONF=
FCGI_PID=
FCGI_SOCK=
FCGI_LOG=
FCGI_CONF=
FCGI_N=0
REQ_N=0
POST_KEEP_MARKS=0	# 1: do not clear the marks before the request
POST_ARGS=()		# CGI only: arguments given to the binary
POST_STDIN_BYTES=	# CGI only: N: the body is N zero bytes from a pipe;
A_WRITER_RC=		# then the pipe writer's exit status lands here
ANSWERS=		# $W/answers.all: every answer, for the global checks

# lib_setup: what every test that runs the binary starts with.  The
# workspace $W holds hooks/ (copies of tests/data/hooks with known modes),
# marks/ (what the hooks record), conf/, run/, req/, ev/, state/ (mode
# 0700), the secret files secret and secret2 (the rolled pair) and
# answers.all; the EXIT trap stops every process in BG_PIDS, keeps the
# logs and removes $W.
lib_setup() {
	local f
	set -u
	lib_paths
	W=$(mktemp -d "${TMPDIR:-/tmp}/stripehook-test.XXXXXX") ||
		bail "mktemp failed"
	trap cleanup EXIT
	trap 'exit 130' INT TERM HUP
	[ -x "$STRIPEHOOK" ] || bail "no binary at $STRIPEHOOK (build it first)"
	MARKS=$W/marks
	H=$W/hooks
	mkdir -p "$MARKS" "$H" "$W/conf" "$W/run" "$W/req" "$W/ev" \
	    "$W/state" || bail "cannot set up $W"
	chmod 0700 "$W/state"
	for f in "$DATA"/hooks/*; do
		cp "$f" "$H/" || bail "cannot copy $f"
	done
	chmod 0755 "$H"/*
	cp "$H/record" "$H/noexec"
	chmod 0644 "$H/noexec"
	write_secret "$W/secret" "$SECRET"
	write_secret "$W/secret2" "$SECRET" "$ROLLED_SECRET"
	ANSWERS=$W/answers.all
	: >"$ANSWERS"
}

# fcgi_start CONF: starts an instance on a new unix socket; sets FCGI_PID,
# FCGI_SOCK, FCGI_LOG.  The environment carries a canary that no hook may
# see.
fcgi_start() {
	FCGI_N=$((FCGI_N + 1))
	FCGI_SOCK=$W/run/fcgi$FCGI_N.sock
	FCGI_LOG=$W/run/fcgi$FCGI_N.log
	FCGI_CONF=$1
	: >"$FCGI_LOG"
	env -i PATH=/usr/bin:/bin STRIPEHOOK_TEST_CANARY=leaked-from-the-spawner \
	    spawn-fcgi -n -s "$FCGI_SOCK" -- "${RUN[@]}" -c "$1" \
	    </dev/null >>"$FCGI_LOG" 2>&1 &
	FCGI_PID=$!
	BG_PIDS+=("$FCGI_PID")
	wait_for 10 test -S "$FCGI_SOCK" ||
		bail "spawn-fcgi did not create $FCGI_SOCK: $(cat "$FCGI_LOG")"
}

# fcgi_stop [PID]: SIGTERM, then up to 10 s for it to exit.  Returns 1 if
# it had to be killed.
fcgi_stop() {
	local p=${1:-$FCGI_PID} rc=0
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null
	if ! wait_for $((10 * SLOW)) pid_gone "$p"; then
		kill -KILL "$p" 2>/dev/null
		rc=1
	fi
	wait "$p" 2>/dev/null
	forget_pid "$p"
	if [ "$p" = "$FCGI_PID" ]; then
		FCGI_PID=
		FCGI_CONF=
	fi
	return $rc
}

# use_conf NAME: the configuration for the next requests.  A FastCGI app
# reads its configuration at start, so a new one needs a new instance.
use_conf() {
	CONF=$(conf_path "$1")
	[ -f "$CONF" ] || bail "no configuration $1"
	if [ "$TRANSPORT" = fcgi ] && [ "$FCGI_CONF" != "$CONF" ]; then
		fcgi_stop "$FCGI_PID" ||
			diag "instance for $FCGI_CONF ignored SIGTERM"
		fcgi_start "$CONF"
	fi
}

clear_marks() {
	rm -rf "$MARKS"
	mkdir -p "$MARKS"
}

# post FILE HEADER [NAME=VALUE | -u NAME]...
# Sends FILE as the body with HEADER as Stripe-Signature through
# $TRANSPORT.  The CGI variables default to a POST of the whole file; the
# arguments override or (-u) remove them.  Sets:
#   A_RC       exit status (the binary's for CGI, cgi-fcgi's for FastCGI)
#   A_RAW      the whole answer file;  A_LOG  this request's log lines
#   A_STATUS   the Status header's value;  A_CTYPE, A_ALLOW  those headers
#   A_BODY     the body;  A_FORMAT  empty, or what is wrong with the answer
#   A_MS       milliseconds the request took
post() {
	local file=$1 hdr=$2 v name set kept=() vars off t0 st
	shift 2
	REQ_N=$((REQ_N + 1))
	vars=(
		"REQUEST_METHOD=POST"
		"CONTENT_LENGTH=$(stat -c %s "$file")"
		"HTTP_STRIPE_SIGNATURE=$hdr"
		"CONTENT_TYPE=application/json; charset=utf-8"
		"GATEWAY_INTERFACE=CGI/1.1"
		"SERVER_PROTOCOL=HTTP/1.1"
		"REMOTE_ADDR=127.0.0.1"
		"HTTP_X_REQUEST_ID=test-request-$REQ_N"
		"HTTP_X_CANARY=leaked-from-the-web-server"
	)
	[ "$TRANSPORT" = cgi ] && vars+=("STRIPEHOOK_CONFIG=$CONF")
	while [ $# -gt 0 ]; do
		if [ "$1" = -u ]; then
			name=$2 set=
			shift 2
		else
			name=${1%%=*} set=$1
			shift
		fi
		kept=()
		for v in "${vars[@]}"; do
			[ "${v%%=*}" = "$name" ] || kept+=("$v")
		done
		vars=("${kept[@]}")
		[ -z "$set" ] || vars+=("$set")
	done

	[ "$POST_KEEP_MARKS" = 1 ] || clear_marks
	A_RAW=$W/req/$REQ_N.out
	t0=$(now_ms)
	if [ "$TRANSPORT" = cgi ]; then
		if [ -n "$POST_STDIN_BYTES" ]; then
			head -c "$POST_STDIN_BYTES" /dev/zero |
				timeout -k 5 $((60 * SLOW)) env -i "${vars[@]}" \
				    "${RUN[@]}" "${POST_ARGS[@]}" \
				    >"$A_RAW" 2>"$W/req/$REQ_N.err"
			st=("${PIPESTATUS[@]}")
			A_WRITER_RC=${st[0]} A_RC=${st[1]}
		else
			timeout -k 5 $((60 * SLOW)) env -i "${vars[@]}" \
			    "${RUN[@]}" "${POST_ARGS[@]}" \
			    <"$file" >"$A_RAW" 2>"$W/req/$REQ_N.err"
			A_RC=$?
		fi
		A_MS=$(($(now_ms) - t0))
		A_LOG=$(cat "$W/req/$REQ_N.err")
	else
		off=$(stat -c %s "$FCGI_LOG")
		timeout -k 5 $((60 * SLOW)) env -i "${vars[@]}" \
		    cgi-fcgi -bind -connect "$FCGI_SOCK" \
		    <"$file" >"$A_RAW" 2>"$W/req/$REQ_N.err"
		A_RC=$?
		A_MS=$(($(now_ms) - t0))
		# The log line may follow the answer by a moment.
		wait_for $((5 * SLOW)) fcgi_log_has "$off" 'status=' || true
		A_LOG=$(tail -c +$((off + 1)) "$FCGI_LOG")
	fi
	cat "$A_RAW" >>"$ANSWERS"
	parse_answer "$A_RAW"
}

fcgi_log_has() {
	tail -c +$(($1 + 1)) "$FCGI_LOG" | grep -q -- "$2"
}

# parse_answer FILE: splits a CGI answer at the first CRLF CRLF.
parse_answer() {
	local raw head line
	raw=$(cat "$1"; printf x)
	raw=${raw%x}
	A_STATUS='' A_CTYPE='' A_ALLOW='' A_BODY='' A_FORMAT='' A_HEADERS=''
	case $raw in
	*$'\r\n\r\n'*) ;;
	"")
		A_FORMAT="empty answer"
		return
		;;
	*)
		A_FORMAT="no CRLF CRLF after the headers"
		return
		;;
	esac
	head=${raw%%$'\r\n\r\n'*}
	A_BODY=${raw#*$'\r\n\r\n'}
	A_HEADERS=$head
	while IFS= read -r line; do
		line=${line%$'\r'}
		case $line in
		[Ss]tatus:\ *) A_STATUS=${line#*: } ;;
		[Cc]ontent-[Tt]ype:\ *) A_CTYPE=${line#*: } ;;
		[Aa]llow:\ *) A_ALLOW=${line#*: } ;;
		esac
	done <<<"$head"
	[ -n "$A_STATUS" ] || A_FORMAT="no Status header"
}

# expect DESC STATUS BODY HOOKS: one TAP line for the last answer.
# HOOKS is "-" when no hook may have run, else the names of the hooks
# that ran, in order (their "runs" lines).
expect() {
	local desc=$1 status=$2 body=$3 hooks=$4 why=() ran code
	[ -z "$A_FORMAT" ] || why+=("malformed answer: $A_FORMAT")
	[ "$A_STATUS" = "$status" ] || why+=("status '$A_STATUS', want '$status'")
	[ "$A_BODY" = "$body" ] || why+=("body '$A_BODY', want '$body'")
	[ "$A_CTYPE" = application/json ] ||
		why+=("Content-Type '$A_CTYPE', want 'application/json'")
	code=${status%% *}
	if [ "$code" = 405 ]; then
		[ "$A_ALLOW" = POST ] || why+=("Allow '$A_ALLOW', want 'POST'")
	elif [ -n "$A_ALLOW" ]; then
		why+=("unexpected Allow header on $code")
	fi
	if [ "$TRANSPORT" = cgi ] && [ "$A_RC" -ne 0 ]; then
		why+=("exit status $A_RC, want 0")
	fi
	ran=$(tr '\n' ' ' 2>/dev/null <"$MARKS/runs")
	ran=${ran% }
	if [ "$hooks" = - ]; then
		[ -z "$ran" ] || why+=("hooks ran: '$ran', want none")
	else
		[ "$ran" = "$hooks" ] || why+=("hooks ran: '$ran', want '$hooks'")
	fi
	printf '%s\n' "$A_LOG" | grep -q -- "status=$code" ||
		why+=("no log line with status=$code")
	if [ ${#why[@]} -eq 0 ]; then
		ok 0 "$TRANSPORT: $desc"
		return 0
	fi
	ok 1 "$TRANSPORT: $desc"
	diag "${why[@]}"
	diag "answer headers: $(printf '%s' "$A_HEADERS" | tr '\r\n' '  ')"
	diag "log: $A_LOG"
	return 1
}

# The status line stripehook(8) REQUESTS gives for an error string.
status_of() {
	case $1 in
	"internal error" | "hook failed") echo "$S500" ;;
	"method not allowed") echo "$S405" ;;
	"length required") echo "$S411" ;;
	"body too large") echo "$S413" ;;
	"event in progress") echo "$S409" ;;
	*) echo "$S400" ;;
	esac
}

# expect_error DESC ERROR [HOOKS]: an error answer, and its log line has
# an error= token.
expect_error() {
	local rc=0
	expect "$1" "$(status_of "$2")" "{\"error\":\"$2\"}" "${3:--}" || rc=1
	if [ $rc -eq 0 ] && ! printf '%s\n' "$A_LOG" | grep -q 'error='; then
		diag "no error= in the log line: $A_LOG"
	fi
	return $rc
}

# tool ARGS...: an operator command, with nothing from the test's
# environment (a stray REQUEST_METHOD would make it a CGI program).
tool() {
	env -i PATH=/usr/bin:/bin "${RUN[@]}" "$@"
}

# The same through one transport, whatever $TRANSPORT says.
cgi_post() {
	local TRANSPORT=cgi
	post "$@"
}

fcgi_post() {
	local TRANSPORT=fcgi
	post "$@"
}
