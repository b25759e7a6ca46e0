# shellcheck shell=bash disable=SC2034
# (SC2034: the variables set here are read by lib.sh's helpers.)
# The request cases of stripehook(8) REQUESTS, written once and run through both
# transports: tests/cgi.sh and tests/fcgi.sh source lib.sh and this file
# and call run_all_cases.  Cases are grouped by configuration, since a
# FastCGI app reads its configuration once at start.

# ---- configurations -------------------------------------------------------

setup_confs() {
	local f
	base_conf | write_conf main
	{ base_conf; echo "max_body 4096"; } | write_conf small
	{ base_conf; echo "hook_timeout 1"; } | write_conf timeout
	{ base_conf; echo "livemode live"; } | write_conf live
	{ base_conf; echo "livemode test"; } | write_conf testmode
	CONF_STATE=$W/state base_conf | write_conf state
	CONF_SECRET_FILE=$W/secret2 base_conf | write_conf rolled
	write_secret "$W/secret-vec" webhook_secret "$SECRET"
	CONF_SECRET_FILE=$W/secret-vec base_conf | write_conf vectors

	# Row 1: unusable configurations and secret files.
	CONF_SECRET_FILE=$W/does-not-exist base_conf | write_conf nosecret
	write_secret "$W/secret-gw" "$SECRET"
	chmod 0620 "$W/secret-gw"
	CONF_SECRET_FILE=$W/secret-gw base_conf | write_conf gwsecret
	write_secret "$W/secret-or" "$SECRET"
	chmod 0604 "$W/secret-or"
	CONF_SECRET_FILE=$W/secret-or base_conf | write_conf orsecret
	write_secret "$W/secret-empty" "" ""
	CONF_SECRET_FILE=$W/secret-empty base_conf | write_conf emptysecret
	write_secret "$W/secret-space" "whsec_with space"
	CONF_SECRET_FILE=$W/secret-space base_conf | write_conf spacesecret
	{ base_conf; echo "bogus_key 1"; } | write_conf syntax
	{ base_conf; echo "tolerance 300"; echo "tolerance 60"; } |
		write_conf twice
	base_conf | sed 's|^secret_file .*|secret_file secret|' |
		write_conf relsecret
	base_conf | write_conf gwconf
	chmod 0620 "$(conf_path gwconf)"

	# Accepted variants: CRLF and blanks around the secret, a blank line,
	# a group-readable secret file (root:USER 0640 for serve), CRLF lines
	# and comments in the configuration.
	f=$W/secret-crlf
	: >"$f"
	chmod 0600 "$f"
	printf '\n  %s \r\n\n' "$SECRET" >"$f"
	CONF_SECRET_FILE=$f base_conf | write_conf crlfsecret
	write_secret "$W/secret-gr" "$SECRET"
	chmod 0640 "$W/secret-gr"
	CONF_SECRET_FILE=$W/secret-gr base_conf | write_conf grsecret
	{ echo "# leading comment"; base_conf; echo "tolerance 300 # trailing comment"; } |
		sed 's/$/\r/' | write_conf crlfconf
}

# ---- events used by several cases ----------------------------------------

setup_events() {
	make_event "$W/ev/unhandled.json" evt_test_unhandled test.unhandled
	make_event "$W/ev/fail.json" evt_test_fail test.fail
	make_event "$W/ev/signal.json" evt_test_signal test.signal
	make_event "$W/ev/missing.json" evt_test_missing test.missing
	make_event "$W/ev/noexec.json" evt_test_noexec test.noexec
	make_event "$W/ev/chain.json" evt_test_chain test.chain.ok
	make_event "$W/ev/chainfail.json" evt_test_chainfail test.chainfail.x
	make_event "$W/ev/background.json" evt_test_background test.background
	make_event "$W/ev/timeout.json" evt_test_timeout test.timeout
	make_event "$W/ev/stubborn.json" evt_test_stubborn test.stubborn
	make_event "$W/ev/brackets.json" evt_test_brackets 'test.brackets[1]'
	make_event "$W/ev/pi-live.json" evt_test_live payment_intent.succeeded true
	make_event_size "$W/ev/chatty.json" 921600 evt_test_chatty test.chatty
}

# post_signed FILE [NAME=VALUE | -u NAME]...: post with a fresh valid
# signature.
post_signed() {
	local f=$1
	shift
	post "$f" "$(header_for "$f")" "$@"
}

# ---- internal error: the configuration unusable -----------------------------

cases_config_errors() {
	local c desc
	for c in nosecret:"secret file missing" \
	    gwsecret:"secret file group-writable" \
	    orsecret:"secret file readable by others" \
	    emptysecret:"secret file holds no secret" \
	    spacesecret:"secret holds a blank" \
	    syntax:"unknown configuration key" \
	    twice:"single-value key given twice" \
	    relsecret:"relative secret_file path" \
	    gwconf:"configuration file group-writable"; do
		desc=${c#*:}
		use_conf "${c%%:*}"
		post_signed "$PI_EVENT"
		expect_error "internal error: $desc: 500 and no hook" "internal error"
	done
	use_conf syntax
	post_signed "$PI_EVENT" REQUEST_METHOD=GET
	expect_error "internal error comes before method not allowed: GET with a bad configuration" \
	    "internal error"

	for c in crlfsecret:"secret with CR and blanks, blank lines" \
	    grsecret:"group-readable secret file (0640)" \
	    crlfconf:"configuration with CRLF lines and comments"; do
		use_conf "${c%%:*}"
		post_signed "$PI_EVENT"
		expect "accepted: ${c#*:}" "$S200" "$B_OK" pi
	done
}

# ---- method not allowed to invalid event type, and the hooks --------------

cases_transport_rows() {
	local f=$PI_EVENT size m v
	size=$(stat -c %s "$f")
	use_conf main

	# Row 2.
	for m in GET HEAD PUT post; do
		post_signed "$f" REQUEST_METHOD=$m
		expect_error "method not allowed: method $m" "method not allowed"
	done
	post_signed "$f" REQUEST_METHOD=GET -u CONTENT_LENGTH
	expect_error "method not allowed before length required: GET without CONTENT_LENGTH" \
	    "method not allowed"

	# Row 3.
	post_signed "$f" -u CONTENT_LENGTH
	expect_error "length required: no CONTENT_LENGTH" "length required"
	post_signed "$f" CONTENT_LENGTH=
	expect_error "length required: empty CONTENT_LENGTH" "length required"

	# Row 4.
	for v in 12a -1 " 5" +5 "5 " 0x10 "3.0"; do
		post_signed "$f" "CONTENT_LENGTH=$v"
		expect_error "bad content length: CONTENT_LENGTH '$v'" "bad content length"
	done
	post "$f" "" "CONTENT_LENGTH=12a" -u HTTP_STRIPE_SIGNATURE
	expect_error "bad content length before missing signature: bad length and no signature" \
	    "bad content length"

	# Row 5.
	for v in 99999999999999999999999 18446744073709551617 1048577; do
		post_signed "$f" "CONTENT_LENGTH=$v"
		expect_error "body too large: CONTENT_LENGTH $v over max_body" \
		    "body too large"
	done
	head -c 1048577 /dev/zero >"$W/ev/big.bin"
	post "$W/ev/big.bin" "$(header_for "$W/ev/big.bin")"
	expect_error "body too large: a body of max_body + 1 bytes" "body too large"

	# Row 6.
	post_signed "$f" "CONTENT_LENGTH=$((size + 10))"
	expect_error "incomplete body: body 10 bytes shorter than CONTENT_LENGTH" \
	    "incomplete body"
	: >"$W/ev/empty"
	post "$W/ev/empty" "$(header_for "$f")" "CONTENT_LENGTH=$size"
	expect_error "incomplete body: no body at all" "incomplete body"
}

cases_signature_rows() {
	local f=$PI_EVENT t v1 h pad items i
	use_conf main
	t=$(date +%s)
	v1=$(sign_openssl "$SECRET" "$t" "$f")

	post "$f" "t=$t,v1=$v1"
	expect "a valid signature" "$S200" "$B_OK" pi

	# Row 7.
	post "$f" "" -u HTTP_STRIPE_SIGNATURE
	expect_error "missing signature: no Stripe-Signature" "missing signature"
	post "$f" ""
	expect_error "missing signature: empty Stripe-Signature" "missing signature"

	# Row 8.
	for h in "t=abc,v1=$v1" "t=$t,t=$t,v1=$v1" "t=$t,v1=$v1,garbage" \
	    "v1=$v1" "t=0$t,v1=$v1" "t=1234567890123456789,v1=$v1" \
	    "t=-$t,v1=$v1" "t= $t,v1=$v1" "t=$t ,v1=$v1" "t=$t,,v1=$v1" \
	    "t=$t,v1=$v1," "t=,v1=$v1" "t,v1=,v0=" "t,v1=,v0" "t,v1=," "t,," \
	    ",," "t" "i'm not even a real signature header"; do
		post "$f" "$h"
		expect_error "malformed signature: malformed '${h:0:40}'" "malformed signature"
	done
	h="t=$t,v1=$v1,v0="
	pad=$((8193 - ${#h}))
	h=$h$(head -c "$pad" /dev/zero | tr '\0' a)
	post "$f" "$h"
	expect_error "malformed signature: header of 8193 bytes" "malformed signature"
	post "$f" "${h:0:8192}"
	expect "malformed signature: header of 8192 bytes is accepted" "$S200" "$B_OK" pi
	items="t=$t,v1=$v1"
	for ((i = 2; i < 64; i++)); do
		items="$items,v0=$i"
	done
	post "$f" "$items"
	expect "malformed signature: 64 items are accepted" "$S200" "$B_OK" pi
	post "$f" "$items,v0=64"
	expect_error "malformed signature: 65 items" "malformed signature"

	# Row 9.
	for h in "t=123,v0=abc" "t=$t" "t=$t, v1=$v1" "t=$t,V1=$v1" \
	    "t=$t,v2=$v1"; do
		post "$f" "$h"
		expect_error "no v1 signature: no v1 in '${h:0:40}'" "no v1 signature"
	done

	# Row 10.
	post "$f" "$(header_for "$f" "$t" whsec_wrong_secret)"
	expect_error "signature mismatch: signed with another secret" "signature mismatch"
	post "$f" "$(header_for "$f" "$t" test_secret)"
	expect_error "signature mismatch: signed with the secret without whsec_" \
	    "signature mismatch"
	sed '0,/Jenny/s//Jennz/' "$f" >"$W/ev/tampered.json"
	cmp -s "$f" "$W/ev/tampered.json" && bail "tampering did nothing"
	post "$W/ev/tampered.json" "t=$t,v1=$v1"
	expect_error "signature mismatch: body changed by one byte" "signature mismatch"
	head -c -1 "$f" >"$W/ev/trimmed.json"
	post "$f" "$(header_for "$W/ev/trimmed.json" "$t")"
	expect_error "signature mismatch: signature of the body without its last newline" \
	    "signature mismatch"
	post "$f" "t=$((t - 1)),v1=$v1"
	expect_error "signature mismatch: v1 computed for another timestamp" \
	    "signature mismatch"
	post "$f" "t=$t,v1=$(printf '%s' "$v1" | tr a-f A-F)"
	expect_error "signature mismatch: v1 in uppercase hex" "signature mismatch"
	post "$f" "t=$t,v1=${v1:0:63}"
	expect_error "signature mismatch: v1 of 63 characters" "signature mismatch"
	post "$f" "t=$t,v1=${v1}0"
	expect_error "signature mismatch: v1 of 65 characters" "signature mismatch"
	post "$f" "t=$t,v0=$v1"
	expect_error "no v1 signature: the right HMAC as v0 only" "no v1 signature"
	post "$f" "t=$t,v1=$(printf '%064d' 0),v1=$v1"
	expect "signature mismatch: any v1 may match (second of two)" "$S200" "$B_OK" pi
	post "$f" "t=$t,v0=$(printf '%064d' 0),v1=$v1,future=x"
	expect "other schemes are ignored" "$S200" "$B_OK" pi

	# Row 11.
	post "$f" "$(header_for "$f" $(($(date +%s) - 301)))"
	expect_error "timestamp outside tolerance: timestamp 301 s old" "timestamp outside tolerance"
	post "$f" "$(header_for "$f" $(($(date +%s) + 305)))"
	expect_error "timestamp outside tolerance: timestamp 305 s ahead" \
	    "timestamp outside tolerance"
	post "$f" "$(header_for "$f" $(($(date +%s) - 290)))"
	expect "timestamp outside tolerance: timestamp 290 s old is accepted" "$S200" "$B_OK" pi
	post "$f" "$(header_for "$f" $(($(date +%s) - 1000)) whsec_wrong)"
	expect_error "timestamp outside tolerance after signature mismatch: stale and wrong" "signature mismatch"
}

# json_case DESC ERROR CONTENT: CONTENT (as is) signed correctly; ERROR is
# the expected error string, or "ok" for 200 with no hook.
# json_bin_case: the same, CONTENT through printf %b (\0, \xHH, \n).
json_case() {
	local f=$W/ev/json.$T_N
	printf '%s' "$3" >"$f"
	json_post "$@"
}

json_bin_case() {
	local f=$W/ev/json.$T_N
	printf '%b' "$3" >"$f"
	json_post "$@"
}

json_post() {
	post_signed "$W/ev/json.$T_N"
	if [ "$2" = ok ]; then
		expect "$1" "$S200" "$B_OK" -
	else
		expect_error "$1" "$2"
	fi
}

cases_event_rows() {
	local ev='{"id":"evt_test_json","object":"event","type":"test.unhandled"}'
	local id255 id256
	use_conf main

	# Row 12.
	json_case "invalid json: trailing garbage" "invalid json" "$ev x"
	json_case "invalid json: a second value" "invalid json" "$ev$ev"
	json_bin_case "invalid json: NUL byte after the value" "invalid json" "$ev\\0{}"
	json_bin_case "invalid json: NUL byte inside a string" "invalid json" \
	    '{"id":"evt_test_json","object":"event","type":"test.unhandled","x":"a\0b"}'
	json_bin_case "invalid json: invalid UTF-8 in a string" "invalid json" \
	    '{"id":"evt_test_json","object":"event","type":"test.unhandled","x":"\xff\xfe"}'
	json_bin_case "invalid json: overlong UTF-8" "invalid json" \
	    '{"id":"evt_test_json","object":"event","type":"test.unhandled","x":"\xc0\xaf"}'
	json_case "invalid json: a lone [" "invalid json" "["
	json_case "invalid json: truncated object" "invalid json" '{"id":"evt_test_json"'
	json_case "invalid json: block comment" "invalid json" "/* c */ $ev"
	json_bin_case "invalid json: line comment" "invalid json" "// c\\n$ev"
	json_case "invalid json: single quotes" "invalid json" \
	    "{'id':'evt_test_json','object':'event','type':'test.unhandled'}"
	json_case "invalid json: trailing comma" "invalid json" \
	    '{"id":"evt_test_json","object":"event","type":"test.unhandled",}'
	json_case "invalid json: NaN" "invalid json" \
	    '{"id":"evt_test_json","object":"event","type":"test.unhandled","n":NaN}'
	json_bin_case "invalid json: raw control byte in a string" "invalid json" \
	    '{"id":"evt_test_json","object":"event","type":"test.unhandled","x":"a\001b"}'
	json_case "invalid json: empty body" "invalid json" ""
	json_bin_case "invalid json: whitespace only" "invalid json" " \\n"
	json_case "invalid json: nesting 100 deep" "invalid json" \
	    "{\"id\":\"evt_test_json\",\"object\":\"event\",\"type\":\"test.unhandled\",\"x\":$(printf '%.0s[' {1..100})$(printf '%.0s]' {1..100})}"
	json_case "nesting 10 deep is fine" ok \
	    "{\"id\":\"evt_test_json\",\"object\":\"event\",\"type\":\"test.unhandled\",\"x\":$(printf '%.0s[' {1..10})$(printf '%.0s]' {1..10})}"
	json_bin_case "whitespace after the value is fine" ok "$ev \\r\\n\\t\\n"
	json_case "duplicate keys: the last wins" ok \
	    '{"id":"evt_test_json","object":"event","type":"test.fail","type":"test.unhandled"}'

	# Row 13.
	json_case "not an event: an array" "not an event" "[]"
	json_case "not an event: null" "not an event" "null"
	json_case "not an event: a string" "not an event" '"evt_test_json"'
	json_case "not an event: a number" "not an event" "42"
	json_case "not an event: no type" "not an event" \
	    '{"id":"evt_test_json","object":"event"}'
	json_case "not an event: no id" "not an event" \
	    '{"object":"event","type":"test.unhandled"}'
	json_case "not an event: no object" "not an event" \
	    '{"id":"evt_test_json","type":"test.unhandled"}'
	json_case "not an event: object customer" "not an event" \
	    '{"id":"cus_test","object":"customer","type":"test.unhandled"}'
	json_case "not an event: numeric id" "not an event" \
	    '{"id":12345,"object":"event","type":"test.unhandled"}'
	json_case "not an event: type an array" "not an event" \
	    '{"id":"evt_test_json","object":"event","type":["test.unhandled"]}'

	# Row 14.
	id255=$(head -c 255 /dev/zero | tr '\0' a)
	id256=${id255}b
	for id in 'evt/1' '..' '' 'evt 1' 'evt\n1' 'evt.1' "$id256" 'evt\u00e91' \
	    'evt\u00001' 'évt1'; do
		json_case "invalid event id: id '${id:0:20}' (${#id} chars)" "invalid event id" \
		    "{\"id\":\"$id\",\"object\":\"event\",\"type\":\"test.unhandled\"}"
	done
	json_case "invalid event id: id of 255 characters is fine" ok \
	    "{\"id\":\"$id255\",\"object\":\"event\",\"type\":\"test.unhandled\"}"
	json_case "invalid event id: id with _ and - is fine" ok \
	    '{"id":"evt_Test-09_z","object":"event","type":"test.unhandled"}'

	# Row 15.
	for ty in Payment_intent.succeeded 'x;touch /tmp/stripehook-pwned' \
	    "\$(id)" '' 'a-b' 'a b' 'a/b' "$id256" 'a\nb'; do
		json_case "invalid event type: type '${ty:0:20}' (${#ty} chars)" \
		    "invalid event type" \
		    "{\"id\":\"evt_test_json\",\"object\":\"event\",\"type\":\"$ty\"}"
	done
	json_case "invalid event type: type of 255 characters is fine" ok \
	    "{\"id\":\"evt_test_json\",\"object\":\"event\",\"type\":\"$id255\"}"
	post_signed "$W/ev/brackets.json"
	expect "invalid event type: [ ] are literal in a type and a pattern" "$S200" \
	    "$B_OK" brackets

	# No hook matches.
	post_signed "$W/ev/unhandled.json"
	expect "no hook matches: received, nothing ran" "$S200" "$B_OK" -
	printf '%s\n' "$A_LOG" | grep -q evt_test_unhandled
	ok $? "$TRANSPORT: the unhandled event's id is logged"
}

# check_env NAME VAR=VALUE...: the hook NAME's environment had exactly
# these values; VAR= (empty) means absent.
check_env() {
	local name=$1 kv var want got why=()
	shift
	for kv in "$@"; do
		var=${kv%%=*}
		want=${kv#*=}
		got=$(grep -m1 "^$var=" "$MARKS/$name.env")
		got=${got#*=}
		if [ -z "$want" ]; then
			grep -q "^$var=" "$MARKS/$name.env" &&
				why+=("$var is set ('$got'), want absent")
		elif [ "$got" != "$want" ]; then
			why+=("$var='$got', want '$want'")
		fi
	done
	if [ ${#why[@]} -eq 0 ]; then
		return 0
	fi
	diag "${why[@]}"
	return 1
}

cases_success() {
	local f=$PI_EVENT e name extra sigs key mask
	use_conf main

	post_signed "$f"
	expect "success: 200, the hook ran" "$S200" "$B_OK" pi
	cmp -s "$f" "$MARKS/pi.stdin"
	ok $? "$TRANSPORT: the hook got the payload byte for byte on stdin"
	check_env pi "STRIPE_EVENT_ID=$PI_ID" \
	    STRIPE_EVENT_TYPE=payment_intent.succeeded \
	    STRIPE_EVENT_OBJECT=event STRIPE_LIVEMODE=false \
	    STRIPE_CREATED=1735210000 STRIPE_API_VERSION=2024-06-20 \
	    "STRIPE_OBJECT_ID=$PI_OBJECT_ID" STRIPE_OBJECT_TYPE=payment_intent \
	    STRIPE_ACCOUNT= \
	    TEST_CONFIGURED=configured-value "MARK_DIR=$MARKS" \
	    PATH=/usr/local/bin:/usr/bin:/bin
	ok $? "$TRANSPORT: the hook's STRIPE_* variables, env lines and PATH"
	check_env pi HTTP_STRIPE_SIGNATURE= REQUEST_METHOD= CONTENT_LENGTH= \
	    STRIPEHOOK_CONFIG= GATEWAY_INTERFACE= REMOTE_ADDR= CONTENT_TYPE= \
	    HTTP_X_CANARY= HTTP_X_REQUEST_ID= SERVER_PROTOCOL= \
	    STRIPEHOOK_TEST_CANARY=
	ok $? "$TRANSPORT: nothing from the web server in the hook's environment"
	extra=$(sed 's/=.*//' "$MARKS/pi.env" |
		grep -Ev '^(STRIPE_[A-Z_]+|PATH|MARK_DIR|TEST_CONFIGURED|PWD|OLDPWD|SHLVL|_)$')
	is "$extra" "" "$TRANSPORT: no other variable in the hook's environment"
	! grep -q "$SECRET" "$MARKS/pi.env"
	ok $? "$TRANSPORT: the secret is not in the hook's environment"
	is "$(cat "$MARKS/pi.argv")" "$H/record
pi
one
two" "$TRANSPORT: the hook's argv is the on line's words"
	is "$(cat "$MARKS/pi.cwd")" / "$TRANSPORT: the hook runs in /"
	is "$(tr '\n' ' ' <"$MARKS/pi.fds")" "0 1 2 3 " \
	    "$TRANSPORT: the hook has only fds 0-2 (3 is ls's own)" ||
		diag "$(cat "$MARKS/pi.fdl")"
	# Signals 32 and 33 are glibc's own (sigaction refuses them), so an
	# ignored disposition inherited from the test's parent stays: mask
	# them out.
	sigs=
	while read -r key mask; do
		sigs="$sigs$key $((0x$mask & ~0x180000000)) "
	done <"$MARKS/pi.sig"
	is "$sigs" "SigBlk: 0 SigIgn: 0 " \
	    "$TRANSPORT: the hook's signal mask and ignored set are empty" ||
		diag "$(cat "$MARKS/pi.sig")"
	like "$A_LOG" "status=200" "$TRANSPORT: the log line has status=200"
	like "$A_LOG" "$PI_ID" "$TRANSPORT: the log has the event id"
	like "$A_LOG" "HOOK-OUTPUT-CANARY stdout pi" \
	    "$TRANSPORT: the hook's stdout goes to the log"
	like "$A_LOG" "HOOK-OUTPUT-CANARY stderr pi" \
	    "$TRANSPORT: the hook's stderr goes to the log"

	# Every canned event reaches its hook.
	for e in charge.dispute.created:dispute balance.available:balance \
	    customer.subscription.created:subscription invoice.paid:invoice \
	    checkout.session.completed:checkout \
	    v1.billing.meter.error_report_triggered:thin; do
		name=${e#*:}
		post_signed "$EVENTS/${e%%:*}.json"
		expect "canned ${e%%:*} runs its hook" "$S200" "$B_OK" "$name"
		cmp -s "$EVENTS/${e%%:*}.json" "$MARKS/$name.stdin"
		ok $? "$TRANSPORT: ${e%%:*}: payload byte for byte"
	done
	check_env thin "STRIPE_EVENT_ID=$THIN_ID" \
	    STRIPE_EVENT_TYPE=v1.billing.meter.error_report_triggered \
	    STRIPE_EVENT_OBJECT=v2.core.event STRIPE_LIVEMODE=false \
	    STRIPE_CREATED=2024-12-30T10:15:42.123Z STRIPE_API_VERSION= \
	    STRIPE_OBJECT_ID=mtr_test_61RTestMeter000001 \
	    STRIPE_OBJECT_TYPE=billing.meter STRIPE_ACCOUNT=
	ok $? "$TRANSPORT: a thin event's hook environment"

	# Values that do not fit are left out; account is passed.
	printf '%s' '{"id":"evt_test_env","object":"event","account":"acct_1TestConnected01","api_version":"' >"$W/ev/env.json"
	head -c 300 /dev/zero | tr '\0' v >>"$W/ev/env.json"
	printf '%s\n' '","created":1735210000,"data":{"object":{"id":"obj\nwith newline","object":"thing"}},"livemode":true,"type":"test.env"}' >>"$W/ev/env.json"
	post_signed "$W/ev/env.json"
	expect "hook environment edge cases: 200" "$S200" "$B_OK" env
	check_env env STRIPE_ACCOUNT=acct_1TestConnected01 STRIPE_LIVEMODE=true \
	    STRIPE_API_VERSION= STRIPE_OBJECT_ID= STRIPE_OBJECT_TYPE=thing
	ok $? "$TRANSPORT: account passed; values with control bytes or over 255 bytes left out"

	# Two hooks in file order.
	post_signed "$W/ev/chain.json"
	expect "two matching hooks run in file order" "$S200" "$B_OK" \
	    "first second"
	grep -qx first.ran "$MARKS/second.before"
	ok $? "$TRANSPORT: the second hook started after the first finished"
	post_signed "$W/ev/chainfail.json"
	expect_error "the first hook fails: the second does not run" \
	    "hook failed" first
}

cases_hook_failures() {
	local t0 el
	use_conf main
	post_signed "$W/ev/fail.json"
	expect_error "hook failed: hook exits 1" "hook failed" fail
	post_signed "$W/ev/signal.json"
	expect_error "hook failed: hook killed by SIGKILL" "hook failed" signal
	post_signed "$W/ev/missing.json"
	expect_error "hook failed: hook program missing" "hook failed"
	post_signed "$W/ev/noexec.json"
	expect_error "hook failed: hook program not executable" "hook failed"

	post_signed "$W/ev/chatty.json"
	expect "a hook writing 2 MiB before reading a 900 KiB payload" \
	    "$S200" "$B_OK" chatty
	cmp -s "$W/ev/chatty.json" "$MARKS/chatty.stdin"
	ok $? "$TRANSPORT: the chatty hook got the whole payload"
	[ "$(printf '%s' "$A_LOG" | wc -c)" -lt 262144 ]
	ok $? "$TRANSPORT: a hook's output is cut in the log (64 KiB a run)" ||
		diag "log of $(printf '%s' "$A_LOG" | wc -c) bytes"

	t0=$(now_ms)
	post_signed "$W/ev/background.json"
	el=$(($(now_ms) - t0))
	expect "a background child holding the hook's pipes" "$S200" "$B_OK" \
	    background
	[ "$el" -lt $((10000 * SLOW)) ]
	ok $? "$TRANSPORT: ... does not hold the answer (${el} ms)"
	[ -s "$MARKS/background.pids" ] && kill "$(cat "$MARKS/background.pids")" 2>/dev/null
}

cases_timeout() {
	local el pids p gone
	use_conf timeout
	post_signed "$W/ev/timeout.json"
	el=$A_MS
	expect_error "hook failed: hook timeout (hook_timeout 1)" "hook failed" sleeper
	[ "$el" -ge 900 ] && [ "$el" -lt $((8000 * SLOW)) ]
	ok $? "$TRANSPORT: timeout answered after 1 s, within bounds (${el} ms)"
	pids=$(cat "$MARKS/sleeper.pids" 2>/dev/null)
	gone=0
	for p in $pids; do
		wait_for 5 pid_gone "$p" || gone=1
	done
	[ -n "$pids" ] && [ $gone -eq 0 ]
	ok $? "$TRANSPORT: the timed-out hook and its child are gone"

	post_signed "$W/ev/stubborn.json"
	el=$A_MS
	expect_error "hook failed: hook ignoring SIGTERM" "hook failed" stubborn
	[ "$el" -ge 2500 ] && [ "$el" -lt $((12000 * SLOW)) ]
	ok $? "$TRANSPORT: SIGKILL 2 s after SIGTERM (${el} ms)"
	pids=$(cat "$MARKS/stubborn.pids" 2>/dev/null)
	gone=0
	for p in $pids; do
		wait_for 5 pid_gone "$p" || gone=1
	done
	[ -n "$pids" ] && [ $gone -eq 0 ]
	ok $? "$TRANSPORT: the stubborn hook's process group is gone"
	post_signed "$PI_EVENT"
	expect "the next request after a timeout is served" "$S200" "$B_OK" pi
}

cases_small() {
	use_conf small
	make_event_size "$W/ev/4096.json" 4096 evt_test_4096 test.unhandled
	make_event_size "$W/ev/4097.json" 4097 evt_test_4097 test.unhandled
	post_signed "$W/ev/4096.json"
	expect "body too large: a body of exactly max_body (4096) is accepted" \
	    "$S200" "$B_OK" -
	post_signed "$W/ev/4097.json"
	expect_error "body too large: max_body + 1 (4097)" "body too large"
}

cases_vectors() {
	local v=$SHARED_VECTORS
	use_conf vectors
	post "$v/dotnet-event_test_signature.json" \
	    "t=1533204620,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7"
	expect_error "stripe-dotnet vector matches (then is stale)" \
	    "timestamp outside tolerance"
	post "$v/dotnet-event_test_signature.json" \
	    "t=1533204620,v1=8c506d7d19ece69e9a38e398964787dda54eeb2583381ffc7f56070c28d7f119"
	expect_error "stripe-dotnet vector: the trimmed body's v1 does not match" \
	    "signature mismatch"
	post "$v/python-php-dummy-payload.json" \
	    "t=12345,v1=07b1ede164afb7b5de91267ffa656f568c65d6e0783ce0ac55ee094643578eda"
	expect_error "stripe-python vector matches (then is stale)" \
	    "timestamp outside tolerance"
	post "$v/python-php-dummy-payload.json" \
	    "t=12345,v1=9a08738f5a7e17753f8d538b41a195c18c97368138af8f25b21e174aab387d17"
	expect_error "stripe-python vector: the prefix-stripped secret's v1" \
	    "signature mismatch"
}

cases_rolled() {
	local f=$PI_EVENT t
	use_conf rolled
	t=$(date +%s)
	post "$f" "$(header_for "$f" "$t" "$ROLLED_SECRET")"
	expect "two secrets: the second one verifies" "$S200" "$B_OK" pi
	post "$f" "$(header_for "$f" "$t" "$SECRET")"
	expect "two secrets: the first one verifies" "$S200" "$B_OK" pi
	post "$f" "t=$t,v1=$(sign_openssl "$SECRET" "$t" "$f"),v1=$(sign_openssl "$ROLLED_SECRET" "$t" "$f")"
	expect "two secrets: a rolling header with both" "$S200" "$B_OK" pi
	post "$f" "$(header_for "$f" "$t" whsec_neither)"
	expect_error "two secrets: neither" "signature mismatch"
}

cases_livemode() {
	use_conf live
	post_signed "$PI_EVENT"
	expect "livemode ignored: livemode live, test event: ignored" "$S200" \
	    "$B_IGNORED" -
	post_signed "$W/ev/pi-live.json"
	expect "livemode live, live event: runs" "$S200" "$B_OK" pi
	use_conf testmode
	post_signed "$W/ev/pi-live.json"
	expect "livemode ignored: livemode test, live event: ignored" "$S200" \
	    "$B_IGNORED" -
	post_signed "$PI_EVENT"
	expect "livemode test, test event: runs" "$S200" "$B_OK" pi
}

cases_state() {
	use_conf state
	post_signed "$PI_EVENT"
	expect "state_dir: first delivery runs the hook" "$S200" "$B_OK" pi
	POST_KEEP_MARKS=1
	post_signed "$PI_EVENT"
	expect "state_dir: redelivery is a duplicate, the hook ran once" \
	    "$S200" "$B_DUPLICATE" pi
	POST_KEEP_MARKS=0
	post_signed "$W/ev/unhandled.json"
	POST_KEEP_MARKS=1
	post_signed "$W/ev/unhandled.json"
	POST_KEEP_MARKS=0
	expect "state_dir: an unhandled event is not recorded" "$S200" \
	    "$B_OK" -
}

# ---- CGI only ---------------------------------------------------------------

cases_cgi_only() {
	use_conf main
	POST_ARGS=(foo bar)
	post_signed "$PI_EVENT"
	expect "CGI ignores arguments (foo bar)" "$S200" "$B_OK" pi
	POST_ARGS=(-c /nonexistent/stripehook.conf)
	post_signed "$PI_EVENT"
	expect "CGI ignores arguments (-c FILE)" "$S200" "$B_OK" pi
	POST_ARGS=(sign --timestamp 1)
	post_signed "$PI_EVENT"
	expect "CGI ignores arguments (sign)" "$S200" "$B_OK" pi
	POST_ARGS=()

	post_signed "$PI_EVENT" -u REQUEST_METHOD
	expect_error "CGI by GATEWAY_INTERFACE alone, no method" \
	    "method not allowed"
	post_signed "$PI_EVENT" -u GATEWAY_INTERFACE
	expect "CGI by REQUEST_METHOD alone" "$S200" "$B_OK" pi
	post_signed "$PI_EVENT" "STRIPEHOOK_CONFIG=$W/conf/missing.conf"
	expect_error "STRIPEHOOK_CONFIG names a missing file" "internal error"

	# Early answers drain stdin: a writer of 1 MiB must not see EPIPE.
	POST_STDIN_BYTES=1048577
	post /dev/null "t=1,v1=x" CONTENT_LENGTH=1048577
	expect_error "drain: 413 with 1 MiB on a pipe" "body too large"
	is "$A_WRITER_RC" 0 "cgi: ... the writer was not cut off"
	POST_STDIN_BYTES=1048576
	post /dev/null "t=1,v1=x" CONTENT_LENGTH=1048576 REQUEST_METHOD=GET
	expect_error "drain: 405 with 1 MiB on a pipe" "method not allowed"
	is "$A_WRITER_RC" 0 "cgi: ... the writer was not cut off"
	post /dev/null "t=1,v1=x" CONTENT_LENGTH=12a
	expect_error "drain: 400 bad content length with 1 MiB on a pipe" \
	    "bad content length"
	is "$A_WRITER_RC" 0 "cgi: ... the writer was not cut off"
	post /dev/null "t=1,v1=x" CONTENT_LENGTH=1048576 \
	    "STRIPEHOOK_CONFIG=$W/conf/missing.conf"
	expect_error "drain: 500 bad configuration with 1 MiB on a pipe" \
	    "internal error"
	is "$A_WRITER_RC" 0 "cgi: ... the writer was not cut off"
	POST_STDIN_BYTES=
}

# ---- FastCGI only -----------------------------------------------------------

fd_count() {
	find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l
}

rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

cases_fcgi_only() {
	local i bad=0 fd20 rss20 fd200 rss200 h t0 ok_new
	use_conf main
	post_signed "$PI_EVENT" "STRIPEHOOK_CONFIG=$(conf_path nosecret)"
	expect "a STRIPEHOOK_CONFIG parameter is ignored" "$S200" "$B_OK" pi

	# 200 requests to one instance: every answer right, no fd or memory
	# growth between the 20th and the 200th.
	for ((i = 1; i <= 200; i++)); do
		h=$(header_for "$PI_EVENT")
		case $((i % 3)) in
		0)
			post "$PI_EVENT" "$h"
			[ "$A_STATUS|$A_BODY" = "$S200|$B_OK" ] || bad=$((bad + 1))
			;;
		1)
			post "$PI_EVENT" "${h%%,*},v1=$(printf '%064d' 0)"
			[ "$A_STATUS|$A_BODY" = "$S400|{\"error\":\"signature mismatch\"}" ] ||
				bad=$((bad + 1))
			;;
		2)
			post_signed "$W/ev/unhandled.json"
			[ "$A_STATUS|$A_BODY" = "$S200|$B_OK" ] || bad=$((bad + 1))
			;;
		esac
		if [ $i -eq 20 ]; then
			fd20=$(fd_count "$FCGI_PID")
			rss20=$(rss_kb "$FCGI_PID")
		fi
		# A broken build must not take hours here.
		if [ $bad -ge 5 ]; then
			diag "stopped after $bad wrong answers in $i requests;" \
			    "the last: $A_STATUS $A_BODY"
			break
		fi
	done
	fd200=$(fd_count "$FCGI_PID")
	rss200=$(rss_kb "$FCGI_PID")
	is "$bad" 0 "fcgi: 200 requests to one instance, all answered right"
	if [ "$i" -le 200 ]; then
		ok 1 "fcgi: open fds after 200 requests (not reached)"
		ok 1 "fcgi: RSS after 200 requests (not reached)"
	elif [ -n "${STRIPEHOOK_VALGRIND:-}${STRIPEHOOK_SANITIZED:-}" ]; then
		is "$fd200" "$fd20" "fcgi: open fds after 200 requests = after 20"
		skip "RSS under valgrind or the sanitizers"
	else
		is "$fd200" "$fd20" "fcgi: open fds after 200 requests = after 20"
		[ "$rss200" -le $((rss20 + 512)) ]
		ok $? "fcgi: RSS after 200 requests within 512 KiB of after 20 ($rss20 -> $rss200 KiB)"
	fi
	is "$(ps --ppid "$FCGI_PID" -o pid=,stat=,args= | head -5)" "" \
	    "fcgi: no child left behind (every hook reaped)"

	# SIGHUP: new secret, then the old one refused; a bad reload keeps the
	# running configuration.
	write_secret "$W/secret-hup" "$SECRET"
	CONF_SECRET_FILE=$W/secret-hup base_conf | write_conf hup
	use_conf hup
	post_signed "$PI_EVENT"
	expect "SIGHUP: before, the first secret works" "$S200" "$B_OK" pi
	printf '%s\n' whsec_reloaded_secret >"$W/secret-hup"
	echo whsec_reloaded_secret >>"$W/secrets.list"
	kill -HUP "$FCGI_PID"
	ok_new=1
	t0=$(now_ms)
	while [ $(($(now_ms) - t0)) -lt 10000 ]; do
		post "$PI_EVENT" "$(header_for "$PI_EVENT" "" whsec_reloaded_secret)"
		if [ "$A_STATUS" = "$S200" ]; then
			ok_new=0
			break
		fi
		sleep 0.2
	done
	ok $ok_new "fcgi: SIGHUP: the new secret is accepted"
	post "$PI_EVENT" "$(header_for "$PI_EVENT" "" "$SECRET")"
	expect_error "SIGHUP: the old secret is refused" "signature mismatch"
	echo "bogus_key 1" >>"$(conf_path hup)"
	kill -HUP "$FCGI_PID"
	bad=0
	for ((i = 0; i < 3; i++)); do
		post "$PI_EVENT" "$(header_for "$PI_EVENT" "" whsec_reloaded_secret)"
		[ "$A_STATUS" = "$S200" ] || bad=$((bad + 1))
		sleep 0.2
	done
	is "$bad" 0 "fcgi: an invalid reload keeps the running configuration"
	pid_gone "$FCGI_PID"
	ok $((1 - $?)) "fcgi: the instance survives the invalid reload"

	# A bad configuration at start: 500, then retried (at most once a
	# second) until it works.
	CONF_SECRET_FILE=$W/secret-late base_conf | write_conf late
	use_conf late
	post_signed "$PI_EVENT"
	expect_error "bad configuration at start: 500" "internal error"
	write_secret "$W/secret-late" "$SECRET"
	ok_new=1
	t0=$(now_ms)
	while [ $(($(now_ms) - t0)) -lt 10000 ]; do
		post_signed "$PI_EVENT"
		if [ "$A_STATUS" = "$S200" ]; then
			ok_new=0
			break
		fi
		sleep 0.3
	done
	ok $ok_new "fcgi: the configuration is loaded again once fixed"
}

# ---- incomplete body: no progress for 30 s ---------------------------------

# Started first and checked last: a request whose body stalls after 10
# bytes must be answered 400 after 30 s.  FastCGI uses an instance of its
# own, since one app serves one request at a time.
STALL_PID=
STALL_FD=
STALL_T0=
stall_begin() {
	local f=$PI_EVENT hdr vars
	mkfifo "$W/stall.fifo" || bail "mkfifo failed"
	hdr=$(header_for "$f")
	vars=(REQUEST_METHOD=POST "CONTENT_LENGTH=$(stat -c %s "$f")"
	    "HTTP_STRIPE_SIGNATURE=$hdr" "STRIPEHOOK_CONFIG=$(conf_path main)")
	STALL_T0=$(now_ms)
	if [ "$TRANSPORT" = cgi ]; then
		(
			env -i "${vars[@]}" "${RUN[@]}" <"$W/stall.fifo" \
			    >"$W/stall.out" 2>"$W/stall.err"
			echo $? >"$W/stall.rc"
			now_ms >"$W/stall.end"
		) &
		STALL_PID=$!
	else
		fcgi_start "$(conf_path main)"
		STALL_SOCK=$FCGI_SOCK STALL_LOG=$FCGI_LOG STALL_APP=$FCGI_PID
		FCGI_PID='' FCGI_CONF='' FCGI_SOCK='' FCGI_LOG=''
		(
			env -i "${vars[@]}" cgi-fcgi -bind -connect "$STALL_SOCK" \
			    <"$W/stall.fifo" >"$W/stall.out" 2>"$W/stall.err"
			echo $? >"$W/stall.rc"
			now_ms >"$W/stall.end"
		) &
		STALL_PID=$!
	fi
	BG_PIDS+=("$STALL_PID")
	exec {STALL_FD}>"$W/stall.fifo"
	head -c 10 "$f" >&"$STALL_FD"
}

stall_end() {
	local el
	wait_for $((45 * SLOW)) test -s "$W/stall.end"
	el=$(($(cat "$W/stall.end" 2>/dev/null || now_ms) - STALL_T0))
	A_RC=$(cat "$W/stall.rc" 2>/dev/null || echo 1)
	kill "$STALL_PID" 2>/dev/null
	wait "$STALL_PID" 2>/dev/null
	forget_pid "$STALL_PID"
	exec {STALL_FD}>&-
	cat "$W/stall.out" >>"$ANSWERS"
	parse_answer "$W/stall.out"
	if [ "$TRANSPORT" = cgi ]; then
		A_LOG=$(cat "$W/stall.err")
	else
		A_LOG=$(cat "$STALL_LOG")
		fcgi_stop "$STALL_APP"
	fi
	clear_marks
	expect_error "incomplete body: a body that stalls for 30 s" "incomplete body"
	[ "$el" -ge 29000 ] && [ "$el" -lt $((45000 * SLOW)) ]
	ok $? "$TRANSPORT: ... answered after about 30 s (${el} ms)"
}

# ---- checks over everything -------------------------------------------------

cases_global() {
	local logs
	if [ "$TRANSPORT" = cgi ]; then
		logs=("$W"/req/*.err "$W/stall.err")
	else
		logs=("$W"/run/*.log)
	fi
	! grep -q -e "$SECRET" -e whsec_reloaded_secret "$ANSWERS"
	ok $? "$TRANSPORT: no answer contains a secret"
	! grep -q HOOK-OUTPUT-CANARY "$ANSWERS"
	ok $? "$TRANSPORT: no answer contains a hook's output"
	! grep -qF "$W" "$ANSWERS"
	ok $? "$TRANSPORT: no answer contains a host path"
	! grep -q -e "$SECRET" -e whsec_reloaded_secret "${logs[@]}"
	ok $? "$TRANSPORT: no log contains a secret" ||
		diag "$(grep -h -e "$SECRET" "${logs[@]}" | head -3)"
	[ ! -e /tmp/stripehook-pwned ]
	ok $? "$TRANSPORT: no event type reached a shell"
}

run_all_cases() {
	setup_confs
	setup_events
	stall_begin
	cases_config_errors
	cases_transport_rows
	cases_signature_rows
	cases_event_rows
	cases_success
	cases_hook_failures
	if [ "$TRANSPORT" = cgi ]; then
		cases_cgi_only
	fi
	cases_small
	cases_vectors
	cases_rolled
	cases_timeout
	cases_livemode
	cases_state
	if [ "$TRANSPORT" = fcgi ]; then
		cases_fcgi_only
	fi
	stall_end
	cases_global
	if [ "$TRANSPORT" = fcgi ]; then
		fcgi_stop "$FCGI_PID"
		ok $? "fcgi: the instance exits on SIGTERM"
	fi
	tap_done
}
