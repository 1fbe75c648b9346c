#!/usr/bin/env bash
# Spindle's benchmark suite in one command (scenarios and method: BENCHMARKS.md "How it is measured").
#
#   bench/run.sh                 every configuration in alternating rounds (round r = pass r of every engine, one
#                                engine running at a time): 1 warm-up round + 3 measured rounds, then
#                                bench/results/<date>.json and bench/results/<date>.md
#   bench/run.sh --smoke         a few seconds: Spindle std worker on SQLite only, tiny N, no peers (CI)
#   bench/run.sh --only LIST     comma-separated subset of: spindle-sqlite, spindle-sqlite-wait, spindle-pg,
#                                spindle-pg-wait, spindle-pg-pystd, dbos, dbos-wait, restate-calls,
#                                restate-calls-wait, restate-journal, restate-journal-wait, pgbench
#                                (NAME polls every 50 ms; NAME-wait uses the native waiting read)
#   bench/run.sh --repeats N     measured rounds (default 3; --warmups N warm-up rounds, default 1)
#   bench/run.sh --scale X       multiply every scenario's N by X (quick checks; default 1)
#   bench/run.sh --results-dir D write <date>.json/.md into D instead of bench/results (quick checks)
#   bench/run.sh --ramp          also the open-loop capacity ramp (Chain-3, Poisson arrivals, rising rate, native
#                                waits) for spindle-sqlite, spindle-pg, dbos, restate-calls, restate-journal (as
#                                selected by --only, either form of the name); --ramp-only skips the rounds;
#                                --ramp-start WF_S (50), --ramp-factor X (1.4), --ramp-step-seconds S (20),
#                                --ramp-p99-ms MS (1000), --ramp-max-steps N (20), --ramp-confirm N (1: a failed
#                                step is run once more before the ramp stops)
#   bench/run.sh --spindle-src D build and run Spindle from another checkout D (e.g. a `git archive` of HEAD while
#                                others edit this work tree); default: this repository
#
# Every engine is started once by this script, frozen (SIGSTOP) while the others run and stopped at the end;
# PostgreSQL is a throwaway cluster (initdb/pg_ctl as the `postgres` user, loopback, free port, fsync=on,
# synchronous_commit=on) and each engine gets a fresh database.
# Peers (DBOS Transact, Restate) are installed with npm inside bench/ on first use.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

smoke=0; only=""; repeats=3; warmups=1; spindle_src="$root"; ramp=0; rounds_on=1; ramp_args=(); scale=1; results="$here/results"
while (( $# )); do
  case "$1" in
    --smoke) smoke=1 ;;
    --only) only="$2"; shift ;;
    --repeats) repeats="$2"; shift ;;
    --warmups) warmups="$2"; shift ;;
    --spindle-src) spindle_src="$(cd "$2" && pwd)"; shift ;;
    --scale) scale="$2"; shift ;;
    --results-dir) mkdir -p "$2"; results="$(cd "$2" && pwd)"; shift ;;
    --ramp) ramp=1 ;;
    --ramp-only) ramp=1; rounds_on=0 ;;
    --ramp-start|--ramp-factor|--ramp-step-seconds|--ramp-max-steps|--ramp-confirm) ramp_args+=("--${1#--ramp-}" "$2"); shift ;;
    --ramp-p99-ms) ramp_args+=(--p99-limit-ms "$2"); shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

(( smoke )) && only=spindle-sqlite
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
work="$here/results/tmp/$stamp"; mkdir -p "$work"
passes="$work/passes"; mkdir -p "$passes"
log() { echo "[bench $(date -u +%H:%M:%S)] $*" >&2; }
skipped=()
pids_to_stop=()
restate_dirs=()
pgdir=""
declare -A inst_url inst_roots inst_health inst_args inst_describe inst_engine inst_variant inst_state inst_frozen

cleanup() {
  local p
  # Frozen descendants (a worker's interpreters) would keep a SIGTERM pending forever: thaw everything first.
  for p in ${inst_frozen[@]+${inst_frozen[@]}}; do kill -CONT "$p" 2>/dev/null || true; done
  for p in "${pids_to_stop[@]+"${pids_to_stop[@]}"}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  if [[ -n "$pgdir" ]]; then "$here/pg.sh" stop "$pgdir" || true; rm -rf "$pgdir"; fi
  for p in "${restate_dirs[@]+"${restate_dirs[@]}"}"; do rm -rf "$p"; done
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
  "alternation": "rounds: pass r of every configuration in round r, one engine running at a time (the others SIGSTOPped)",
  "smoke": bool($smoke),
}
json.dump(env, open(sys.argv[1], "w"), indent=2)
PY

status=0

# ---- engine instances ----------------------------------------------------------------------------------------
# An instance is one engine process tree (plus its data) that serves one or two configurations: NAME polls every
# 50 ms, NAME-wait uses the native waiting read. Each instance is started the first time its turn comes and then
# kept for the whole run; while another instance is measured it is frozen (SIGSTOP on its whole process tree, SIGCONT
# for its turn), so exactly one engine runs at a time, yet none restarts cold between rounds.
instances=(spindle-sqlite spindle-pg spindle-pg-pystd dbos restate-calls restate-journal)
inst_modes() { # INSTANCE → "poll wait" as wanted
  local i="$1" m=""
  want "$i" && m+=" poll"
  [[ $i != spindle-pg-pystd ]] && (( ! smoke )) && want "$i-wait" && m+=" wait"
  echo $m
}

tree_of() { # PID... → the pids and all their descendants
  local queue=("$@") out=() p
  while (( ${#queue[@]} )); do
    p="${queue[0]}"; queue=("${queue[@]:1}")
    kill -0 "$p" 2>/dev/null || continue
    out+=("$p")
    for k in $(ps -o pid= --ppid "$p" 2>/dev/null || true); do queue+=("$k"); done
  done
  echo "${out[@]}"
}
cpu_ticks() { # PID... → utime+stime summed, in clock ticks
  local p sum=0 t
  for p in "$@"; do
    t="$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)"; sum=$((sum + t))
  done
  echo "$sum"
}
declare -A frozen_ticks_at frozen_ticks_total
park() { # INSTANCE: freeze its process tree until its next turn
  local i="$1"
  inst_frozen[$i]="$(tree_of ${inst_roots[$i]})"
  kill -STOP ${inst_frozen[$i]} 2>/dev/null || true
  frozen_ticks_at[$i]="$(cpu_ticks ${inst_frozen[$i]})"
  inst_state[$i]=parked
}
unpark() { # INSTANCE
  local i="$1" u
  # The idle cost of keeping it: CPU its tree used while frozen (expected 0: a stopped process is not scheduled).
  frozen_ticks_total[$i]=$(( ${frozen_ticks_total[$i]:-0} + $(cpu_ticks ${inst_frozen[$i]}) - ${frozen_ticks_at[$i]} ))
  kill -CONT ${inst_frozen[$i]} 2>/dev/null || true
  inst_state[$i]=up
  for u in ${inst_health[$i]}; do wait_http "$u" 30 || return 1; done
  sleep 1 # timers that came due while frozen (long-polls, heartbeats) fire and settle
}

start_spindle() { # LOGNAME extra serve args... ; sets spindle_pid spindle_url
  local name="$1"; shift
  local port; port="$(free_port)"
  # As ./spindle serve runs it (JIT-compiled framework code instead of ReadyToRun, see ./spindle).
  DOTNET_ReadyToRun="${DOTNET_ReadyToRun:-0}" dotnet "$spindle_dll" serve --insecure-dev --port "$port" "$@" >"$work/$name.log" 2>&1 &
  spindle_pid=$!; pids_to_stop+=("$spindle_pid")
  spindle_url="http://127.0.0.1:$port"
  wait_http "$spindle_url/health" 60
}
spindle_instance() { # INSTANCE VARIANT DESCRIBE  (after start_spindle)
  inst_url[$1]="$spindle_url"; inst_health[$1]="$spindle_url/health"; inst_engine[$1]=spindle; inst_variant[$1]="$2"; inst_describe[$1]="$3"
  inst_roots[$1]="$spindle_pid"
}
std_worker="in-process std worker (concurrency 256, claim batch ≤32, long-poll, claim-next with the poll's slots)"

# py-std worker pool: spindle serve --no-worker + N × `python3 -m spindle.py_std` running OUTPUT = INPUT.
py_workers="${BENCH_PY_WORKERS:-1}"
# The same slots and claim batch as the in-process std worker's row, so that the row compares the workers rather than
# their sizes (py-std's own default is 16; its interpreter processes grow only when scripts wait for one).
# Interpreters are capped at 8: OUTPUT = INPUT holds one for microseconds, but on two saturated cores a script can
# wait out the pool's 20 ms grace behind a stalled event loop, and uncapped the pool then grew to ~60 interpreters (1 GB).
py_slots="${BENCH_PY_MAX_ACTIVITIES:-256}"; py_batch="${BENCH_PY_POLL_BATCH:-32}"; py_processes="${BENCH_PY_MAX_PROCESSES:-8}"

start_instance() { # INSTANCE → 0 if it runs, 1 (with a line in skipped) if it cannot
  local i="$1"
  case "$i" in
    spindle-sqlite)
      start_spindle spindle-sqlite --data-dir "$work/sqlite-data" || return 1
      spindle_instance "$i" std-sqlite "spindle serve --insecure-dev, embedded SQLite (WAL, synchronous=NORMAL), $std_worker"
      inst_args[$i]="--deploy --events --proc engine=$spindle_pid"
      ;;
    spindle-pg)
      if (( ! has_pg_backend )); then skipped+=("$i: \`spindle serve\` has no --database-url yet"); return 1; fi
      fresh_db spindle_bench
      start_spindle spindle-pg --database-url "$(spindle_pg_url spindle_bench)" --data-dir "$work/pg-data" || return 1
      spindle_instance "$i" std-postgres "spindle serve --insecure-dev --database-url (PostgreSQL, fsync+synchronous_commit on), $std_worker"
      inst_args[$i]="--deploy --events --proc engine=$spindle_pid --proc db=$pgpid"
      ;;
    spindle-pg-pystd)
      if (( ! has_pg_backend )); then skipped+=("$i: needs the PostgreSQL backend (--database-url)"); return 1; fi
      if ! PYTHONPATH="$spindle_src/sdk/python/src" /usr/bin/python3 -c 'import spindle.py_std' 2>/dev/null; then
        skipped+=("$i: the py-std worker (python3 -m spindle.py_std in sdk/python) is not there yet"); return 1
      fi
      fresh_db spindle_bench_pystd
      start_spindle spindle-pg-pystd --no-worker --database-url "$(spindle_pg_url spindle_bench_pystd)" --data-dir "$work/pg-data-pystd" || return 1
      local workers=() w
      for ((w = 0; w < py_workers; w++)); do
        SPINDLE_API_URL="$spindle_url" SPINDLE_LOG_LEVEL=WARNING PYTHONPATH="$spindle_src/sdk/python/src" \
          /usr/bin/python3 -m spindle.py_std --max-activities "$py_slots" --poll-batch "$py_batch" --max-processes "$py_processes" >"$work/pystd-$w.log" 2>&1 &
        workers+=("$!"); pids_to_stop+=("$!")
      done
      spindle_instance "$i" py-std-postgres "spindle serve --no-worker --database-url + $py_workers × python3 -m spindle.py_std (script OUTPUT = INPUT in warm interpreters; $py_slots concurrent activities and claim batch $py_batch like the std worker's row, at most $py_processes interpreters; claim-next with the poll's slots; log level WARNING)"
      inst_roots[$i]="$spindle_pid ${workers[*]}"
      inst_args[$i]="--suffix _py-std --deploy --events --proc engine=$spindle_pid,$(IFS=,; echo "${workers[*]}") --proc db=$pgpid"
      ;;
    dbos)
      (( peers_ready )) || return 1
      fresh_db dbos_bench
      local port; port="$(free_port)"
      (cd "$here/peers" && DBOS_SYSTEM_DATABASE_URL="$(pg_url dbos_bench)" exec node dbos.js "$port") >"$work/dbos.log" 2>&1 &
      local pid=$!; pids_to_stop+=("$pid")
      wait_http "http://127.0.0.1:$port/health" 60 || return 1
      inst_url[$i]="http://127.0.0.1:$port"; inst_health[$i]="${inst_url[$i]}/health"; inst_roots[$i]="$pid"
      inst_engine[$i]=dbos; inst_variant[$i]=steps-checkpointed
      inst_describe[$i]="DBOS Transact $(node -p "require('$here/node_modules/@dbos-inc/dbos-sdk/package.json').version") in Node $(node --version): DBOS.startWorkflow, each step a DBOS.runStep checkpointed in PostgreSQL (same cluster, fresh database, pool 20); in-process thin HTTP adapter (peers/adapter.js): status from DBOS.getWorkflowStatus, waiting read = the handle's getResult() then the status"
      inst_args[$i]="--proc engine=$pid --proc db=$pgpid"
      ;;
    restate-calls|restate-journal)
      (( peers_ready )) || return 1
      local variant="${i#restate-}"
      local base; base="$(mktemp -d /tmp/spindle-bench-restate.XXXXXX)"; restate_dirs+=("$base")
      local admin ingress node_port endpoint adapter
      admin="$(free_port)"; ingress="$(free_port)"; node_port="$(free_port)"; endpoint="$(free_port)"; adapter="$(free_port)"
      (cd "$base" && RESTATE_BASE_DIR="$base" RESTATE_ADMIN__BIND_PORT="$admin" RESTATE_INGRESS__BIND_PORT="$ingress" \
         RESTATE_BIND_PORT="$node_port" RESTATE_DISABLE_TELEMETRY=true RESTATE_LOG_FILTER=warn \
         exec "$here/node_modules/.bin/restate-server" --no-logo) >"$work/restate-server-$variant.log" 2>&1 &
      local server_pid=$!; pids_to_stop+=("$server_pid")
      (cd "$here/peers" && RESTATE_LOGGING=WARN RESTATE_BENCH_VARIANT="$variant" exec node restate.js "$adapter" "$endpoint" "http://127.0.0.1:$ingress") \
         >"$work/restate-node-$variant.log" 2>&1 &
      local node_pid=$!; pids_to_stop+=("$node_pid")
      wait_http "http://127.0.0.1:$admin/health" 60 || return 1
      wait_http "http://127.0.0.1:$adapter/health" 60 || return 1
      curl -fsS -X POST "http://127.0.0.1:$admin/deployments" -H 'content-type: application/json' \
        -d "{\"uri\": \"http://127.0.0.1:$endpoint\"}" >/dev/null || return 1
      local how="steps are separate durable calls to an echo service (ctx.serviceClient(echo).echo)"
      [[ $variant == journal ]] && how="steps are journal entries in the workflow (ctx.run)"
      inst_url[$i]="http://127.0.0.1:$adapter"; inst_health[$i]="http://127.0.0.1:$admin/health ${inst_url[$i]}/health"
      inst_roots[$i]="$server_pid $node_pid"; inst_engine[$i]=restate; inst_variant[$i]="$variant"
      inst_describe[$i]="Restate server $("$here/node_modules/.bin/restate-server" --version | awk '{print $2}') (single node, durable defaults: RocksDB + replicated loglet with WAL fsync), TypeScript SDK $(node -p "require('$here/node_modules/@restatedev/restate-sdk/package.json').version"); $how; thin HTTP adapter: submit = ingress /<wf>/<key>/run/send, status = /restate/workflow/<wf>/<key>/output, waiting read = /restate/workflow/<wf>/<key>/attach"
      inst_args[$i]="--proc engine=$server_pid,$node_pid"
      ;;
  esac
  inst_state[$i]=up
  log "$i up at ${inst_url[$i]}"
}
ensure_up() { # INSTANCE
  case "${inst_state[$1]:-}" in
    up) return 0 ;;
    parked) unpark "$1" ;;
    failed) return 1 ;;
    *)
      local before=${#skipped[@]}
      if ! start_instance "$1"; then
        inst_state[$1]=failed; log "$1 could not start (see $work)"
        (( ${#skipped[@]} > before )) || skipped+=("$1: could not start (logs in $work)")
        return 1
      fi ;;
  esac
}
stop_instance() { # INSTANCE
  local i="$1"
  [[ -n "${inst_state[$i]:-}" && ${inst_state[$i]} != failed ]] || return 0
  [[ ${inst_state[$i]} == parked ]] && kill -CONT ${inst_frozen[$i]} 2>/dev/null || true
  stop_pids ${inst_roots[$i]}
  inst_state[$i]=stopped
}

run_driver() { # INSTANCE MODE PASS-ARGS...
  local i="$1" mode="$2"; shift 2
  (( smoke )) && scale=0.1
  "${driver[@]}" run --url "${inst_url[$i]}" --engine "${inst_engine[$i]}" --variant "${inst_variant[$i]}" --mode "$mode" \
    --out-dir "$passes" --scale "$scale" --env "$work/env.json" --describe "${inst_describe[$i]}" ${inst_args[$i]} "$@"
}

# ---- PostgreSQL ----------------------------------------------------------------------------------------------
need_pg=0
for c in spindle-pg spindle-pg-wait spindle-pg-pystd dbos dbos-wait pgbench; do want "$c" && need_pg=1; done
(( ramp )) && need_pg=1 # the ramp's ceiling: pgbench in the same run
(( smoke )) && need_pg=0
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

# ---- peers ---------------------------------------------------------------------------------------------------
peers_ready=1
if (( ! smoke )) && { want dbos || want dbos-wait || want restate-calls || want restate-calls-wait || want restate-journal || want restate-journal-wait; }; then
  if [[ ! -d "$here/node_modules/@dbos-inc/dbos-sdk" || ! -d "$here/node_modules/@restatedev/restate-sdk" ]]; then
    log "installing the peers with npm inside bench/"
    (cd "$here" && npm ci --no-audit --no-fund >"$work/npm.log" 2>&1) || { peers_ready=0; skipped+=("peers: npm install failed (see $work/npm.log)"); }
  fi
fi

# ---- alternating rounds --------------------------------------------------------------------------------------
# Round r runs pass r of every configuration, instance after instance (A1 B1 C1 … A2 B2 C2 …), so slow drift of the
# machine hits every engine alike; the first `warmups` rounds are discarded. Each pass starts with a few unrecorded
# workflows per scenario (the driver's priming: a fresh driver process and a just-thawed engine).
(( smoke )) && { warmups=0; repeats=1; }
(( rounds_on )) || { warmups=0; repeats=0; }
total_rounds=$((warmups + repeats))
for ((round = 1; round <= total_rounds; round++)); do
  if (( round <= warmups )); then pass_args=(--pass "$round" --warmup); what="warm-up round $round"
  else pass_args=(--pass "$((round - warmups))"); what="round $((round - warmups)) of $repeats"; fi
  log "$what"
  for inst in "${instances[@]}"; do
    modes="$(inst_modes "$inst")"
    [[ -n $modes ]] || continue
    ensure_up "$inst" || continue
    for mode in $modes; do
      extra=()
      # Spindle's polling rows also profile 30 workflows run one at a time (not a compared row), in the last round.
      if (( ! smoke && round == total_rounds )) && [[ ${inst_engine[$inst]} == spindle && $mode == poll ]]; then extra=(--solo 30); fi
      run_driver "$inst" "$mode" "${pass_args[@]}" "${extra[@]+"${extra[@]}"}" || status=1
    done
    park "$inst"
  done
done

if (( smoke )); then
  "${driver[@]}" report --in "$passes" --json "$work/report.json" --md "$work/report.md" --title "(smoke $stamp)"
  cat "$work/report.md"
  if (( status )); then log "smoke FAILED (see above and $work)"; exit 1; fi
  log "smoke OK: $work/report.md"
  exit 0
fi

# ---- open-loop capacity ramp ---------------------------------------------------------------------------------
# Chain-3 at Poisson arrivals of rising rate, native waits, one instance at a time (the others frozen).
if (( ramp )); then
  for inst in spindle-sqlite spindle-pg dbos restate-calls restate-journal; do
    want "$inst" || want "$inst-wait" || continue
    ensure_up "$inst" || continue
    log "ramp: $inst"
    # shellcheck disable=SC2086 # inst_args holds plain words
    "${driver[@]}" ramp --url "${inst_url[$inst]}" --engine "${inst_engine[$inst]}" --variant "${inst_variant[$inst]}" \
      --out-dir "$passes" --describe "${inst_describe[$inst]}" ${inst_args[$inst]} "${ramp_args[@]+"${ramp_args[@]}"}" || status=1
    park "$inst"
  done
fi
for inst in "${instances[@]}"; do stop_instance "$inst"; done

# ---- physical limit: pgbench ---------------------------------------------------------------------------------
pgbench_json="null"
if want pgbench || (( ramp )); then
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
  pgbench_json="{\"runs\": $runs, \"tx_per_workflow\": {\"Sequential-5\": 6, \"Parallel-10\": 13, \"High-Concurrency-3\": 4, \"Chain-3\": 4},
    \"tx_note\": \"counted from src/Spindle.Storage for one workflow on its own with the std worker's claim-next: submit 1 (which also leases the root to the worker's waiting long-poll) + 1 complete per step (each completion also claims the next step for its worker); a root that finds no waiting poll costs one claim more; in Parallel-10 the start's completion leases all ten siblings (its own slot, the worker's free ones and its waiting poll's), and the last sibling's completion the join. Under load one claim statement also serves several workflows (measured: last column of the profile table)\"}"
fi

# ---- report --------------------------------------------------------------------------------------------------
frozen_json="{"
for i in "${!frozen_ticks_total[@]}"; do frozen_json+="\"$i\": $(awk -v t="${frozen_ticks_total[$i]}" 'BEGIN{printf "%.2f", t / 100}'),"; done
frozen_json="${frozen_json%,}}"
python3 - "$work/passes/_extras.json" "$pgbench_json" "$work/env.json" "$frozen_json" "${skipped[@]+"${skipped[@]}"}" <<'PY'
import json, sys
out, pgb, envf, frozen, *skipped = sys.argv[1:]
env = json.load(open(envf))
load_end = open("/proc/loadavg").read().split()[:3]
json.dump({"pgbench": json.loads(pgb), "skipped": skipped, "frozen_idle_cpu_s": json.loads(frozen),
           "noise": f"load average at start {' '.join(env['loadavg_at_start'])}, at end {' '.join(load_end)} (1/5/15 min, 2 cores)"},
          open(out, "w"), indent=2)
PY
day="$(date -u +%Y-%m-%d)"
"${driver[@]}" report --in "$passes" --json "$results/$day.json" --md "$results/$day.md" --title "$day"
log "wrote $results/$day.json and $results/$day.md (per-pass files and logs in $work)"
cat "$results/$day.md"
exit $status
