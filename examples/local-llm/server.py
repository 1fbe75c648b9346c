#!/usr/bin/env python3
"""A tiny local OpenAI-compatible server for the AI examples (chat completions and embeddings, streaming off).

It answers deterministically, never calls out, and reports token usage so that Spindle records costs:
  python3 examples/local-llm/server.py --port 8399
then point the std worker at it with SPINDLE_OPENAI_BASE_URL=http://127.0.0.1:8399 SPINDLE_OPENAI_API_KEY=local.
"""
import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def tokens(text):
    return max(1, (len(text) + 3) // 4)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):  # quiet
        pass

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._answer(200, {"ok": True}) if self.path == "/health" else self._answer(404, {"error": {"message": "not found"}})

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        path = self.path.rstrip("/")
        if path.endswith("/chat/completions"):
            messages = body.get("messages", [])
            prompt = messages[-1]["content"] if messages else ""
            if body.get("response_format"):
                lowered = prompt.lower()
                label = "block" if "hate" in lowered else "review" if "buy now" in lowered else "safe"
                content = json.dumps({"label": label, "score": 0.9 if label != "safe" else 0.05})
            else:
                content = "Local answer (" + body.get("model", "?") + "): " + prompt[:200]
            prompt_tokens = sum(tokens(m.get("content", "")) for m in messages)
            completion_tokens = tokens(content)
            self._answer(200, {
                "id": "chatcmpl-local", "object": "chat.completion", "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
            })
        elif path.endswith("/embeddings"):
            inputs = body.get("input", [])
            inputs = [inputs] if isinstance(inputs, str) else inputs
            dims = int(body.get("dimensions") or 8)
            data = [{"object": "embedding", "index": i, "embedding": [((hash(t) >> k) % 100) / 100 for k in range(dims)]}
                    for i, t in enumerate(inputs)]
            used = sum(tokens(t) for t in inputs)
            self._answer(200, {"object": "list", "model": body.get("model"), "data": data,
                               "usage": {"prompt_tokens": used, "total_tokens": used}})
        else:
            self._answer(404, {"error": {"message": "unknown path " + self.path}})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8399)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    # --port 0 picks a free port; the line below names the one in use.
    print(f"local LLM server on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
