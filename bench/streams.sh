#!/usr/bin/env bash
# Live-stream measurements (BENCHMARKS.md, "Live streams"): publish→receive latency of activity-stream tokens on one
# server (SQLite) and across two servers sharing PostgreSQL, and N concurrent SSE subscribers on one server with
# its resident memory. Small and quick; runs on its own (not part of run.sh).
#   bench/streams.sh [--tokens 500] [--subscribers 1000] [--fanout-tokens 100]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; root="$(cd "$here/.." && pwd)"
tokens=500; subscribers=1000; fanout_tokens=100
while (($#)); do
  case "$1" in
    --tokens) tokens="$2"; shift ;;
    --subscribers) subscribers="$2"; shift ;;
    --fanout-tokens) fanout_tokens="$2"; shift ;;
    *) echo "streams.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
stamp="$(date -u +%Y%m%dT%H%M%SZ)"; work="$here/results/tmp/streams-$stamp"; mkdir -p "$work"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { local i; for ((i = 0; i < 600; i++)); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
pids=(); pgdir=""
cleanup() {
  local p; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n "$pgdir" ]] && "$here/pg.sh" stop "$pgdir" || true
}
trap cleanup EXIT

log "building the driver and the CLI"
SPINDLE_BUILD_SLOT=bench dotnet build "$here/Spindle.Bench/Spindle.Bench.csproj" -c Release -nologo -v quiet -clp:ErrorsOnly >"$work/build.log" 2>&1 \
  || { cat "$work/build.log" >&2; exit 1; }
driver=(dotnet "$here/.build/bench/bin/Spindle.Bench/release/spindle-bench.dll")
"$root/spindle" --version >/dev/null
spindle_dll="$root/.build/cli/spindle.dll"

# Every subscriber of the bench is the same (anonymous) client: raise the per-client connection bound for it.
export SPINDLE_STREAM_CONNECTIONS_PER_CLIENT=$((subscribers + 100))
start_server() { # NAME serve-args... ; sets url pid
  local name="$1"; shift; local port; port="$(free_port)"
  DOTNET_ReadyToRun=0 dotnet "$spindle_dll" serve --insecure-dev --no-worker --port "$port" "$@" >"$work/$name.log" 2>&1 &
  pid=$!; pids+=("$pid"); url="http://127.0.0.1:$port"
  wait_http "$url/health" || { cat "$work/$name.log" >&2; exit 1; }
}

log "one server, SQLite: latency and $subscribers SSE subscribers"
start_server sqlite --data-dir "$work/sqlite-data"
"${driver[@]}" streams --url "$url" --tokens "$tokens" --subscribers "$subscribers" --fanout-tokens "$fanout_tokens" \
  --server-pid "$pid" --out "$work/sqlite.json"

log "two servers, one PostgreSQL: worker posts to A, subscriber on B"
pgdir="$(mktemp -d /tmp/spindle-streams-pg.XXXXXX)"
read -r pgport _ < <("$here/pg.sh" start "$pgdir")
"$here/pg.sh" recreate "$pgdir" "$pgport" spindle_streams
db="postgres://postgres@127.0.0.1:$pgport/spindle_streams"
start_server pg-a --database-url "$db" --data-dir "$work/pg-a"; url_a="$url"
start_server pg-b --database-url "$db" --data-dir "$work/pg-b"; url_b="$url"
"${driver[@]}" streams --url "$url_a" --url2 "$url_b" --tokens "$tokens" --out "$work/postgres-two-servers.json"
"${driver[@]}" streams --url "$url_a" --tokens "$tokens" --out "$work/postgres-one-server.json"
log "results in $work"
