"""A worker names itself when it publishes into an activity's stream: the server takes frames only from the lease
holder (docs/api.md, Streams)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from spindle._transport import AsyncTransport
from spindle.worker.api import WorkerApi
from spindle.worker.config import WorkerConfig


class _Recorder(ThreadingHTTPServer):
    """Answers every POST with ``{"subscribers": 0}`` and keeps the paths and bodies it got."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.posts.append((self.path, json.loads(body)))
                answer = b'{"subscribers": 0}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    server = _Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_publish_stream_sends_the_worker_id_with_every_frame(recorder: _Recorder) -> None:
    url = f"http://127.0.0.1:{recorder.server_address[1]}"
    api = WorkerApi(AsyncTransport(url), WorkerConfig(api_url=url, worker="w", worker_id="w-42"))

    async def publish() -> None:
        await api.publish_stream("act-1", "token", {"text": "Hel", "index": 0})
        await api.publish_stream("act-1", "complete", {"result": {"said": "Hello"}})

    asyncio.run(publish())

    paths = [path for path, _ in recorder.posts]
    assert paths == ["/api/v1/activities/act-1/ws/token", "/api/v1/activities/act-1/ws/complete"]
    assert recorder.posts[0][1] == {"text": "Hel", "index": 0, "worker_id": "w-42"}
    assert recorder.posts[1][1] == {"result": {"said": "Hello"}, "worker_id": "w-42"}
