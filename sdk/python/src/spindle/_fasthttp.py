"""A small HTTP/1.1 keep-alive client on asyncio streams, used by default for the worker protocol.

The worker's hot path is one JSON POST per activity (plus polls and heartbeats). httpx costs close to a millisecond
of CPU per call there, which is more than everything else the worker does for a trivial script. This client
spends about a tenth of that. It does only what the Spindle API needs: HTTP/1.1 over TCP or TLS, requests with
a known length, responses delimited by Content-Length or chunked encoding (or by the close of the connection). It
does not handle redirects, compression or proxies. When a proxy is configured in the environment, the transport
uses httpx instead.
"""

from __future__ import annotations

import asyncio
import math
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["FastHttpClient", "HttpTransportError", "RawResponse"]


class HttpTransportError(Exception):
    """No (complete) answer: connection refused or reset, timeout, malformed response."""


class RawResponse:
    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content


class _StaleConnection(Exception):
    """A kept-alive connection was closed by the server before it answered: safe to send again."""


_Key = tuple[str, str, int]
_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Deadline:
    """One request in flight and when it times out."""

    __slots__ = ("due", "task", "cancelling", "expired")

    def __init__(self, due: float, task: asyncio.Task[object], cancelling: int) -> None:
        self.due = due
        self.task = task
        #: The task's cancel requests when the request started (a timeout is told apart from an outside cancel).
        self.cancelling = cancelling
        self.expired = False


class FastHttpClient:
    def __init__(self, *, max_idle_per_host: int = 64, default_headers: Mapping[str, str] | None = None) -> None:
        self.max_idle_per_host = max_idle_per_host
        self.default_headers = dict(default_headers or {})
        self._default_names = frozenset(self.default_headers)
        self._default_lines = [f"{name}: {value}" for name, value in self.default_headers.items()]
        #: scheme://host:port → (connection key, Host line): every call of a worker goes to the same origin.
        self._origins: dict[str, tuple[_Key, str]] = {}
        self._idle: dict[_Key, list[_Conn]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._closed = False
        #: Requests in flight. One timer watches them all, due at the earliest deadline: nearly every request ends long
        #: before its timeout, and a timer per request (asyncio.timeout: a handle, a heap push, a cancel) costs more
        #: than the rest of a small exchange's bookkeeping.
        self._inflight: set[_Deadline] = set()
        self._watchdog: asyncio.TimerHandle | None = None
        self._watchdog_due = math.inf
        self._watchdog_loop: asyncio.AbstractEventLoop | None = None

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 30.0,
    ) -> RawResponse:
        key, host, target = self._split(url)
        lines = [f"{method} {target} HTTP/1.1", host]
        if not headers:
            lines.extend(self._default_lines)
        elif self._default_names.isdisjoint(headers):
            lines.extend(self._default_lines)
            lines.extend(f"{name}: {value}" for name, value in headers.items())
        else:
            lines.extend(f"{name}: {value}" for name, value in {**self.default_headers, **headers}.items())
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        lines.append("\r\n")
        payload = "\r\n".join(lines).encode("latin-1") + (body or b"")
        deadline = self._watch(timeout)
        try:
            for attempt in range(2):
                conn, reused = await self._acquire(key)
                try:
                    response, reusable = await self._exchange(conn, payload, method, reused)
                except _StaleConnection:
                    _close(conn)
                    if attempt == 0:
                        continue
                    raise HttpTransportError(f"{method} {url}: the server closed the connection") from None
                except BaseException:
                    # Cancelled or failed half-way: the connection's state is unknown, never reuse it.
                    _close(conn)
                    raise
                if reusable:
                    self._release(key, conn)
                else:
                    _close(conn)
                return response
        except asyncio.CancelledError:
            if deadline is not None and deadline.expired and deadline.task.uncancel() <= deadline.cancelling:
                raise HttpTransportError(f"{method} {url} timed out after {timeout:g} s") from None
            raise
        except (OSError, asyncio.IncompleteReadError, ValueError, asyncio.LimitOverrunError) as exc:
            raise HttpTransportError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
        finally:
            if deadline is not None:
                self._inflight.discard(deadline)
        raise HttpTransportError(f"{method} {url}: no answer")

    def _watch(self, timeout: float) -> _Deadline | None:
        """Registers the current task's request with the watchdog (None outside a task: no timeout)."""
        task = asyncio.current_task()
        if task is None:
            return None
        loop = task.get_loop()
        if self._watchdog_loop is not loop:
            # A client used from another loop than before: the old loop's timer will not run here.
            if self._watchdog is not None:
                self._watchdog.cancel()
            self._watchdog, self._watchdog_due, self._watchdog_loop = None, math.inf, loop
            self._inflight = set()
        deadline = _Deadline(loop.time() + timeout, task, task.cancelling())
        self._inflight.add(deadline)
        if deadline.due < self._watchdog_due:
            if self._watchdog is not None:
                self._watchdog.cancel()
            self._watchdog_due = deadline.due
            self._watchdog = loop.call_at(deadline.due, self._watchdog_fired)
        return deadline

    def _watchdog_fired(self) -> None:
        """Cancels the requests past their deadline (request() turns that into HttpTransportError) and waits for
        the next deadline."""
        self._watchdog, self._watchdog_due = None, math.inf
        loop = self._watchdog_loop
        if loop is None:
            return
        # The loop may run a timer up to its clock resolution early.
        now = loop.time() + 0.001
        following = math.inf
        for deadline in list(self._inflight):
            if deadline.expired:
                continue
            if deadline.due <= now:
                deadline.expired = True
                deadline.task.cancel()
            elif deadline.due < following:
                following = deadline.due
        if following < math.inf:
            self._watchdog_due = following
            self._watchdog = loop.call_at(following, self._watchdog_fired)

    def _split(self, url: str) -> tuple[_Key, str, str]:
        """The connection key, the Host line and the request target of ``url``."""
        start = url.find("://")
        slash = url.find("/", start + 3) if start > 0 else -1
        origin, target = (url[:slash], url[slash:]) if slash > 0 else (url, "/")
        cached = self._origins.get(origin)
        if cached is None or "#" in target or "?" in origin:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise HttpTransportError(f"unsupported URL {url!r}")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            cached = ((parts.scheme, parts.hostname, port), f"Host: {parts.netloc.rsplit('@', 1)[-1]}")
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            if slash > 0 and "?" not in origin and len(self._origins) < 64:
                self._origins[origin] = cached
        elif target.endswith("?"):
            target = target[:-1]
        return cached[0], cached[1], target

    async def _acquire(self, key: _Key) -> tuple[_Conn, bool]:
        idle = self._idle.get(key)
        while idle:
            reader, writer = idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return (reader, writer), True
            writer.close()
        scheme, host, port = key
        context = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        reader, writer = await asyncio.open_connection(host, port, ssl=context, limit=1 << 20)
        return (reader, writer), False

    def _release(self, key: _Key, conn: _Conn) -> None:
        idle = self._idle.setdefault(key, [])
        if self._closed or len(idle) >= self.max_idle_per_host:
            _close(conn)
        else:
            idle.append(conn)

    async def _exchange(self, conn: _Conn, payload: bytes, method: str, reused: bool) -> tuple[RawResponse, bool]:
        reader, writer = conn
        try:
            writer.write(payload)
            await writer.drain()
            head = await _read_head(reader, reused)
        except (ConnectionResetError, BrokenPipeError):
            if reused:
                raise _StaleConnection() from None
            raise
        while True:
            version, status, headers = _parse_head(head)
            if 100 <= status < 200 and status != 101:
                head = await _read_head(reader, False)  # an interim answer; the real one follows
                continue
            break
        keep_alive = version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
        if method == "HEAD" or status in (204, 304):
            return RawResponse(status, headers, b""), keep_alive
        length = headers.get("content-length")
        if length is not None and "transfer-encoding" not in headers:
            return RawResponse(status, headers, await reader.readexactly(int(length))), keep_alive
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return RawResponse(status, headers, await _read_chunked(reader)), keep_alive
        if length is not None:
            return RawResponse(status, headers, await reader.readexactly(int(length))), keep_alive
        return RawResponse(status, headers, await reader.read()), False

    async def aclose(self) -> None:
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog, self._watchdog_due = None, math.inf
        for conns in self._idle.values():
            for conn in conns:
                _close(conn)
        self._idle.clear()


def _close(conn: _Conn) -> None:
    try:
        conn[1].close()
    except Exception:  # noqa: BLE001 - closing a broken connection must not raise
        pass


async def _read_head(reader: asyncio.StreamReader, reused: bool) -> bytes:
    """The status line and headers, up to and including the empty line (one read for the whole head)."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise HttpTransportError("connection closed inside the response headers") from None
        if reused:
            raise _StaleConnection() from None
        raise HttpTransportError("the server closed the connection without answering") from None


def _parse_head(head: bytes) -> tuple[str, int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise HttpTransportError(f"malformed status line {lines[0][:100]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return parts[0], int(parts[1]), headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_line = await reader.readline()
        if not size_line:
            raise HttpTransportError("connection closed inside a chunked body")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            # Trailers (if any) end with an empty line.
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
