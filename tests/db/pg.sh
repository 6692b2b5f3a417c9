#!/usr/bin/env bash
# pg.sh - a throwaway PostgreSQL cluster for the cloud tests.
#
#   eval "$(bash tests/db/pg.sh start DIR)"   initdb a cluster in DIR/data, start it on
#                                            127.0.0.1 and a free port (unix socket in
#                                            DIR), apply tests/db/bootstrap.sql (the
#                                            minimal Supabase environment) and then every
#                                            supabase/migrations/*.sql in name order; print
#                                            the export lines: PGHOST PGPORT PGUSER
#                                            PGDATABASE IMAGEN_TEST_DSN IMAGEN_TEST_PGDIR
#   bash tests/db/pg.sh stop DIR             stop it and remove DIR
#   bash tests/db/pg.sh apply DSN            apply bootstrap + migrations to a database
#
# The superuser is "postgres" (trust authentication, loopback only).  PostgreSQL refuses
# to run as root: as root, initdb and the server run as the system user postgres.
# Durability is off (fsync, synchronous_commit, full_page_writes): start takes ~1 s.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
PY=${PY:-/usr/bin/python3}

die() {
	echo "pg.sh: $*" >&2
	exit 1
}

bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$d" ] && [ -x "$d/pg_ctl" ]; then
		echo "$d"
	elif command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(command -v pg_ctl)"
	else
		die "no PostgreSQL server found (install the postgresql package: scripts/deps.sh)"
	fi
}

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

apply() { # dsn
	local f
	export PGOPTIONS="-c client_min_messages=warning"
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f "$here/bootstrap.sql" >/dev/null ||
		die "bootstrap.sql failed"
	for f in "$repo"/supabase/migrations/*.sql; do
		psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f "$f" >/dev/null ||
			die "migration $(basename "$f") failed"
	done
}

start() { # dir
	local dir=$1 bin port dsn try
	bin=$(bindir)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ ! -e "$dir/data" ] || die "$dir/data exists already"
	: >"$dir/.imagen-pg"
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || die "running as root but there is no user postgres"
		chown postgres "$dir"
	fi
	as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale --no-sync \
		>"$dir/initdb.log" 2>&1 || die "initdb failed: $(tail -n 3 "$dir/initdb.log" | tr '\n' ' ')"
	for _ in 1 2 3 4 5; do
		port=$(free_port) || die "cannot pick a free port with $PY"
		if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -s \
			-o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50" \
			start >/dev/null 2>&1; then
			break
		fi
		port=""
	done
	[ -n "$port" ] || die "the server did not start: $(tail -n 3 "$dir/server.log" 2>/dev/null | tr '\n' ' ')"
	echo "$port" >"$dir/port"
	dsn="host=127.0.0.1 port=$port user=postgres dbname=postgres"
	if ! (apply "$dsn"); then
		as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -s stop >/dev/null 2>&1 || true
		exit 1
	fi
	cat <<EOF
export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=postgres
export IMAGEN_TEST_DSN='$dsn'
export IMAGEN_TEST_PGDIR='$dir'
EOF
}

stop() { # dir
	local dir=$1
	[ -f "$dir/.imagen-pg" ] || die "$dir is not a cluster directory made by pg.sh"
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_pg "$(bindir)/pg_ctl" -D "$dir/data" -m immediate -s stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
}

case "${1:-}" in
start) [ $# = 2 ] || die "usage: pg.sh start DIR"; start "$2" ;;
stop) [ $# = 2 ] || die "usage: pg.sh stop DIR"; stop "$2" ;;
apply) [ $# = 2 ] || die "usage: pg.sh apply DSN"; apply "$2" ;;
*) die "usage: pg.sh start DIR | stop DIR | apply DSN" ;;
esac
