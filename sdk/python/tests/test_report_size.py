"""Reports larger than the server accepts: refused before sending, and a 413 is final (never repeated)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from spindle._transport import AsyncTransport
from spindle.worker.api import PayloadTooLargeError, WorkerApi
from spindle.worker.config import WorkerConfig


class _TooLarge(ThreadingHTTPServer):
    """Answers every POST with the server's 413 envelope, counting the calls."""

    def __init__(self) -> None:
        self.calls = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                server.calls += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.dumps({"error": {"code": "PAYLOAD_TOO_LARGE", "message": "Request body too large"}}).encode()
                self.send_response(413)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def too_large() -> Iterator[_TooLarge]:
    server = _TooLarge()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _api(url: str) -> WorkerApi:
    return WorkerApi(AsyncTransport(url), WorkerConfig(api_url=url, worker="w", worker_id="w1"))


def test_a_413_answer_is_final_and_not_retried(too_large: _TooLarge) -> None:
    url = f"http://127.0.0.1:{too_large.server_address[1]}"

    async def go() -> PayloadTooLargeError:
        api = _api(url)
        try:
            with pytest.raises(PayloadTooLargeError) as info:
                await api.complete("a1", {"x": "y" * 1000}, cost_usd=None, usage=None, retry_until=time.monotonic() + 60)
            return info.value
        finally:
            await api.transport.aclose()

    error = asyncio.run(go())
    assert too_large.calls == 1
    assert error.status_code == 413 and "too large" in error.message


def test_a_body_over_the_advertised_limit_is_not_sent(too_large: _TooLarge) -> None:
    url = f"http://127.0.0.1:{too_large.server_address[1]}"

    async def go() -> PayloadTooLargeError:
        api = _api(url)
        api.max_body_bytes = 10_000
        try:
            with pytest.raises(PayloadTooLargeError) as info:
                await api.complete("a1", {"x": "y" * 20_000}, cost_usd=None, usage=None, retry_until=time.monotonic() + 60)
            return info.value
        finally:
            await api.transport.aclose()

    error = asyncio.run(go())
    assert too_large.calls == 0
    assert (error.limit, error.size is not None and error.size > 20_000) == (10_000, True)
