#!/usr/bin/env bash
# Dispatch trace of Parallel-10 (docs/performance-notes.md, "Dispatch trace"): where a fan-out's branches wait between
# their parent's completion and their handler starting, per hop (P50/P95), on SQLite and PostgreSQL.
#
#   bench/trace.sh                         this tree, both stores, one round
#   bench/trace.sh --src A=/tmp/a --src B=/tmp/b --rounds 2
#                                          A/B: builds interleaved A B A B per store (e.g. `git archive` checkouts)
#   bench/trace.sh --stores sqlite --n 50 --passes 2
#
# The server runs with SPINDLE_TRACE_DISPATCH=1, so a build that has the timing record adds the hops inside the server
# and the worker; an older build gives the events' part only. Tables are printed and appended to
# bench/results/tmp/trace-<stamp>/trace.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

srcs=(); stores="sqlite,pg"; rounds=1; n=50; passes=2
while (( $# )); do
  case "$1" in
    --src) srcs+=("$2"); shift ;;
    --stores) stores="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    --n) n="$2"; shift ;;
    --passes) passes="$2"; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "trace.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
(( ${#srcs[@]} )) || srcs=("tree=$root")

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
work="$here/results/tmp/trace-$stamp"; mkdir -p "$work"
log() { echo "[trace $(date -u +%H:%M:%S)] $*" >&2; }
pids=(); pgdir=""
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -n "$pgdir" ]]; then "$here/pg.sh" stop "$pgdir" || true; rm -rf "$pgdir"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

log "building the driver and the CLI(s)"
SPINDLE_BUILD_SLOT=bench dotnet build "$here/Spindle.Bench/Spindle.Bench.csproj" -c Release -nologo -v quiet -clp:ErrorsOnly >"$work/build.log" 2>&1 \
  || { cat "$work/build.log" >&2; exit 1; }
driver=(dotnet "$here/.build/bench/bin/Spindle.Bench/release/spindle-bench.dll")
for s in "${srcs[@]}"; do "${s#*=}/spindle" --version >/dev/null; done

if [[ ",$stores," == *",pg,"* ]]; then
  pgdir="$(mktemp -d /tmp/spindle-trace-pg.XXXXXX)"
  read -r pgport _ < <("$here/pg.sh" start "$pgdir")
  log "PostgreSQL on 127.0.0.1:$pgport"
fi

one() { # NAME DIR STORE ROUND
  local name="$1" dir="$2" store="$3" round="$4" port args=() pid
  port="$(free_port)"
  local tag="$name-$store-r$round" data="$work/data-$name-$store-r$round"
  if [[ $store == pg ]]; then
    "$here/pg.sh" recreate "$pgdir" "$pgport" spindle_trace
    args=(--database-url "postgres://postgres@127.0.0.1:$pgport/spindle_trace")
  fi
  SPINDLE_TRACE_DISPATCH=1 SPINDLE_TRACE_DISPATCH_FILE="$work/$tag.jsonl" DOTNET_ReadyToRun=0 \
    dotnet "$dir/.build/cli/spindle.dll" serve --insecure-dev --port "$port" --data-dir "$data" "${args[@]}" >"$work/$tag.log" 2>&1 &
  pid=$!; pids+=("$pid")
  for _ in $(seq 1 600); do curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break; sleep 0.1; done
  log "$tag"
  "${driver[@]}" trace --url "http://127.0.0.1:$port" --deploy --trace-file "$work/$tag.jsonl" --n "$n" --passes "$passes" \
    --label "$name · $store · round $round" --out "$work/trace.md" --json "$work/$tag.json" || log "$tag: some workflows failed"
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
}

for ((r = 1; r <= rounds; r++)); do
  for store in ${stores//,/ }; do
    for s in "${srcs[@]}"; do one "${s%%=*}" "${s#*=}" "$store" "$r"; done
  done
done
log "tables: $work/trace.md"
