#!/usr/bin/env python3
"""A tiny local LLM server for the AI examples: OpenAI-compatible chat completions and embeddings, and the chat
routes of Anthropic (/v1/messages), Gemini (:generateContent, :streamGenerateContent?alt=sse) and Ollama (/api/chat),
each also in its streaming wire format when the request asks for it.

It answers deterministically, never calls out, and reports token usage so that Spindle records costs:
  python3 examples/local-llm/server.py --port 8399
then point the std worker at it with SPINDLE_OPENAI_BASE_URL=http://127.0.0.1:8399 SPINDLE_OPENAI_API_KEY=local
(likewise SPINDLE_ANTHROPIC_BASE_URL, SPINDLE_GOOGLE_BASE_URL, SPINDLE_OLLAMA_BASE_URL). Streamed answers come a word
at a time, a little apart (--token-delay), so that a live view shows them arriving.
"""
import argparse
import json
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN_DELAY = 0.02


def tokens(text):
    return max(1, (len(text) + 3) // 4)


def pieces(text):
    """The answer a word at a time (each piece keeps its leading space)."""
    return re.findall(r"\s*\S+", text) or [text]


def answer_text(model, prompt, json_mode):
    if json_mode:
        lowered = prompt.lower()
        label = "block" if "hate" in lowered else "review" if "buy now" in lowered else "safe"
        return json.dumps({"label": label, "score": 0.9 if label != "safe" else 0.05})
    return "Local answer (" + (model or "?") + "): " + prompt[:200]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _stream(self, content_type, chunks):
        """Sends each chunk as it is produced (chunked transfer encoding), then ends the body."""
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for i, chunk in enumerate(chunks):
            if i:
                time.sleep(TOKEN_DELAY)
            data = chunk.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _sse(self, events):
        self._stream("text/event-stream", (("event: %s\n" % name if name else "") + "data: " + (data if isinstance(data, str) else json.dumps(data)) + "\n\n"
                                            for name, data in events))

    def _openai_chat(self, body):
        messages = body.get("messages", [])
        prompt = messages[-1]["content"] if messages else ""
        content = answer_text(body.get("model"), prompt, bool(body.get("response_format")))
        prompt_tokens = sum(tokens(m.get("content", "")) for m in messages)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": tokens(content), "total_tokens": prompt_tokens + tokens(content)}
        if not body.get("stream"):
            return self._answer(200, {
                "id": "chatcmpl-local", "object": "chat.completion", "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": usage,
            })
        chunk = {"id": "chatcmpl-local", "object": "chat.completion.chunk", "model": body.get("model")}
        events = [(None, dict(chunk, choices=[{"index": 0, "delta": {"content": p}, "finish_reason": None}])) for p in pieces(content)]
        events.append((None, dict(chunk, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append((None, dict(chunk, choices=[], usage=usage)))
        events.append((None, "[DONE]"))
        self._sse(events)

    def _anthropic_chat(self, body):
        messages = body.get("messages", [])
        prompt = messages[-1]["content"] if messages else ""
        content = answer_text(body.get("model"), prompt, False)
        usage = {"input_tokens": sum(tokens(m.get("content", "")) for m in messages) + tokens(body.get("system", "")),
                 "output_tokens": tokens(content)}
        if not body.get("stream"):
            return self._answer(200, {"id": "msg_local", "type": "message", "role": "assistant", "model": body.get("model"),
                                      "content": [{"type": "text", "text": content}], "stop_reason": "end_turn", "usage": usage})
        events = [("message_start", {"type": "message_start", "message": {"id": "msg_local", "type": "message", "role": "assistant",
                                                                          "model": body.get("model"), "content": [],
                                                                          "usage": dict(usage, output_tokens=1)}}),
                  ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})]
        events += [("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}})
                   for p in pieces(content)]
        events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
                   ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": usage["output_tokens"]}}),
                   ("message_stop", {"type": "message_stop"})]
        self._sse(events)

    def _google_chat(self, body, model, stream):
        contents = body.get("contents", [])
        prompt = contents[-1]["parts"][0]["text"] if contents else ""
        content = answer_text(model, prompt, (body.get("generationConfig") or {}).get("responseMimeType") == "application/json")
        usage = {"promptTokenCount": sum(tokens(c["parts"][0].get("text", "")) for c in contents), "candidatesTokenCount": tokens(content)}
        if not stream:
            return self._answer(200, {"candidates": [{"content": {"role": "model", "parts": [{"text": content}]}, "finishReason": "STOP"}],
                                      "usageMetadata": usage})
        parts = pieces(content)
        self._sse([(None, {"candidates": [dict({"content": {"role": "model", "parts": [{"text": p}]}},
                                               **({"finishReason": "STOP"} if i == len(parts) - 1 else {}))],
                           "usageMetadata": usage}) for i, p in enumerate(parts)])

    def _ollama_chat(self, body):
        messages = body.get("messages", [])
        prompt = messages[-1]["content"] if messages else ""
        content = answer_text(body.get("model"), prompt, body.get("format") == "json")
        final = {"model": body.get("model"), "done": True, "done_reason": "stop",
                 "prompt_eval_count": sum(tokens(m.get("content", "")) for m in messages), "eval_count": tokens(content)}
        if body.get("stream") is False:
            return self._answer(200, dict(final, message={"role": "assistant", "content": content}))
        lines = [json.dumps({"model": body.get("model"), "message": {"role": "assistant", "content": p}, "done": False}) + "\n"
                 for p in pieces(content)]
        lines.append(json.dumps(dict(final, message={"role": "assistant", "content": ""})) + "\n")
        self._stream("application/x-ndjson", lines)

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
        path, _, query = path.partition("?")
        if path.endswith("/chat/completions"):
            self._openai_chat(body)
        elif path.endswith("/v1/messages"):
            self._anthropic_chat(body)
        elif ":generateContent" in path or ":streamGenerateContent" in path:
            model = path.rsplit("/", 1)[-1].split(":")[0]
            self._google_chat(body, model, ":streamGenerateContent" in path)
        elif path.endswith("/api/chat"):
            self._ollama_chat(body)
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
    global TOKEN_DELAY
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8399)
    parser.add_argument("--token-delay", type=float, default=TOKEN_DELAY, help="seconds between streamed pieces")
    args = parser.parse_args()
    TOKEN_DELAY = args.token_delay
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    # --port 0 picks a free port; the line below names the one in use.
    print(f"local LLM server on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
