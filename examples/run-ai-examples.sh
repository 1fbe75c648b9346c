#!/usr/bin/env bash
# Runs the AI examples (20-research-assistant, 21-content-moderation, 22-streaming-answer) against a local
# OpenAI-compatible server, so no API key or network is needed. Each workflow runs in an embedded server
# (./spindle run --embedded); the streaming one is shown live with --stream.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${LOCAL_LLM_PORT:-8399}"

python3 "$root/examples/local-llm/server.py" --port "$port" &
llm_pid=$!
trap 'kill "$llm_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then break; fi
  sleep 0.1
done

export SPINDLE_OPENAI_BASE_URL="http://127.0.0.1:$port"
export SPINDLE_OPENAI_API_KEY="local-example-key"

cd "$root"
./spindle run examples/20-research-assistant.yaml --embedded \
  --input '{"question": "What limits battery life in cold weather?"}'
./spindle run examples/21-content-moderation.yaml --embedded \
  --input '{"text": "Have a lovely day, everyone!"}'
./spindle run examples/22-streaming-answer.yaml --embedded --stream \
  --input '{"topic": "tides"}'
