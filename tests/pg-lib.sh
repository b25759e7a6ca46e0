# shellcheck shell=bash disable=SC2034
# (SC2034: the variables set here are used by tests/pg.sh.)
# A PostgreSQL cluster of the test's own, for tests/pg.sh: initdb and
# pg_ctl from Debian's postgresql package, run as an unprivileged user
# (postgres, or nobody; the user running the test when it is not root),
# data and socket in a mktemp -d under /tmp (the tree may sit in a home
# others cannot enter), listening on 127.0.0.1 on a free port below the
# ephemeral range and on a unix socket.  pg_stop_cluster runs from the
# EXIT trap, also on failure.  Needs tests/lib.sh and tests/servers-lib.sh.

PG_BINDIR=${PG_BINDIR:-}
if [ -z "$PG_BINDIR" ]; then
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && PG_BINDIR=$d
	done
fi
PG_T=
PG_PORT=
PG_UP=0
PG_DB=stripehook
PG_ROLE=stripehook
PG_LISTEN=${PG_LISTEN:-127.0.0.1}	# the address it listens on
PG_NS=${PG_NS:-}		# a network namespace to run it in
PG_OPTS=${PG_OPTS:-}		# more server options

if [ "$(id -u)" -eq 0 ]; then
	if id postgres >/dev/null 2>&1; then
		PG_OS_USER=postgres
	else
		PG_OS_USER=nobody
	fi
else
	PG_OS_USER=$(id -un)
fi

# pg_as CMD...: CMD as the cluster's user.
pg_as() {
	if [ -n "$PG_NS" ]; then
		ip netns exec "$PG_NS" runuser -u "$PG_OS_USER" -- "$@"
	elif [ "$(id -u)" -eq 0 ]; then
		runuser -u "$PG_OS_USER" -- "$@"
	else
		"$@"
	fi
}

pg_have() {
	[ -n "$PG_BINDIR" ] && [ -x "$PG_BINDIR/initdb" ] &&
	    [ -x "$PG_BINDIR/pg_ctl" ] && command -v psql >/dev/null 2>&1
}

# pg_init: a new cluster with the role and database stripehook (trust
# authentication: the test's own machine only).
pg_init() {
	PG_T=$(mktemp -d /tmp/stripehook-pg.XXXXXX) || bail "mktemp failed"
	chmod 0755 "$PG_T"
	mkdir -p "$PG_T/data" "$PG_T/sock" "$PG_T/log" || bail "mkdir $PG_T"
	if [ "$(id -u)" -eq 0 ]; then
		chown "$PG_OS_USER" "$PG_T/data" "$PG_T/sock" "$PG_T/log" ||
			bail "chown $PG_T"
	fi
	chmod 0700 "$PG_T/data"
	chmod 0755 "$PG_T/sock"
	PG_PORT=$(sv_port)
	pg_as "$PG_BINDIR/initdb" -D "$PG_T/data" -U "$PG_ROLE" \
	    --auth=trust -E UTF8 --no-locale >"$PG_T/initdb.log" 2>&1 ||
		bail "initdb failed: $(tail -5 "$PG_T/initdb.log")"
	# Clients on a test network of its own (tests/pg-hosts.sh).
	if [ -n "${PG_HBA_NET:-}" ]; then
		printf 'host all all %s trust\n' "$PG_HBA_NET" |
			pg_as tee -a "$PG_T/data/pg_hba.conf" >/dev/null ||
			bail "pg_hba.conf"
	fi
	pg_start_cluster
	pg_as "$PG_BINDIR/createdb" -h "$PG_T/sock" -p "$PG_PORT" \
	    -U "$PG_ROLE" "$PG_DB" || bail "createdb failed"
}

# pg_start_cluster: starts it and waits until it answers.
pg_start_cluster() {
	pg_as "$PG_BINDIR/pg_ctl" -D "$PG_T/data" -l "$PG_T/log/server.log" -w \
	    -t 60 -o "-c listen_addresses=$PG_LISTEN -p $PG_PORT \
	    -c unix_socket_directories=$PG_T/sock -c fsync=off \
	    -c max_connections=200 $PG_OPTS" start >/dev/null ||
		bail "pg_ctl start failed: $(tail -5 "$PG_T/log/server.log")"
	PG_UP=1
}

# pg_stop_cluster [MODE]: stops it (fast unless told), waits.
pg_stop_cluster() {
	[ "$PG_UP" = 1 ] || return 0
	pg_as "$PG_BINDIR/pg_ctl" -D "$PG_T/data" -m "${1:-fast}" -w -t 60 \
	    stop >/dev/null 2>&1
	PG_UP=0
}

# psql_do SQL: runs SQL, prints unaligned tuples.
psql_do() {
	psql -X -q -A -t -h "$PG_T/sock" -p "$PG_PORT" -U "$PG_ROLE" \
	    -d "$PG_DB" -v ON_ERROR_STOP=1 -c "$1"
}

# The conninfo the hosts use: TCP on 127.0.0.1.
pg_conninfo() {
	printf 'host=%s port=%s dbname=%s user=%s' "$PG_LISTEN" "$PG_PORT" \
	    "$PG_DB" "$PG_ROLE"
}

pg_cleanup() {
	pg_stop_cluster immediate
	if [ -n "$PG_T" ] && [ -d "$PG_T" ]; then
		mkdir -p "$W/run" 2>/dev/null &&
			cp "$PG_T/log/server.log" "$W/run/postgresql.log" 2>/dev/null
		rm -rf "$PG_T"
	fi
}

# pg_hold_hook FILE: a hook that writes "hold ID start" to MARK_DIR/runs and
# its pid to MARK_DIR/hold.pid, waits for MARK_DIR/release (at most 120 s),
# then writes "hold ID end".
pg_hold_hook() {
	cat >"$1" <<'EOF'
#!/bin/sh
d=${MARK_DIR:?}
echo "hold $STRIPE_EVENT_ID start" >>"$d/runs"
echo $$ >"$d/hold.pid"
i=0
while [ ! -e "$d/release" ] && [ $i -lt 1200 ]; do
	sleep 0.1
	i=$((i + 1))
done
echo "hold $STRIPE_EVENT_ID end" >>"$d/runs"
exit 0
EOF
	chmod 0755 "$1" || bail "chmod $1"
}
