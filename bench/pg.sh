#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for the benchmark: initdb + pg_ctl as the `postgres` user, loopback only, on a
# free port, with fsync and synchronous_commit ON (BENCHMARKS.md, Configurations).
#   bench/pg.sh start DIR   → prints "PORT PID" (postmaster pid) ; DIR is created and owned by postgres
#   bench/pg.sh stop DIR
#   bench/pg.sh recreate DIR PORT DBNAME  → drops and creates a fresh database
set -euo pipefail
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[[ -x "$bin/initdb" ]] || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

cmd="${1:?usage: pg.sh start|stop|recreate DIR ...}"; dir="${2:?DIR}"
case "$cmd" in
  start)
    mkdir -p "$dir"; chown postgres: "$dir" 2>/dev/null || true; chmod 700 "$dir"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
      as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1
    fi
    port="$(free_port)"
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start -o \
      "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c full_page_writes=on \
       -c max_connections=300 -c shared_buffers=256MB -c wal_level=replica -c max_wal_size=2GB" >/dev/null
    echo "$port $(head -1 "$dir/data/postmaster.pid")"
    ;;
  stop)
    [[ -f "$dir/data/postmaster.pid" ]] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    ;;
  recreate)
    port="${3:?PORT}"; db="${4:?DBNAME}"
    PGOPTIONS="-c client_min_messages=warning" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qAt -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" -c "CREATE DATABASE \"$db\"" postgres >/dev/null
    ;;
  *) echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac
