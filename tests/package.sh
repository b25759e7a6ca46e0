#!/usr/bin/env bash
# The Debian package, end to end (stripehook(8) PACKAGED INSTALL).  Run as
# root on Debian 12, from CI (.ci/run), not from `make check`:
#
#	tests/package.sh
#
# It builds the package from this tree (dpkg-buildpackage -b) unless
# STRIPEHOOK_DEB names a built one, runs lintian (any E: or W: fails),
# checks the shipped units with systemd-analyze (verify, and security
# with the exposure bounds below), then installs the package with apt
# into a minimal Debian 12 root made by debootstrap and entered with
# chroot, where it puts a secret in place, runs `stripehook check` as the
# package's user, sends a signed event through nginx + fcgiwrap using the
# installed files, upgrades to a rebuilt package with a higher version
# (records and the edited configuration kept), removes and purges it
# (records gone).  Output is TAP.
#
# Environment:
#   STRIPEHOOK_PKG_DIR  work directory (default build/package); the
#                       debootstrap root is cached there as
#                       bookworm-minbase.tar.gz and reused by later runs
#   STRIPEHOOK_DEB      a built stripehook_*.deb to test (no build; the
#                       upgrade then rebuilds from this tree)
#   STRIPEHOOK_MIRROR   the Debian mirror (default: the first bookworm
#                       URI of this machine's APT sources)
#
# Everything it starts runs inside the root and is stopped, and every
# mount undone, by the EXIT trap, also on failure.
# shellcheck disable=SC2016,SC2317
# (SC2016: dpkg-query's ${Field} formats; SC2317: functions run from traps
# and wait_for.)
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# The TAP helpers (ok, is, diag, bail, wait_for); no workspace of its own.
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -u

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${STRIPEHOOK_PKG_DIR:-$top/build/package}
# The exposure bounds of `systemd-analyze security` (hooks run inside the
# units that handle requests and run the queue).
MAX_EXPOSURE=2.0
SECRET=whsec_package_test_secret
T0=$(date +%s)

# ---- TAP (the rest comes from tests/lib.sh) -----------------------------------

# check DESC CMD...: passes when CMD exits 0; its output is shown if not.
check() {
	local desc=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	ok "$rc" "$desc" || diag "$out"
	return "$rc"
}
[ "$(id -u)" -eq 0 ] || bail "must run as root (debootstrap, chroot)"
for c in dpkg-buildpackage lintian debootstrap systemd-analyze openssl curl; do
	command -v "$c" >/dev/null || bail "$c is missing (.ci/run installs it)"
done
mkdir -p "$work" || bail "cannot make $work"

R=$work/root		# the Debian root of this run

# in_root CMD...: CMD inside the root, with a plain environment.
in_root() {
	chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
# as_user CMD...: CMD inside the root as the package's user.
as_user() {
	local cmd=/usr/sbin/$1
	shift
	in_root setpriv --reuid=stripehook --regid=stripehook --init-groups \
	    --reset-env "$cmd" "$@"
}

# Every process whose root is $R, then the mounts, then the root.
cleanup() {
	local p pids=() i
	trap - EXIT INT TERM
	if [ -d "$R" ]; then
		for ((i = 1; i <= 20; i++)); do
			pids=()
			for p in /proc/[0-9]*; do
				[ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] &&
					pids+=("${p#/proc/}")
			done
			[ "${#pids[@]}" -eq 0 ] && break
			if [ "$i" -lt 10 ]; then
				kill -TERM "${pids[@]}" 2>/dev/null
			else
				kill -KILL "${pids[@]}" 2>/dev/null
			fi
			sleep 0.2
		done
		for p in "$R/dev/pts" "$R/dev" "$R/proc"; do
			mountpoint -q "$p" && umount -l "$p"
		done
		# Only once nothing is mounted below it.
		grep -q " $R/" /proc/mounts || rm -rf "$R"
	fi
	rm -rf "$work/extract"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build and lint -----------------------------------------------------------

# build_pkg DIR VERSION: builds the package from a copy of this tree in
# DIR/src with VERSION at the head of debian/changelog (empty: as is);
# prints the .changes file.
build_pkg() {
	local d=$1 v=$2 files
	rm -rf "$d"
	mkdir -p "$d/src" || return 1
	if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
		files=$(cd "$top" && git ls-files -co --exclude-standard | grep -v '^build/')
	else
		files=$(cd "$top" && find . -path ./build -prune -o -type f -print)
	fi
	(cd "$top" && printf '%s\n' "$files" | tar -cf - -T -) |
		tar -xf - -C "$d/src" || return 1
	if [ -n "$v" ]; then
		{
			printf 'stripehook (%s) unstable; urgency=medium\n\n' "$v"
			printf '  * Rebuilt by the package test.\n\n'
			printf ' -- stripehook maintainers <maintainers@stripehook.example.org>  %s\n\n' \
			    "$(date -R)"
			cat "$d/src/debian/changelog"
		} >"$d/changelog.new" && mv "$d/changelog.new" "$d/src/debian/changelog"
	fi
	(cd "$d/src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -b -us -uc) \
	    >"$d/build.log" 2>&1 || { tail -40 "$d/build.log" >&2; return 1; }
	ls "$d"/stripehook_*.changes
}

# deb_in DIR: the stripehook package built in DIR (not the debug symbols).
deb_in() {
	local f
	for f in "$1"/stripehook_*.deb; do
		case $f in *dbgsym*) ;; *) printf '%s' "$f" ;; esac
	done
}

if [ -n "${STRIPEHOOK_DEB:-}" ]; then
	DEB1=$STRIPEHOOK_DEB
	CHANGES1=${DEB1%.deb}.changes
	ok 0 "package given: $(basename "$DEB1")"
else
	CHANGES1=$(build_pkg "$work/b1" "")
	ok $? "dpkg-buildpackage -b builds the package" ||
		bail "the package does not build"
	DEB1=$(deb_in "$work/b1")
fi
V1=$(dpkg-deb -f "$DEB1" Version)
diag "package: $(basename "$DEB1") ($V1)"

lint_target=$DEB1
[ -f "$CHANGES1" ] && lint_target=$CHANGES1
lint=$(lintian --pedantic -I "$lint_target" 2>&1)
bad=$(printf '%s\n' "$lint" | grep -E '^[EW]: ')
is "$bad" "" "lintian: no error, no warning"
[ -n "$lint" ] && diag "lintian said:" "$lint"

# ---- the units ----------------------------------------------------------------

X=$work/extract
rm -rf "$X"
dpkg-deb -x "$DEB1" "$X" || bail "cannot unpack $DEB1"
UNITS=()
for u in "$X"/lib/systemd/system/stripehook*; do
	UNITS+=("$(basename "$u")")
done
diag "units: ${UNITS[*]}"
for u in stripehook.socket stripehook.service stripehook-serve.socket \
    stripehook-serve.service stripehook-run.service \
    stripehook-fcgiwrap.socket stripehook-fcgiwrap.service \
    stripehook-prune.service stripehook-prune.timer \
    stripehook-metrics.service stripehook-metrics.timer; do
	ok "$([ -f "$X/lib/systemd/system/$u" ]; echo $?)" "unit shipped: $u"
done
ok "$(grep -L ConditionFileNotEmpty=/etc/stripehook/secret \
    "$X"/lib/systemd/system/stripehook* | wc -l | grep -qx 0; echo $?)" \
    "every unit waits for the secret file"

# ---- the Debian root --------------------------------------------------------

# The mirror of this machine's APT sources (deb822 or one-line format).
mirror() {
	local m
	[ -n "${STRIPEHOOK_MIRROR:-}" ] && { echo "$STRIPEHOOK_MIRROR"; return; }
	m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
	    awk '/^URIs:/ { u = $2 } /^Suites:/ && / bookworm( |$)/ && u { print u; exit }')
	[ -z "$m" ] && m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
	    awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }')
	echo "${m:-http://deb.debian.org/debian}"
}

CACHE=$work/bookworm-minbase.tar.gz
if [ ! -s "$CACHE" ]; then
	t=$(date +%s)
	rm -rf "$work/root-base"
	if debootstrap --variant=minbase bookworm "$work/root-base" "$(mirror)" \
	    >"$work/debootstrap.log" 2>&1 &&
	    tar -C "$work/root-base" -czf "$CACHE.tmp" . && mv "$CACHE.tmp" "$CACHE"; then
		ok 0 "debootstrap --variant=minbase bookworm ($(($(date +%s) - t)) s, cached)"
	else
		ok 1 "debootstrap --variant=minbase bookworm"
		tail -20 "$work/debootstrap.log" | diag "$(cat)"
		bail "no Debian root"
	fi
	rm -rf "$work/root-base"
else
	ok 0 "Debian root from the cache ($(basename "$CACHE"))"
fi
rm -rf "$R"
if ! { mkdir -p "$R" && tar -C "$R" -xzf "$CACHE"; }; then
	bail "cannot unpack the root"
fi
if ! { mount --bind /dev "$R/dev" && mount --bind /dev/pts "$R/dev/pts" &&
    mount -t proc proc "$R/proc"; }; then
	bail "cannot mount /dev and /proc"
fi
# Daemons must not start inside the root.
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 0755 "$R/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null
check "apt-get update in the root" in_root apt-get update -q ||
	bail "apt-get update failed"
check "the web server and tools installed in the root" \
    in_root apt-get install -y -q --no-install-recommends \
    nginx-light fcgiwrap spawn-fcgi ||
	bail "cannot install nginx and fcgiwrap"

# ---- install ------------------------------------------------------------------

cp "$DEB1" "$R/tmp/" || bail "cannot copy the package"
check "apt-get install of the package (dependencies resolved)" \
    in_root apt-get install -y -q --no-install-recommends \
    "/tmp/$(basename "$DEB1")" </dev/null || bail "the package does not install"
is "$(in_root dpkg-query -W -f '${Status} ${Version}' stripehook)" \
    "install ok installed $V1" "dpkg: stripehook $V1 installed"
ok "$([ -x "$R/usr/sbin/stripehook" ]; echo $?)" "installed: /usr/sbin/stripehook"
for f in usr/share/man/man8/stripehook.8.gz usr/share/man/man5/stripehook.conf.5.gz \
    usr/share/doc/stripehook/examples/stripehook.conf \
    usr/share/doc/stripehook/examples/hooks/log-event \
    usr/share/doc/stripehook/examples/nginx-fcgiwrap.conf \
    usr/share/doc/stripehook/examples/systemd/stripehook-hooks.conf; do
	ok "$([ -f "$R/$f" ]; echo $?)" "installed: /$f"
done
like_conffile=$(in_root dpkg-query -W -f '${Conffiles}' stripehook)
ok "$(printf '%s\n' "$like_conffile" | grep -q '^ /etc/stripehook.conf '; echo $?)" \
    "/etc/stripehook.conf is a conffile"
pw=$(in_root getent passwd stripehook)
uid=$(printf '%s' "$pw" | cut -d: -f3)
ok "$([ -n "$uid" ] && [ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ]; echo $?)" \
    "system user stripehook (uid ${uid:-none})"
is "$(printf '%s' "$pw" | cut -d: -f7)" /usr/sbin/nologin "stripehook has no login shell"
gid=$(printf '%s' "$pw" | cut -d: -f4)
is "$(stat -c '%a %u:%g' "$R/var/lib/stripehook")" "750 $uid:$gid" \
    "/var/lib/stripehook: 0750, owned by stripehook"
is "$(stat -c '%F' "$R/etc/stripehook")" directory "/etc/stripehook/ exists"
is "$(ls -A "$R/etc/stripehook")" "" "/etc/stripehook/ holds no secret"
enabled=$(find "$R/etc/systemd/system" -name 'stripehook*' 2>/dev/null)
is "$enabled" "" "no unit enabled by the package"

# The units as installed, checked by the root's own systemd (Debian 12's):
# verify, and the sandbox's exposure.
out=$(in_root sh -c 'cd /lib/systemd/system &&
    systemd-analyze verify --man=no ./stripehook*.service ./stripehook*.socket \
    ./stripehook*.timer' 2>&1)
is "$out" "" "systemd-analyze verify: the installed units are clean"
for u in "${UNITS[@]}"; do
	case $u in *.service) ;; *) continue ;; esac
	exp=$(in_root systemd-analyze security --offline=true \
	    "/lib/systemd/system/$u" 2>&1 |
	    sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
	ok "$(awk -v e="${exp:-99}" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }'; echo $?)" \
	    "systemd-analyze security: $u exposure ${exp:-?} <= $MAX_EXPOSURE"
done

# Without a secret, check fails.
out=$(as_user stripehook check 2>&1)
ok "$([ $? -eq 1 ]; echo $?)" "stripehook check without a secret: exit 1" || diag "$out"

# ---- configure: a secret, the records, the example hook -----------------------

install -d -m 0755 "$R/etc/stripehook/hooks"
install -m 0755 "$R/usr/share/doc/stripehook/examples/hooks/log-event" \
    "$R/etc/stripehook/hooks/log-event"
(umask 077 && printf '%s\n' "$SECRET" >"$R/etc/stripehook/secret")
in_root chown root:stripehook /etc/stripehook/secret
chmod 0640 "$R/etc/stripehook/secret"
# The operator's edits: records on, one hook for every event.
sed -i 's|^#state_dir.*|state_dir\t/var/lib/stripehook|' "$R/etc/stripehook.conf"
printf '\n# edited by the operator\non *\t/etc/stripehook/hooks/log-event /var/lib/stripehook/events.log\n' \
    >>"$R/etc/stripehook.conf"
EDITED=$(sha256sum <"$R/etc/stripehook.conf")
out=$(as_user stripehook check 2>&1)
rc=$?
ok "$rc" "stripehook check as stripehook: exit 0" || diag "$out"
ok "$(printf '%s\n' "$out" | grep -qx 'configuration OK'; echo $?)" \
    "stripehook check says configuration OK"

# ---- a signed event through nginx + fcgiwrap ----------------------------------

# A TCP port on 127.0.0.1 that nothing listens on, below the ephemeral range.
free_port() {
	local p i low=32768
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
	for ((i = 0; i < 200; i++)); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % (low - 10000)))
		(: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}
http_up() {
	curl -s -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null
}

PORT=$(free_port) || bail "no free port"
PORT2=$(free_port) || bail "no free port"
[ "$PORT2" != "$PORT" ] || PORT2=$(free_port) || bail "no free port"
install -d -m 0755 "$R/run/stripehook"
# fcgiwrap as the package's user, on a socket nginx (www-data) can reach:
# what stripehook-fcgiwrap.socket does under systemd.
check "fcgiwrap started by spawn-fcgi as stripehook" \
    in_root spawn-fcgi -s /run/stripehook/fcgiwrap.sock -M 0660 \
    -U www-data -G www-data -u stripehook -g stripehook \
    -P /run/stripehook/fcgiwrap.pid -- /usr/sbin/fcgiwrap
# The installed example locations: nginx-fcgiwrap.conf with the socket of
# the package on PORT, nginx-fastcgi.conf (serve) on PORT2.
sed 's|unix:/run/fcgiwrap.socket|unix:/run/stripehook/fcgiwrap.sock|' \
    "$R/usr/share/doc/stripehook/examples/nginx-fcgiwrap.conf" \
    >"$R/etc/nginx/stripehook-location.conf"
cp "$R/usr/share/doc/stripehook/examples/nginx-fastcgi.conf" \
    "$R/etc/nginx/stripehook-serve-location.conf"
cat >"$R/etc/nginx/stripehook-test.conf" <<EOF
user www-data;
worker_processes 1;
pid /run/stripehook/nginx.pid;
error_log /var/log/nginx/stripehook-test.error.log;
events { worker_connections 64; }
http {
	access_log off;
	server {
		listen 127.0.0.1:$PORT;
		include /etc/nginx/stripehook-location.conf;
	}
	server {
		listen 127.0.0.1:$PORT2;
		include /etc/nginx/stripehook-serve-location.conf;
	}
}
EOF
check "nginx started on 127.0.0.1:$PORT" \
    in_root nginx -c /etc/nginx/stripehook-test.conf
wait_for 20 http_up
ok $? "nginx answers"

# send ID TYPE [PORT]: posts a signed event; sets A_CODE and A_BODY.
send() {
	local body t sig port=${3:-$PORT}
	body=$work/event-$1.json
	printf '{"id":"%s","object":"event","api_version":"2024-06-20","created":%s,"data":{"object":{"id":"pi_pkgtest","object":"payment_intent"}},"livemode":false,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"type":"%s"}\n' \
	    "$1" "$(date +%s)" "$2" >"$body"
	t=$(date +%s)
	sig=$(printf '%s.' "$t" | cat - "$body" | openssl dgst -sha256 -hmac "$SECRET")
	sig=${sig##*= }
	A_BODY=$(curl -sS -o - -w '\n%{http_code}' -H "Stripe-Signature: t=$t,v1=$sig" \
	    -H 'Content-Type: application/json' --data-binary "@$body" \
	    "http://127.0.0.1:$port/webhook")
	A_CODE=${A_BODY##*$'\n'}
	A_BODY=${A_BODY%$'\n'*}
}

EV1=evt_pkgtest_first_0001
send "$EV1" payment_intent.succeeded
is "$A_CODE $A_BODY" '200 {"received":true}' "signed event through nginx + fcgiwrap: 200"
ok "$(grep -q " $EV1 payment_intent.succeeded$" "$R/var/lib/stripehook/events.log" 2>/dev/null; echo $?)" \
    "the hook ran (events.log has the event)"
is "$(stat -c '%u' "$R/var/lib/stripehook/events.log" 2>/dev/null)" "$uid" \
    "the hook ran as stripehook"
out=$(as_user stripehook status "$EV1" 2>&1)
ok "$(printf '%s\n' "$out" | grep -q 'log-event'; echo $?)" \
    "stripehook status shows the hook's record" || diag "$out"
A_CODE=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Stripe-Signature: t=1,v1=00' \
    --data-binary '{}' "http://127.0.0.1:$PORT/webhook")
is "$A_CODE" 400 "a bad signature: 400"

# ---- serve on a socket from systemd, as stripehook-serve.service -----------------

# The unit's command line, as the unit's user, with the listening socket
# passed the systemd way (LISTEN_FDS) by systemd-socket-activate, which
# stands in for stripehook-serve.socket; nginx uses the installed
# nginx-fastcgi.conf location.
sock_ready() {
	[ -S "$R/run/stripehook/sock" ]
}
# serve_is_running: systemd-socket-activate has made way for serve in the
# same process (so that LISTEN_PID names it).
serve_is_running() {
	tr '\0' ' ' <"/proc/$SA_PID/cmdline" 2>/dev/null |
		grep -q '^/usr/sbin/stripehook -c /etc/stripehook.conf serve'
}
exec_start=$(sed -n 's/^ExecStart=//p' "$R/lib/systemd/system/stripehook-serve.service")
read -r -a exec_argv <<<"$exec_start"
# Not through in_root: a function in the background would be a subshell,
# and $! must be the process that becomes serve.
chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    systemd-socket-activate -l /run/stripehook/sock \
    setpriv --reuid=stripehook --regid=stripehook --init-groups \
    "${exec_argv[@]}" >"$work/serve.log" 2>&1 &
SA_PID=$!
wait_for 20 sock_ready
ok $? "serve: /run/stripehook/sock made by systemd-socket-activate"
# What SocketGroup=www-data and SocketMode=0660 do.
chgrp "$(in_root getent group www-data | cut -d: -f3)" "$R/run/stripehook/sock"
chmod 0660 "$R/run/stripehook/sock"
# The first connection starts serve, as systemd would.
EV3=evt_pkgtest_serve_0003
send "$EV3" invoice.paid "$PORT2"
is "$A_CODE $A_BODY" '200 {"received":true}' \
    "serve (the unit's command, as stripehook) through nginx-fastcgi.conf: 200"
ok "$(grep -q " $EV3 invoice.paid$" "$R/var/lib/stripehook/events.log"; echo $?)" \
    "serve: the hook ran"
ok "$(serve_is_running && [ "$(stat -c %u "/proc/$SA_PID")" = "$uid" ]; echo $?)" \
    "serve runs as stripehook, never as root"
kill -TERM "$SA_PID" 2>/dev/null
sa_gone() {
	! kill -0 "$SA_PID" 2>/dev/null
}
wait_for 60 sa_gone
if sa_gone; then
	wait "$SA_PID"
	is "$?" 0 "serve: SIGTERM, exit 0"
else
	ok 1 "serve: SIGTERM, exit 0"
fi

# ---- upgrade to a rebuilt package -----------------------------------------------

V2=$V1+pkgtest1
build_pkg "$work/b2" "$V2" >/dev/null
ok $? "the package rebuilt as $V2" || bail "the rebuild failed"
DEB2=$(deb_in "$work/b2")
cp "$DEB2" "$R/tmp/" || bail "cannot copy the package"
check "apt-get install upgrades to $V2" \
    in_root apt-get install -y -q --no-install-recommends \
    "/tmp/$(basename "$DEB2")" </dev/null
is "$(in_root dpkg-query -W -f '${Status} ${Version}' stripehook)" \
    "install ok installed $V2" "dpkg: stripehook $V2 installed"
is "$(sha256sum <"$R/etc/stripehook.conf")" "$EDITED" \
    "upgrade keeps the edited configuration"
ok "$([ ! -e "$R/etc/stripehook.conf.dpkg-new" ] && [ ! -e "$R/etc/stripehook.conf.dpkg-dist" ]; echo $?)" \
    "upgrade asks nothing about the configuration"
ok "$(grep -q " $EV1 " "$R/var/lib/stripehook/events.log" 2>/dev/null; echo $?)" \
    "upgrade keeps the hook's output"
is "$(stat -c '%a %u:%g' "$R/var/lib/stripehook")" "750 $uid:$gid" \
    "upgrade keeps /var/lib/stripehook 0750 stripehook"
send "$EV1" payment_intent.succeeded
is "$A_CODE $A_BODY" '200 {"received":true,"duplicate":true}' \
    "upgrade keeps the records: a redelivery is a duplicate"
EV2=evt_pkgtest_second_0002
send "$EV2" charge.succeeded
is "$A_CODE $A_BODY" '200 {"received":true}' "after the upgrade: a new event, 200"
ok "$(grep -q " $EV2 charge.succeeded$" "$R/var/lib/stripehook/events.log"; echo $?)" \
    "after the upgrade: the hook ran"
out=$(as_user stripehook check 2>&1)
ok $? "stripehook check after the upgrade" || diag "$out"

# ---- remove, purge ------------------------------------------------------------------

records() {
	(cd "$R/var/lib/stripehook" && find . | sort)
}
RECORDS=$(records)
kill "$(cat "$R/run/stripehook/nginx.pid" 2>/dev/null)" 2>/dev/null
kill "$(cat "$R/run/stripehook/fcgiwrap.pid" 2>/dev/null)" 2>/dev/null
check "apt-get remove stripehook" in_root apt-get remove -y -q stripehook </dev/null
ok "$([ ! -e "$R/usr/sbin/stripehook" ]; echo $?)" "remove: the binary is gone"
ok "$([ -f "$R/etc/stripehook.conf" ]; echo $?)" "remove: the configuration stays"
is "$(records)" "$RECORDS" "remove: the records stay"
ok "$([ "$(printf '%s\n' "$RECORDS" | grep -cv -e '^\.$' -e '^\./events\.log$')" -gt 0 ]; echo $?)" \
    "remove: there are records besides the hook's file" || diag "$RECORDS"
check "dpkg --purge stripehook" in_root dpkg --purge stripehook
ok "$(! in_root dpkg -s stripehook >/dev/null 2>&1; echo $?)" \
    "purge: dpkg forgets the package"
ok "$([ ! -e "$R/var/lib/stripehook" ]; echo $?)" "purge: the records are gone"
ok "$([ ! -e "$R/etc/stripehook.conf" ]; echo $?)" "purge: the configuration is gone"
ok "$([ -f "$R/etc/stripehook/secret" ]; echo $?)" \
    "purge: the operator's secret and hooks in /etc/stripehook stay"

diag "package test: $(($(date +%s) - T0)) s"
printf '1..%d\n' "$T_N"
if [ "$T_FAILED" -eq 0 ]; then
	echo "# package: $T_N passed, 0 failed"
	exit 0
fi
echo "# package: $((T_N - T_FAILED)) passed, $T_FAILED failed"
exit 1
