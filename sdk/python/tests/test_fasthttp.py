"""The built-in HTTP/1.1 client of the worker, against scripted raw-socket servers (framing, keep-alive, failures)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from spindle._fasthttp import FastHttpClient, HttpTransportError
from spindle._transport import AsyncTransport
from support import SpindleServer


class RawServer:
    """Accepts connections and answers each request with ``respond(request_index)``; counts connections."""

    def __init__(self, respond: Callable[[int], bytes | None], *, close_after_each: bool = False) -> None:
        self.respond = respond
        self.close_after_each = close_after_each
        self.connections = 0
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            self._exchange(conn)
        except OSError:
            pass  # the client gave up (a timeout test) or went away

    def _exchange(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buffer = rest[length:]
                answer = self.respond(len(self.requests) - 1)
                if answer is None:
                    return  # hang up without answering
                conn.sendall(answer)
                if self.close_after_each:
                    return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def make(respond: Callable[[int], bytes | None], **options: Any) -> RawServer:
        server = RawServer(respond, **options)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def held_server(raw_server: Callable[..., RawServer]) -> tuple[RawServer, threading.Event]:
    """A server that answers `{}` only once the returned gate is set (or after 5 s)."""
    gate = threading.Event()

    def respond(i: int) -> bytes:
        gate.wait(5)
        return ok(b"{}")

    return raw_server(respond), gate


def test_chunked_bodies_are_reassembled(raw_server: Callable[..., RawServer]) -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n3;ext=1\r\n 12\r\n1\r\n}\r\n0\r\n\r\n"
    server = raw_server(lambda i: chunked)

    async def go() -> bytes:
        client = FastHttpClient()
        try:
            return (await client.request("GET", server.url + "/x")).content
        finally:
            await client.aclose()

    assert run(go()) == b'{"a": 12}'


def test_requests_reuse_one_kept_alive_connection_and_send_their_body(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(lambda i: ok(b'{"n": %d}' % i))

    async def go() -> list[bytes]:
        client = FastHttpClient(default_headers={"User-Agent": "t"})
        try:
            return [
                (await client.request("POST", server.url + "/p?q=1", body=b'{"k":1}', headers={"X-A": "b"})).content
                for _ in range(3)
            ]
        finally:
            await client.aclose()

    assert run(go()) == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /p?q=1 HTTP/1.1\r\n")
    assert b"Content-Length: 7\r\n" in first and b"X-A: b\r\n" in first and first.endswith(b'{"k":1}')


def test_a_connection_the_server_closed_while_idle_is_replaced_transparently(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(lambda i: ok(b"{}"), close_after_each=True)

    async def go() -> list[int]:
        client = FastHttpClient()
        try:
            codes = []
            for _ in range(3):
                codes.append((await client.request("GET", server.url + "/")).status_code)
                await asyncio.sleep(0.05)
            return codes
        finally:
            await client.aclose()

    assert run(go()) == [200, 200, 200]
    assert server.connections == 3


def test_body_without_length_is_read_until_the_connection_closes(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(lambda i: b"HTTP/1.0 503 Service Unavailable\r\n\r\nbusy", close_after_each=True)

    async def go() -> tuple[int, bytes]:
        client = FastHttpClient()
        try:
            response = await client.request("GET", server.url + "/")
            return response.status_code, response.content
        finally:
            await client.aclose()

    assert run(go()) == (503, b"busy")


def test_no_answer_and_refused_connections_are_transport_errors(raw_server: Callable[..., RawServer]) -> None:
    silent = raw_server(lambda i: None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused_port = s.getsockname()[1]

    async def go() -> list[str]:
        client = FastHttpClient()
        messages = []
        for url in (silent.url + "/", f"http://127.0.0.1:{refused_port}/"):
            with pytest.raises(HttpTransportError) as info:
                await client.request("GET", url, timeout=2)
            messages.append(str(info.value))
        await client.aclose()
        return messages

    hung_up, refused = run(go())
    assert "closed the connection" in hung_up
    assert "ConnectionRefusedError" in refused or "Connect" in refused


def test_slow_answers_time_out(raw_server: Callable[..., RawServer]) -> None:
    server, gate = held_server(raw_server)

    async def go() -> None:
        client = FastHttpClient()
        try:
            with pytest.raises(HttpTransportError, match="timed out after 0.3 s"):
                await client.request("GET", server.url + "/", timeout=0.3)
        finally:
            gate.set()
            await client.aclose()

    run(go())


def test_one_watchdog_times_out_each_request_at_its_own_deadline(raw_server: Callable[..., RawServer]) -> None:
    """Requests in flight share one timer: a short timeout fires while a longer one (started earlier) keeps waiting
    and gets its answer; a request started after a timeout fired is watched again."""
    release_first = threading.Event()
    gate = threading.Event()

    def respond(i: int) -> bytes:
        (release_first if i == 0 else gate).wait(5)
        return ok(b'{"n": %d}' % i)

    server = raw_server(respond)

    async def go() -> None:
        client = FastHttpClient()
        try:
            slow = asyncio.ensure_future(client.request("GET", server.url + "/slow", timeout=10))
            await asyncio.sleep(0.05)
            with pytest.raises(HttpTransportError, match="timed out after 0.2 s"):
                await client.request("GET", server.url + "/short", timeout=0.2)
            assert not slow.done()
            release_first.set()
            assert (await slow).content == b'{"n": 0}'
            with pytest.raises(HttpTransportError, match="timed out after 0.2 s"):
                await client.request("GET", server.url + "/again", timeout=0.2)
        finally:
            release_first.set()
            gate.set()
            await client.aclose()

    run(go())


def test_a_cancelled_request_is_cancelled_not_timed_out(raw_server: Callable[..., RawServer]) -> None:
    server, gate = held_server(raw_server)

    async def go() -> None:
        client = FastHttpClient()
        try:
            task = asyncio.ensure_future(client.request("GET", server.url + "/", timeout=0.3))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The deadline of the cancelled request is gone: the watchdog cancels nothing later.
            await asyncio.sleep(0.4)
            assert not client._inflight
        finally:
            gate.set()
            await client.aclose()

    run(go())


def test_transport_talks_to_the_real_server_with_the_builtin_client(server: SpindleServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPINDLE_HTTP_CLIENT", raising=False)

    async def go() -> tuple[str, dict[str, Any]]:
        transport = AsyncTransport(server.url)
        try:
            info = (await transport.request("GET", "/api/v1/info", authenticated=False)).json()
            page = (await transport.request("GET", "/api/v1/workflows", params={"limit": 2})).json()
            return type(transport._backend).__name__, {"api": info["api_version"], "limit": page["limit"]}
        finally:
            await transport.aclose()

    backend, answers = run(go())
    assert backend == "_FastBackend"
    assert answers == {"api": "v1", "limit": 2}


def test_httpx_takes_over_when_asked_for_or_when_a_proxy_is_configured(
    server: SpindleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spindle._transport import use_fast_client

    monkeypatch.delenv("SPINDLE_HTTP_CLIENT", raising=False)
    assert use_fast_client()
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert not use_fast_client()
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("SPINDLE_HTTP_CLIENT", "httpx")

    async def go() -> tuple[str, int]:
        transport = AsyncTransport(server.url)
        try:
            page = (await transport.request("GET", "/api/v1/workflows", params={"limit": 3})).json()
            return type(transport._backend).__name__, page["limit"]
        finally:
            await transport.aclose()

    assert run(go()) == ("_HttpxBackend", 3)
