#!/usr/bin/env bash
# Interoperability with Stripe's official Node library (npm "stripe", pinned
# in tests/interop/package.json; install it with `npm ci` in tests/interop):
#   (a) stripehook sign -> stripe.webhooks.constructEvent accepts it
#   (b) stripe.webhooks.generateTestHeaderString -> stripehook verify
#   (c) a Node-signed event POSTed to the CGI program runs its hook
#   (d) thin events: signature.verifyHeader accepts stripehook sign
# and `stripehook sign` against openssl and Stripe's published vectors.
# Without node or the module this test fails, unless
# STRIPEHOOK_SKIP_INTEROP=1, when it is skipped.  TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
TRANSPORT=cgi
tests_dir=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$tests_dir/lib.sh"
lib_paths

# Find node and the module before the workspace is set up.
NODE_MODULES=
for d in "$top_srcdir/tests/interop" "$top_builddir/tests/interop"; do
	if [ -f "$d/node_modules/stripe/package.json" ]; then
		NODE_MODULES=$d/node_modules
		break
	fi
done
missing=
if ! command -v node >/dev/null 2>&1; then
	missing="node is not installed"
elif [ -z "$NODE_MODULES" ]; then
	missing="the stripe module is not installed (run: npm ci --prefix tests/interop)"
fi
if [ -n "$missing" ]; then
	if [ "${STRIPEHOOK_SKIP_INTEROP:-0}" = 1 ]; then
		echo "1..0 # SKIP $missing"
		exit 0
	fi
	echo "not ok 1 - $missing (STRIPEHOOK_SKIP_INTEROP=1 skips this test)"
	echo "1..1"
	exit 1
fi

lib_setup

JS=$top_srcdir/tests/interop/webhooks.js
node_run() {
	NODE_PATH=$NODE_MODULES node "$JS" "$@"
}
V1_RE='[0-9a-f]{64}'

base_conf | write_conf main
use_conf main
f=$PI_EVENT

# ---- stripehook sign, checked against openssl and the vectors ----------

t=$(date +%s)
hdr=$(tool sign --secret-file "$W/secret" --timestamp "$t" "$f")
ok $? "sign exits 0"
is "$hdr" "t=$t,v1=$(sign_openssl "$SECRET" "$t" "$f")" \
    "sign: the v1 equals openssl's HMAC"
is "$(tool sign --secret-file "$W/secret" --timestamp "$t" <"$f")" "$hdr" \
    "sign: the payload from stdin gives the same header"
is "$(tool sign -c "$CONF" --timestamp "$t" "$f")" "$hdr" \
    "sign -c: the configuration's secret file gives the same header"
is "$(tool sign --secret-file "$W/secret" --timestamp "$t" "$f" | tail -c 1 |
    od -An -tx1 | tr -d ' ')" 0a "sign: the header is followed by a newline"
t0=$(date +%s)
h=$(tool sign --secret-file "$W/secret" "$f")
t1=$(date +%s)
ht=${h%%,*}
ht=${ht#t=}
[ "$ht" -ge "$t0" ] && [ "$ht" -le "$t1" ]
ok $? "sign without --timestamp uses the current time ($h)"

both=$(tool sign --secret-file "$W/secret2" --timestamp "$t" "$f")
is "$both" "t=$t,v1=$(sign_openssl "$SECRET" "$t" "$f"),v1=$(sign_openssl "$ROLLED_SECRET" "$t" "$f")" \
    "sign with two secrets: one v1 each, in file order"

write_secret "$W/secret-vec" webhook_secret
is "$(tool sign --secret-file "$W/secret-vec" --timestamp 1533204620 \
    "$SHARED_VECTORS/dotnet-event_test_signature.json")" \
    "t=1533204620,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7" \
    "sign: stripe-dotnet's vector"
is "$(tool sign --secret-file "$W/secret" --timestamp 12345 \
    "$SHARED_VECTORS/python-php-dummy-payload.json")" \
    "t=12345,v1=07b1ede164afb7b5de91267ffa656f568c65d6e0783ce0ac55ee094643578eda" \
    "sign: stripe-python's vector"
printf '{}' >"$W/ev/empty-object.json"
is "$(tool sign --secret-file "$W/secret" --timestamp 1700000000 \
    "$W/ev/empty-object.json")" \
    "t=1700000000,v1=ceb8863f7208fa249a6cd8f951e993c7563412aca65866f6272283debe143ab3" \
    "sign: the {} vector"

# ---- (a) stripehook sign -> Node constructEvent ----------------------------

for e in "$EVENTS"/*.json; do
	name=$(basename "$e" .json)
	[ "$name" = v1.billing.meter.error_report_triggered ] && continue
	h=$(tool sign --secret-file "$W/secret" --timestamp "$(date +%s)" "$e")
	out=$(node_run construct "$e" "$h" "$SECRET" 2>&1)
	ok $? "(a) node constructEvent accepts stripehook sign: $name" ||
		diag "$out"
done
out=$(node_run construct "$f" "$both" "$SECRET" 2>&1)
ok $? "(a) two v1: node accepts with the first secret" || diag "$out"
out=$(node_run construct "$f" "$both" "$ROLLED_SECRET" 2>&1)
ok $? "(a) two v1: node accepts with the second secret" || diag "$out"
node_run construct "$f" "$both" whsec_neither >/dev/null 2>&1
is $? 1 "(a) two v1: node refuses a third secret (the check is real)"
sed '0,/Jenny/s//Jennz/' "$f" >"$W/ev/tampered.json"
node_run construct "$W/ev/tampered.json" "$hdr" "$SECRET" >/dev/null 2>&1
is $? 1 "(a) node refuses stripehook's header on a tampered payload"

# ---- (b) Node generateTestHeaderString -> stripehook verify ---------------

t=$(date +%s)
nh=$(node_run header "$f" "$SECRET" "$t")
like "$nh" "^t=$t,v1=$V1_RE\$" "(b) node made a header"
for e in "$EVENTS"/*.json; do
	name=$(basename "$e" .json)
	h=$(node_run header "$e" "$SECRET" "$t")
	err=$(tool verify --header "$h" --secret-file "$W/secret" --now "$t" "$e" 2>&1)
	ok $? "(b) stripehook verify accepts node's header: $name" || diag "$err"
done
tool verify --header "$nh" --secret-file "$W/secret" --now "$t" <"$f"
ok $? "(b) verify reads the payload from stdin"
tool verify --header "$nh" -c "$CONF" --now "$t" "$f"
ok $? "(b) verify -c: the configuration's secret file"
err=$(tool verify --header "$nh" --secret-file "$W/secret" --now "$t" \
    "$W/ev/tampered.json" 2>&1 >/dev/null)
is $? 1 "(b) verify: a tampered payload exits 1"
like "$err" "signature mismatch" "(b) ... saying signature mismatch"
err=$(tool verify --header "$nh" --secret-file "$W/secret2" --now "$t" "$f" 2>&1)
ok $? "(b) verify with two secrets in the file" || diag "$err"
err=$(tool verify --header "$nh" --secret-file "$W/secret-vec" --now "$t" \
    "$f" 2>&1 >/dev/null)
is $? 1 "(b) verify with another secret exits 1"
like "$err" "signature mismatch" "(b) ... saying signature mismatch"
for d in 300 -300; do
	tool verify --header "$nh" --secret-file "$W/secret" \
	    --now $((t + d)) "$f" 2>/dev/null
	ok $? "(b) verify: now = t${d/#3/+3} is inside the tolerance"
done
for d in 301 -301; do
	err=$(tool verify --header "$nh" --secret-file "$W/secret" \
	    --now $((t + d)) "$f" 2>&1 >/dev/null)
	is $? 1 "(b) verify: now = t${d/#3/+3} is outside the tolerance"
	like "$err" "timestamp outside tolerance" "(b) ... saying so"
done
err=$(tool verify --header "t=abc,v1=00" --secret-file "$W/secret" \
    --now "$t" "$f" 2>&1 >/dev/null)
is $? 1 "(b) verify: a malformed header exits 1"
like "$err" "malformed signature" "(b) ... saying malformed signature"
vh="t=12345,v1=07b1ede164afb7b5de91267ffa656f568c65d6e0783ce0ac55ee094643578eda,v1=59e6e8306462e09454903d9b6c4cb12d95aecf6fe4deba61995a4447f6361a45"
write_secret "$W/secret-rolled-only" "$ROLLED_SECRET"
tool verify --header "$vh" --secret-file "$W/secret-rolled-only" --now 12345 \
    "$SHARED_VECTORS/python-php-dummy-payload.json"
ok $? "(b) verify: stripe-python's rolled vector with the second secret"

# ---- (c) a Node-signed event through the CGI program ---------------------

post "$f" "$(node_run header "$f" "$SECRET" "$(date +%s)")"
expect "(c) node-signed event: 200 and the hook ran" "$S200" "$B_OK" pi
cmp -s "$f" "$MARKS/pi.stdin"
ok $? "cgi: (c) ... with the payload byte for byte"
post "$THIN_EVENT" "$(node_run header "$THIN_EVENT" "$SECRET" "$(date +%s)")"
expect "(c) node-signed thin event: 200 and the hook ran" "$S200" "$B_OK" thin
grep -qx STRIPE_EVENT_OBJECT=v2.core.event "$MARKS/thin.env"
ok $? "cgi: (c) ... told it is a v2.core.event"

# ---- (d) thin events: stripehook sign -> Node verifyHeader ---------------

h=$(tool sign --secret-file "$W/secret" --timestamp "$(date +%s)" "$THIN_EVENT")
out=$(node_run verify "$THIN_EVENT" "$h" "$SECRET" 2>&1)
ok $? "(d) node verifyHeader accepts stripehook sign on a thin event" ||
	diag "$out"
h=$(tool sign --secret-file "$W/secret2" --timestamp "$(date +%s)" "$THIN_EVENT")
out=$(node_run verify "$THIN_EVENT" "$h" "$ROLLED_SECRET" 2>&1)
ok $? "(d) ... and with the second of two secrets" || diag "$out"

! grep -q "$SECRET" "$ANSWERS" "$W"/req/*.err
ok $? "no answer or log contains the secret"

tap_done
