#!/usr/bin/env bash
# Functions are called through wait_for and traps (SC2317); logs are read
# while servers append to them (SC2094); ls lists our own plain names.
# shellcheck disable=SC2317,SC2094,SC2012
# Several hosts as they are deployed (stripehook(8) SEVERAL HOSTS): three
# `serve` hosts, each in a network namespace of its own with its own
# configuration, reaching PostgreSQL (in a namespace of its own) over TCP
# on a private /24 that exists inside the namespaces only, behind one
# nginx whose upstream has all three.  Shown: copies of one event through
# nginx run each hook once; a host whose link to the database is cut
# mid-hook kills its hook before the event can run elsewhere.  Needs root
# and ip netns; skipped otherwise, except under STRIPEHOOK_REQUIRE_SERVERS=1
# (CI) as root, where that is a failure.  Namespaces, links and processes
# are removed on exit, also on failure.  TAP output.

# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lib_setup
# shellcheck source=tests/servers-lib.sh
. "$tests_dir/servers-lib.sh"

NET=10.231.57		# the private /24, inside the namespaces only
TAG=$$
DBNS=shdb$TAG
NSES=()

net_cleanup() {
	local ns
	for ns in "${NSES[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}

unavailable() {
	if [ "$(id -u)" -eq 0 ] && [ "${STRIPEHOOK_REQUIRE_SERVERS:-0}" = 1 ]; then
		ok 1 "network namespaces and PostgreSQL: $1"
	else
		skip "several hosts in namespaces: $1"
	fi
	tap_done
}

[ "$(id -u)" -eq 0 ] || unavailable "not root"
command -v ip >/dev/null 2>&1 || unavailable "no ip(8)"
command -v nginx >/dev/null 2>&1 || unavailable "no nginx"

PG_NS=$DBNS
PG_LISTEN=$NET.1
PG_HBA_NET=$NET.0/24
# The server drops a silent client after about 6 s (keepalives when idle,
# tcp_user_timeout when its last answer is unacknowledged): later than a
# host notices (database_timeout 2 + 1 s), as stripehook(8) asks.
PG_OPTS="-c tcp_keepalives_idle=4 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=2 -c tcp_user_timeout=6000"
# shellcheck source=tests/pg-lib.sh
. "$tests_dir/pg-lib.sh"
pg_have || unavailable "PostgreSQL is not installed"
trap 'cp "$W"/sv/*.log "$W/run/" 2>/dev/null; pg_cleanup; cleanup; net_cleanup' EXIT

# ---- the network ------------------------------------------------------------

ip netns add "$DBNS" || unavailable "ip netns add failed"
NSES+=("$DBNS")
nsx() { ip netns exec "$@"; }
nsx "$DBNS" ip link set lo up || bail "lo up"
nsx "$DBNS" ip link add br0 type bridge || bail "bridge"
nsx "$DBNS" ip addr add "$NET.1/24" dev br0 || bail "address"
nsx "$DBNS" ip link set br0 up || bail "bridge up"
for n in 1 2 3; do
	ns=sh$n.$TAG
	ip netns add "$ns" || bail "ip netns add $ns"
	NSES+=("$ns")
	ip link add "shh$n.$TAG" type veth peer name "shd$n.$TAG" ||
		bail "veth $n"
	ip link set "shh$n.$TAG" netns "$ns" || bail "veth $n to $ns"
	ip link set "shd$n.$TAG" netns "$DBNS" || bail "veth $n to $DBNS"
	nsx "$DBNS" ip link set "shd$n.$TAG" master br0 up || bail "port $n"
	nsx "$ns" ip link set lo up || bail "lo $n"
	nsx "$ns" ip addr add "$NET.1$n/24" dev "shh$n.$TAG" || bail "addr $n"
	nsx "$ns" ip link set "shh$n.$TAG" up || bail "link $n"
done

pg_init
sv_setup
DB=$(pg_conninfo)

pg_hold_hook "$H/hold"

# Host N: its own configuration and secret, serve in namespace N.
for n in 1 2 3; do
	s=$W/sv/host$n.secret
	printf '%s\n' "$SECRET" >"$s"
	chmod 0600 "$s"
	chown "$SV_USER:$SV_GROUP" "$s"
	{
		echo "secret_file $s"
		echo "database $DB"
		echo "database_timeout 2"
		echo "hook_timeout 120"
		echo "env MARK_DIR=$SV_MARKS"
		echo "user $SV_USER"
		echo "on test.hold $H/hold"
	} >"$W/sv/host$n.conf"
	chmod 0644 "$W/sv/host$n.conf"
	# The database is reachable from inside the namespaces only.
	if [ "$n" = 1 ]; then
		nsx "sh1.$TAG" env -i PATH=/usr/bin:/bin "$SV_BIN" \
		    -c "$W/sv/host1.conf" migrate >"$W/run/migrate.log" 2>&1 ||
			bail "migrate failed: $(cat "$W/run/migrate.log")"
	fi
	: >"$W/sv/host$n.log"
	sv_bg "$W/sv/host$n.log" ip netns exec "sh$n.$TAG" env -i \
	    PATH=/usr/bin:/bin "$SV_BIN" -c "$W/sv/host$n.conf" serve \
	    --listen "unix:$W/sv/host$n.sock" --workers 2
	wait_for 10 sv_socket_up "$W/sv/host$n.sock" ||
		bail "host $n did not start: $(cat "$W/sv/host$n.log")"
done

# nginx in front, an upstream of the three.
cat >"$W/sv/upstream.conf" <<EOF
upstream stripehook {
	server unix:$W/sv/host1.sock;
	server unix:$W/sv/host2.sock;
	server unix:$W/sv/host3.sock;
}
EOF
cat >"$W/sv/location.conf" <<EOF
location = /webhook {
	include $W/sv/nginx-hosts/fastcgi_params;
	fastcgi_pass stripehook;
	fastcgi_next_upstream off;
}
EOF
nginx_start hosts "$W/sv/location.conf" "$W/sv/upstream.conf"
URL=$NGX_URL

# npost FILE OUT: one delivery through nginx; "CODE BODY" into OUT.
npost() {
	local code
	code=$(curl -sS -o "$2.body" -w '%{http_code}' --max-time 120 \
	    -H 'Expect:' -H 'Content-Type: application/json' \
	    -H "Stripe-Signature: $(header_for "$1")" --data-binary "@$1" \
	    "$URL" 2>/dev/null)
	printf '%s %s\n' "$code" "$(cat "$2.body" 2>/dev/null)" >"$2"
}

# ---- copies through nginx --------------------------------------------------

sv_clear_marks
make_event "$W/ev/c.json" evt_ns_copies_1 test.hold
jobs_=()
for n in 1 2 3; do
	npost "$W/ev/c.json" "$W/req/c.$n" &
	jobs_+=($!)
done
two409() { [ "$(cat "$W"/req/c.[123] 2>/dev/null | grep -c '^409 ')" = 2 ]; }
wait_for 60 two409
ok $? "three copies through nginx to three hosts: two 409 while one runs"
touch "$SV_MARKS/release"
wait "${jobs_[@]}"
is "$(grep -c 'evt_ns_copies_1 start' "$SV_MARKS/runs")" 1 \
    "three copies: the hook ran once"
served=$(grep -l 'evt_ns_copies_1' "$W"/sv/host[123].log | wc -l | tr -d ' ')
is "$served" 3 "the copies reached the three hosts"

# ---- a host's link to the database cut mid-hook ---------------------------------

sv_clear_marks
make_event "$W/ev/k.json" evt_ns_cut_1 test.hold
# To host 1 directly, so that the test knows which link to cut.
raw() {
	env -i REQUEST_METHOD=POST CONTENT_LENGTH="$(stat -c %s "$2")" \
	    HTTP_STRIPE_SIGNATURE="$(header_for "$2")" \
	    CONTENT_TYPE=application/json GATEWAY_INTERFACE=CGI/1.1 \
	    timeout -k 5 120 cgi-fcgi -bind -connect "$W/sv/host$1.sock" \
	    <"$2" 2>/dev/null | tr -d '\r' | sed -n 's/^Status: \([0-9]*\).*/\1/p'
}
raw 1 "$W/ev/k.json" >"$W/req/k.1" &
bgpost=$!
wait_for 30 test -s "$SV_MARKS/hold.pid" || bail "the hold hook did not start"
hookpid=$(cat "$SV_MARKS/hold.pid")
nsx "sh1.$TAG" ip link set "shh1.$TAG" down
wait_for 60 pid_gone "$hookpid"
ok $? "link cut mid-hook: host 1 killed its hook"
echo "killed-first" >>"$SV_MARKS/runs"
# Other hosts, through nginx, until the server drops the silent session.
touch "$SV_MARKS/release"
# One redelivery each time (409 while the session lives, 500 from host 1).
redeliver() {
	npost "$W/ev/k.json" "$W/req/k.r"
	[ "$(cut -d' ' -f1 <"$W/req/k.r")" = 200 ]
}
wait_for 90 redeliver
ok $? "after the server dropped host 1's session: served elsewhere"
is "$(grep -E 'start|killed-first' "$SV_MARKS/runs" | cut -d' ' -f3 | tr '\n' ' ')" \
    "start killed-first start " "the second run started only after the first was killed"
wait "$bgpost"
grep -q 'result=session-lost' "$W/sv/host1.log"
ok $? "host 1 logged the hook as session-lost"
nsx "sh1.$TAG" ip link set "shh1.$TAG" up

tap_done
