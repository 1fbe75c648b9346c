#!/usr/bin/env bash
# Spindle's benchmark suite in one command (scenarios and method: BENCHMARKS.md "How it is measured").
#
#   bench/run.sh                 every configuration, one engine at a time: warm-up + 3 measured passes each,
#                                then bench/results/<date>.json and bench/results/<date>.md
#   bench/run.sh --smoke         a few seconds: Spindle std worker on SQLite only, tiny N, no peers (CI)
#   bench/run.sh --only LIST     comma-separated subset of: spindle-sqlite, spindle-sqlite-wait, spindle-pg,
#                                spindle-pg-wait, spindle-pg-pystd, dbos, restate-calls, restate-journal, pgbench
#   bench/run.sh --repeats N     measured passes per configuration (default 3)
#   bench/run.sh --spindle-src D build and run Spindle from another checkout D (e.g. a `git archive` of HEAD while
#                                others edit this work tree); default: this repository
#
# Every engine is started and stopped by this script; PostgreSQL is a throwaway cluster (initdb/pg_ctl as the
# `postgres` user, loopback, free port, fsync=on, synchronous_commit=on) and each engine gets a fresh database.
# Peers (DBOS Transact, Restate) are installed with npm inside bench/ on first use.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

smoke=0; only=""; repeats=3; warmups=1; spindle_src="$root"
while (( $# )); do
  case "$1" in
    --smoke) smoke=1 ;;
    --only) only="$2"; shift ;;
    --repeats) repeats="$2"; shift ;;
    --warmups) warmups="$2"; shift ;;
    --spindle-src) spindle_src="$(cd "$2" && pwd)"; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
work="$here/results/tmp/$stamp"; mkdir -p "$work"
passes="$work/passes"; mkdir -p "$passes"
log() { echo "[bench $(date -u +%H:%M:%S)] $*" >&2; }
skipped=()
pids_to_stop=()
pgdir=""

cleanup() {
  local p
  for p in "${pids_to_stop[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -n "$pgdir" ]]; then "$here/pg.sh" stop "$pgdir" || true; rm -rf "$pgdir"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_http() { # URL [seconds]
  local url="$1" t="${2:-60}" i
  for ((i = 0; i < t * 10; i++)); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "run.sh: $url did not come up in ${t}s" >&2; return 1
}

stop_pids() { # PID...
  local p
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  for p in "$@"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
}

want() { [[ -z "$only" || ",$only," == *",$1,"* ]]; }

# ---- build ---------------------------------------------------------------------------------------------------
log "building the driver and the CLI"
SPINDLE_BUILD_SLOT=bench dotnet build "$here/Spindle.Bench/Spindle.Bench.csproj" -c Release -nologo -v quiet -clp:ErrorsOnly >"$work/build.log" 2>&1 \
  || { cat "$work/build.log" >&2; exit 1; }
driver=(dotnet "$here/.build/bench/bin/Spindle.Bench/release/spindle-bench.dll")
"$spindle_src/spindle" --version >/dev/null
spindle_dll="$spindle_src/.build/cli/spindle.dll"
spindle_version="$(dotnet "$spindle_dll" --version 2>/dev/null | head -1)"
serve_help="$(dotnet "$spindle_dll" serve --help 2>&1 || true)"

# ---- environment record --------------------------------------------------------------------------------------
pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
python3 - "$work/env.json" <<PY
import json, os, platform, subprocess, sys
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception: return ""
cpu = next((l.split(":",1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((int(l.split()[1])//1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
osr = next((l.split("=",1)[1].strip().strip('"') for l in open("/etc/os-release") if l.startswith("PRETTY_NAME")), platform.platform())
env = {
  "cpu": cpu, "cores": os.cpu_count(), "memory_mb": mem, "os": osr, "kernel": platform.release(),
  "dotnet": sh("dotnet --list-runtimes | grep Microsoft.NETCore.App | tail -1"),
  "node": sh("node --version"), "postgresql": sh("$pgbin/postgres --version"),
  "spindle": "$spindle_version",
  "dbos_sdk": sh("node -p \"require('$here/node_modules/@dbos-inc/dbos-sdk/package.json').version\" 2>/dev/null"),
  "restate_server": sh("$here/node_modules/.bin/restate-server --version 2>/dev/null"),
  "restate_sdk": sh("node -p \"require('$here/node_modules/@restatedev/restate-sdk/package.json').version\" 2>/dev/null"),
  "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
  "cpu_placement": "no pinning: driver, engine, workers and database share both cores",
  "smoke": bool($smoke),
}
json.dump(env, open(sys.argv[1], "w"), indent=2)
PY

run_driver() { # URL ENGINE VARIANT DESCRIBE [extra driver args...]
  local url="$1" engine="$2" variant="$3" describe="$4"; shift 4
  local scale=1 w="$warmups" r="$repeats"
  if (( smoke )); then scale=0.1; w=0; r=1; fi
  "${driver[@]}" run --url "$url" --engine "$engine" --variant "$variant" --out-dir "$passes" \
    --warmups "$w" --repeats "$r" --scale "$scale" --env "$work/env.json" --describe "$describe" "$@"
}

status=0
# Spindle rows also profile 30 workflows run one at a time (not a compared row; skipped in smoke and wait rows).
solo_arg() { if (( ! smoke )) && [[ $1 == poll ]]; then echo "--solo 30"; fi; }

# ---- Spindle -------------------------------------------------------------------------------------------------
start_spindle() { # LOGNAME extra serve args... ; sets spindle_pid spindle_url
  local name="$1"; shift
  local port; port="$(free_port)"
  # As ./spindle serve runs it (JIT-compiled framework code instead of ReadyToRun, see ./spindle).
  DOTNET_ReadyToRun="${DOTNET_ReadyToRun:-0}" dotnet "$spindle_dll" serve --insecure-dev --port "$port" "$@" >"$work/$name.log" 2>&1 &
  spindle_pid=$!; pids_to_stop+=("$spindle_pid")
  spindle_url="http://127.0.0.1:$port"
  wait_http "$spindle_url/health" 60
}

spindle_sqlite() { # MODE
  local mode="$1" variant="std-sqlite"
  local data="$work/sqlite-$mode"; rm -rf "$data"
  start_spindle "spindle-sqlite-$mode" --data-dir "$data"
  log "Spindle std worker on SQLite ($mode) at $spindle_url"
  run_driver "$spindle_url" spindle "$variant" \
    "spindle serve --insecure-dev, embedded SQLite (WAL, synchronous=NORMAL), in-process std worker (concurrency 64, claim batch ≤32, long-poll, claim-next with the poll's slots)" \
    --deploy --events --mode "$mode" --proc "engine=$spindle_pid" $(solo_arg "$mode") || status=1
  stop_pids "$spindle_pid"
}

if want spindle-sqlite || (( smoke )); then spindle_sqlite poll; fi
if (( ! smoke )) && want spindle-sqlite-wait; then spindle_sqlite wait; fi

if (( smoke )); then
  "${driver[@]}" report --in "$passes" --json "$work/report.json" --md "$work/report.md" --title "(smoke $stamp)"
  cat "$work/report.md"
  if (( status )); then log "smoke FAILED (see above and $work)"; exit 1; fi
  log "smoke OK: $work/report.md"
  exit 0
fi

# ---- PostgreSQL ----------------------------------------------------------------------------------------------
need_pg=0
for c in spindle-pg spindle-pg-wait spindle-pg-pystd dbos pgbench; do want "$c" && need_pg=1; done
if (( need_pg )); then
  pgdir="$(mktemp -d /tmp/spindle-bench-pg.XXXXXX)"
  read -r pgport pgpid < <("$here/pg.sh" start "$pgdir")
  log "PostgreSQL on 127.0.0.1:$pgport (pid $pgpid, fsync=on, synchronous_commit=on)"
  python3 - "$work/env.json" "$pgbin/psql" "$pgport" <<'PY'
import json, subprocess, sys
f, psql, port = sys.argv[1:]
env = json.load(open(f))
q = "select name||'='||setting from pg_settings where name in ('fsync','synchronous_commit','full_page_writes','wal_sync_method','shared_buffers','max_connections','commit_delay')"
env["postgresql_settings"] = subprocess.run([psql, "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-qAt", "-c", q, "postgres"], capture_output=True, text=True).stdout.split()
json.dump(env, open(f, "w"), indent=2)
PY
fi
pg_url() { echo "postgres://postgres@127.0.0.1:$pgport/$1"; }
# Extra Npgsql settings for Spindle's --database-url only (experiments), e.g. BENCH_SPINDLE_DB_QUERY='No%20Reset%20On%20Close=true'
spindle_pg_url() { echo "$(pg_url "$1")${BENCH_SPINDLE_DB_QUERY:+?$BENCH_SPINDLE_DB_QUERY}"; }
fresh_db() { "$here/pg.sh" recreate "$pgdir" "$pgport" "$1"; }

has_pg_backend=0
grep -q -- '--database-url' <<<"$serve_help" && has_pg_backend=1

spindle_pg() { # MODE
  local mode="$1"
  fresh_db spindle_bench
  start_spindle "spindle-pg-$mode" --database-url "$(spindle_pg_url spindle_bench)" --data-dir "$work/pg-data-$mode"
  log "Spindle std worker on PostgreSQL ($mode) at $spindle_url"
  run_driver "$spindle_url" spindle std-postgres \
    "spindle serve --insecure-dev --database-url (PostgreSQL, fsync+synchronous_commit on), in-process std worker (concurrency 64, claim batch ≤32, long-poll, claim-next with the poll's slots)" \
    --deploy --events --mode "$mode" --proc "engine=$spindle_pid" --proc "db=$pgpid" $(solo_arg "$mode") || status=1
  stop_pids "$spindle_pid"
}

for mode in poll wait; do
  name="spindle-pg"; [[ $mode == wait ]] && name="spindle-pg-wait"
  want "$name" || continue
  if (( has_pg_backend )); then spindle_pg "$mode"; else skipped+=("$name: \`spindle serve\` has no --database-url yet (PostgreSQL backend not landed)"); fi
done

# py-std worker pool: spindle serve --no-worker + N × `python3 -m spindle.py_std` running OUTPUT = INPUT.
py_workers="${BENCH_PY_WORKERS:-1}"
# The same slots and claim batch as the in-process std worker's row, so that the row compares the workers rather than
# their sizes (py-std's own default is 16; its interpreter processes grow only when scripts wait for one).
# Interpreters are capped at 8: OUTPUT = INPUT holds one for microseconds, but on two saturated cores a script can
# wait out the pool's 20 ms grace behind a stalled event loop, and uncapped the pool then grew to ~60 interpreters (1 GB).
py_slots="${BENCH_PY_MAX_ACTIVITIES:-64}"; py_batch="${BENCH_PY_POLL_BATCH:-32}"; py_processes="${BENCH_PY_MAX_PROCESSES:-8}"
if want spindle-pg-pystd; then
  if (( ! has_pg_backend )); then
    skipped+=("spindle-pg-pystd: needs the PostgreSQL backend (--database-url)")
  elif ! PYTHONPATH="$spindle_src/sdk/python/src" /usr/bin/python3 -c 'import spindle.py_std' 2>/dev/null; then
    skipped+=("spindle-pg-pystd: the py-std worker (python3 -m spindle.py_std in sdk/python) is not there yet")
  else
    fresh_db spindle_bench
    start_spindle spindle-pg-pystd --no-worker --database-url "$(spindle_pg_url spindle_bench)" --data-dir "$work/pg-data-pystd"
    workers=()
    for ((i = 0; i < py_workers; i++)); do
      SPINDLE_API_URL="$spindle_url" SPINDLE_LOG_LEVEL=WARNING PYTHONPATH="$spindle_src/sdk/python/src" \
        /usr/bin/python3 -m spindle.py_std --max-activities "$py_slots" --poll-batch "$py_batch" --max-processes "$py_processes" >"$work/pystd-$i.log" 2>&1 &
      workers+=("$!"); pids_to_stop+=("$!")
    done
    log "Spindle --no-worker on PostgreSQL + $py_workers py-std workers at $spindle_url"
    run_driver "$spindle_url" spindle py-std-postgres \
      "spindle serve --no-worker --database-url + $py_workers × python3 -m spindle.py_std (script OUTPUT = INPUT in warm interpreters; $py_slots concurrent activities and claim batch $py_batch like the std worker's row, at most $py_processes interpreters; claim-next with the poll's slots; log level WARNING)" \
      --suffix _py-std --deploy --events $(solo_arg poll) --proc "engine=$spindle_pid,$(IFS=,; echo "${workers[*]}")" --proc "db=$pgpid" || status=1
    stop_pids "${workers[@]}" "$spindle_pid"
  fi
fi

# ---- peers ---------------------------------------------------------------------------------------------------
peers_ready=1
if want dbos || want restate-calls || want restate-journal; then
  if [[ ! -d "$here/node_modules/@dbos-inc/dbos-sdk" || ! -d "$here/node_modules/@restatedev/restate-sdk" ]]; then
    log "installing the peers with npm inside bench/"
    (cd "$here" && npm ci --no-audit --no-fund >"$work/npm.log" 2>&1) || { peers_ready=0; skipped+=("peers: npm install failed (see $work/npm.log)"); }
  fi
fi

if want dbos && (( peers_ready )); then
  fresh_db dbos_bench
  port="$(free_port)"
  (cd "$here/peers" && DBOS_SYSTEM_DATABASE_URL="$(pg_url dbos_bench)" exec node dbos.js "$port") >"$work/dbos.log" 2>&1 &
  dbos_pid=$!; pids_to_stop+=("$dbos_pid")
  wait_http "http://127.0.0.1:$port/health" 60
  log "DBOS Transact at :$port"
  run_driver "http://127.0.0.1:$port" dbos steps-checkpointed \
    "DBOS Transact $(node -p "require('$here/node_modules/@dbos-inc/dbos-sdk/package.json').version") in Node $(node --version): DBOS.startWorkflow, each step a DBOS.runStep checkpointed in PostgreSQL (same cluster, fresh database, pool 20); in-process thin HTTP adapter (peers/adapter.js), status from DBOS.getWorkflowStatus" \
    --proc "engine=$dbos_pid" --proc "db=$pgpid" || status=1
  stop_pids "$dbos_pid"
fi

restate_run() { # VARIANT(calls|journal)
  local variant="$1"
  local base; base="$(mktemp -d /tmp/spindle-bench-restate.XXXXXX)"
  local admin ingress node_port endpoint adapter
  admin="$(free_port)"; ingress="$(free_port)"; node_port="$(free_port)"; endpoint="$(free_port)"; adapter="$(free_port)"
  (cd "$base" && RESTATE_BASE_DIR="$base" RESTATE_ADMIN__BIND_PORT="$admin" RESTATE_INGRESS__BIND_PORT="$ingress" \
     RESTATE_BIND_PORT="$node_port" RESTATE_DISABLE_TELEMETRY=true RESTATE_LOG_FILTER=warn \
     exec "$here/node_modules/.bin/restate-server" --no-logo) >"$work/restate-server-$variant.log" 2>&1 &
  local server_pid=$!; pids_to_stop+=("$server_pid")
  (cd "$here/peers" && RESTATE_LOGGING=WARN RESTATE_BENCH_VARIANT="$variant" exec node restate.js "$adapter" "$endpoint" "http://127.0.0.1:$ingress") \
     >"$work/restate-node-$variant.log" 2>&1 &
  local node_pid=$!; pids_to_stop+=("$node_pid")
  wait_http "http://127.0.0.1:$admin/health" 60
  wait_http "http://127.0.0.1:$adapter/health" 60
  curl -fsS -X POST "http://127.0.0.1:$admin/deployments" -H 'content-type: application/json' \
    -d "{\"uri\": \"http://127.0.0.1:$endpoint\"}" >/dev/null
  local how="steps are separate durable calls to an echo service (ctx.serviceClient(echo).echo)"
  [[ $variant == journal ]] && how="steps are journal entries in the workflow (ctx.run)"
  log "Restate ($variant) at ingress :$ingress, adapter :$adapter"
  run_driver "http://127.0.0.1:$adapter" restate "$variant" \
    "Restate server $("$here/node_modules/.bin/restate-server" --version | awk '{print $2}') (single node, durable defaults: RocksDB + replicated loglet with WAL fsync), TypeScript SDK $(node -p "require('$here/node_modules/@restatedev/restate-sdk/package.json').version"); $how; thin HTTP adapter: submit = ingress /<wf>/<key>/run/send, status = /restate/workflow/<wf>/<key>/output" \
    --proc "engine=$server_pid,$node_pid" || status=1
  stop_pids "$node_pid" "$server_pid"
  rm -rf "$base"
}
if (( peers_ready )); then
  want restate-calls && restate_run calls
  want restate-journal && restate_run journal
fi

# ---- physical limit: pgbench ---------------------------------------------------------------------------------
pgbench_json="null"
if want pgbench; then
  fresh_db pgbench_bench
  psql_() { "$pgbin/psql" -h 127.0.0.1 -p "$pgport" -U postgres -qAt "$@" pgbench_bench; }
  psql_ -c "CREATE TABLE one_row (id int PRIMARY KEY, v bigint NOT NULL)" -c "INSERT INTO one_row SELECT g, 0 FROM generate_series(1, 10000) g"
  printf '\\set id random(1, 10000)\nUPDATE one_row SET v = v + 1 WHERE id = :id;\n' >"$work/pgbench.sql"
  runs="["
  for clients in 1 10 32; do
    tps="$("$pgbin/pgbench" -h 127.0.0.1 -p "$pgport" -U postgres -n -f "$work/pgbench.sql" -c "$clients" -j 2 -T 8 pgbench_bench 2>/dev/null \
      | sed -nE 's/^tps = ([0-9.]+).*/\1/p' | head -1)"
    log "pgbench one-row UPDATE, $clients clients: $tps commits/s"
    runs+="{\"clients\": $clients, \"tps\": ${tps:-0}},"
  done
  runs="${runs%,}]"
  pgbench_json="{\"runs\": $runs, \"tx_per_workflow\": {\"Sequential-5\": 6, \"Parallel-10\": 13, \"High-Concurrency-3\": 4},
    \"tx_note\": \"counted from src/Spindle.Storage for one workflow on its own with the std worker's claim-next: submit 1 (which also leases the root to the worker's waiting long-poll) + 1 complete per step (each completion also claims the next step for its worker); a root that finds no waiting poll costs one claim more; in Parallel-10 the start's completion leases all ten siblings (its own slot, the worker's free ones and its waiting poll's), and the last sibling's completion the join. Under load one claim statement also serves several workflows (measured: last column of the profile table)\"}"
fi

# ---- report --------------------------------------------------------------------------------------------------
python3 - "$work/passes/_extras.json" "$pgbench_json" "$work/env.json" "${skipped[@]+"${skipped[@]}"}" <<'PY'
import json, sys
out, pgb, envf, *skipped = sys.argv[1:]
env = json.load(open(envf))
load_end = open("/proc/loadavg").read().split()[:3]
json.dump({"pgbench": json.loads(pgb), "skipped": skipped,
           "noise": f"load average at start {' '.join(env['loadavg_at_start'])}, at end {' '.join(load_end)} (1/5/15 min, 2 cores)"},
          open(out, "w"), indent=2)
PY
day="$(date -u +%Y-%m-%d)"
"${driver[@]}" report --in "$passes" --json "$here/results/$day.json" --md "$here/results/$day.md" --title "$day"
log "wrote bench/results/$day.json and bench/results/$day.md (per-pass files and logs in $work)"
cat "$here/results/$day.md"
exit $status
