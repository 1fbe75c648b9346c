"""Test helpers: a real Spindle server, worker runners, and an OAuth gateway in front of the server.

Token expiry, revocation mid-run and bursts of 503s are exercised through :class:`TokenGateway`: a tiny local token
endpoint plus a pass-through that checks bearer tokens the way the server does and forwards every accepted call
unchanged to the real server. It also records what workers send, and can lose the answer to a call the server has
already carried out. Nothing in the worker protocol is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

SDK_ROOT = Path(__file__).resolve().parent.parent
SRC = SDK_ROOT / "src"
REPO_ROOT = SDK_ROOT.parent.parent
PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def wait_until(predicate: Any, timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it no longer runs anything.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].split()[0] != "Z"
    except OSError:
        return False


#: Script code that names its process (``/proc/<pid>/comm``, at most 15 characters) ``INPUT['marker']``: a script
#: in the sandbox has a pid of its own namespace, so tests find its process by this name, scanning /proc.
MARK_PROCESS = (
    "import ctypes, os, time\n"
    "ctypes.CDLL(None).prctl(15, INPUT['marker'].encode(), 0, 0, 0)\n"
)


def marker() -> str:
    return "mk" + uuid.uuid4().hex[:12]


def marked_processes(mark: str) -> list[int]:
    """Live processes whose name (comm) is ``mark`` or whose command line has ``mark`` as an argument."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", "rb") as f:
                comm = f.read().strip()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if (comm == mark.encode() or mark.encode() in argv) and pid_alive(int(entry)):
            found.append(int(entry))
    return found


@dataclass
class SpindleServer:
    """``./spindle serve --insecure-dev`` on a free port with its own data directory."""

    data_dir: Path
    with_std_worker: bool = True
    #: ``--insecure-dev``: no tokens needed. Off: real token authentication, with the local admin credential in
    #: ``data_dir/admin-credentials.json``.
    insecure: bool = True
    #: More ``spindle serve`` arguments (``--python-workers 1``) and environment variables for the server.
    extra_args: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 900.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / "server.log"
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            attempt += 1
            command = ["./spindle", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)]
            if self.insecure:
                command.append("--insecure-dev")
            if not self.with_std_worker:
                command.append("--no-worker")
            command += self.extra_args
            log = open(self.log_path, "ab")
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **self.extra_env} if self.extra_env else None,
            )
            log.close()
            # ./spindle builds the CLI first when sources changed; that can take minutes on a busy machine.
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                try:
                    if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.3)
            if time.monotonic() >= deadline or attempt >= 3:
                tail = self.log_path.read_text(errors="replace")[-4000:]
                self.stop()
                raise RuntimeError(f"spindle serve did not become healthy (attempt {attempt}):\n{tail}")
            # The build can fail while other changes are half-written: try again shortly.
            time.sleep(10)
            self.port = free_port()

    def admin_credentials(self) -> tuple[str, str]:
        data = json.loads((self.data_dir / "admin-credentials.json").read_text())
        return data["client_id"], data["client_secret"]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def py_std_environment(api_url: str, **extra: str) -> dict[str, str]:
    """Exactly what ``spindle serve --python-workers`` provides: PYTHONPATH at the package source, the API URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPINDLE_", "KRUXIAFLOW_"))}
    env["PYTHONPATH"] = str(SRC)
    env["SPINDLE_API_URL"] = api_url
    env.update(extra)
    return env


class PyStdProcess:
    """``/usr/bin/python3 -m spindle.py_std`` as a child process, logging to a file."""

    def __init__(self, api_url: str, log_path: Path, **env: str) -> None:
        self.log_path = log_path
        self.env = py_std_environment(api_url, **env)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> PyStdProcess:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [PYTHON, "-m", "spindle.py_std", "--log-level", "DEBUG"],
            cwd=self.log_path.parent,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until(lambda: "long-poll" in self.log() or self.process.poll() is not None, timeout, what="py-std start")
        if self.process.poll() is not None:
            raise RuntimeError(f"py-std worker exited at start:\n{self.log()}")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait_exit(self, timeout: float = 30.0) -> int | None:
        """Waits for the worker to exit on its own (after :meth:`signal`), without signalling it again: a second
        SIGTERM means "stop now" to the worker."""
        if self.process is None:
            return None
        self.process.wait(timeout)
        return self.process.returncode

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


class WorkerThread:
    """Runs a :class:`spindle.Worker` on its own event loop in a background thread."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name="test-worker", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self.worker.run_async())
        except BaseException as exc:  # noqa: BLE001 - surfaced by stop()
            self.error = exc

    def __enter__(self) -> WorkerThread:
        self.thread.start()
        assert self.worker.wait_ready(60), "worker did not start"
        return self

    def stop(self, timeout: float = 60.0) -> None:
        self.worker.request_shutdown()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "worker did not stop"
        if self.error is not None:
            raise self.error

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# --- OAuth gateway ------------------------------------------------------------------------------------------------


class TokenGateway:
    """A token endpoint and an authenticating pass-through to a real Spindle server.

    ``POST /api/v1/oauth/token`` issues opaque tokens for one client (JSON or form body). Every other call must
    carry a valid token (401 with the error envelope otherwise) unless ``require_token`` is off; it is then
    forwarded to the upstream server without the Authorization header (the server runs in insecure dev mode).
    """

    def __init__(
        self,
        upstream: str,
        *,
        client_id: str = "worker-client",
        client_secret: str = "s3cret",
        expires_in: int = 3600,
        require_token: bool = True,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self.require_token = require_token
        self.lock = threading.Lock()
        self.tokens: dict[str, float] = {}
        self.issued = 0
        self.rejected = 0
        self.fail_next = 0
        self.failures_sent = 0
        self.authorization_headers: list[str | None] = []
        #: ``(method, path, JSON body or None)`` of every call passed on to the server, in arrival order.
        self.forwarded: list[tuple[str, str, Any]] = []
        #: Calls whose path ends with this are forwarded, but the server's answer is replaced with a 503 (a network
        #: error after the server acted), ``lose_answers`` times.
        self.lose_answer_suffix = ""
        self.lose_answers = 0
        self.answers_lost = 0
        #: Feature names removed from ``GET /api/v1/info`` answers (a server without those extensions).
        self.hidden_features: set[str] = set()
        #: Paths (by suffix) answered 404 without reaching the server (a server without those routes), and how often.
        self.missing_routes: set[str] = set()
        self.missing_hits = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> TokenGateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self, path_suffix: str) -> list[dict[str, Any]]:
        """The JSON bodies of the forwarded POSTs whose path ends with ``path_suffix``."""
        with self.lock:
            return [b for m, p, b in self.forwarded if m == "POST" and p.endswith(path_suffix) and isinstance(b, dict)]

    def revoke_all(self) -> None:
        with self.lock:
            self.tokens.clear()

    def _issue(self) -> dict[str, Any]:
        with self.lock:
            self.issued += 1
            token = f"tok-{self.issued}-{uuid.uuid4().hex[:8]}"
            self.tokens[token] = time.monotonic() + self.expires_in
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in, "scope": "workflows worker"}

    def _token_ok(self, header: str | None) -> bool:
        if not header or not header.lower().startswith("bearer "):
            return False
        token = header[7:].strip()
        with self.lock:
            expiry = self.tokens.get(token)
            return expiry is not None and time.monotonic() < expiry

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, code: str, message: str) -> None:
                self._send(status, json.dumps({"error": {"code": code, "message": message}}).encode())

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _token(self, body: bytes) -> None:
                content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                if content_type == "application/x-www-form-urlencoded":
                    fields = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                else:
                    fields = json.loads(body or b"{}")
                if fields.get("grant_type") != "client_credentials":
                    self._error(400, "BAD_REQUEST", "unsupported grant_type")
                elif fields.get("client_id") == gateway.client_id and fields.get("client_secret") == gateway.client_secret:
                    self._send(200, json.dumps(gateway._issue()).encode())
                else:
                    self._error(401, "UNAUTHORIZED", "Invalid client credentials")

            def _handle(self) -> None:
                body = self._body()
                path = self.path
                if path.startswith("/api/v1/oauth/token"):
                    self._token(body)
                    return
                public = path.startswith(("/health", "/api/v1/info"))
                header = self.headers.get("Authorization")
                with gateway.lock:
                    gateway.authorization_headers.append(header)
                if not public and gateway.require_token and not gateway._token_ok(header):
                    with gateway.lock:
                        gateway.rejected += 1
                    self._error(401, "UNAUTHORIZED", "Missing, invalid or expired token")
                    return
                with gateway.lock:
                    failing = gateway.fail_next > 0 and not public
                    if failing:
                        gateway.fail_next -= 1
                        gateway.failures_sent += 1
                if failing:
                    self._error(503, "SERVICE_UNAVAILABLE", "gateway: simulated outage")
                    return
                with gateway.lock:
                    missing = any(path.endswith(suffix) for suffix in gateway.missing_routes)
                    if missing:
                        gateway.missing_hits += 1
                if missing:
                    self._error(404, "NOT_FOUND", "No such route")
                    return
                self._forward(body)

            def _forward(self, body: bytes) -> None:
                try:
                    parsed: Any = json.loads(body) if body else None
                except ValueError:
                    parsed = None
                with gateway.lock:
                    gateway.forwarded.append((self.command, self.path, parsed))
                    losing = (
                        gateway.lose_answers > 0
                        and bool(gateway.lose_answer_suffix)
                        and self.path.endswith(gateway.lose_answer_suffix)
                    )
                    if losing:
                        gateway.lose_answers -= 1
                        gateway.answers_lost += 1
                connection = http.client.HTTPConnection(gateway.upstream.hostname, gateway.upstream.port, timeout=60)
                try:
                    headers = {
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() not in ("authorization", "host", "connection", "content-length")
                    }
                    connection.request(self.command, self.path, body=body or None, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                    if self.path.startswith("/api/v1/info") and gateway.hidden_features and response.status == 200:
                        info = json.loads(data)
                        info["features"] = [f for f in info.get("features", []) if f not in gateway.hidden_features]
                        data = json.dumps(info).encode()
                    if losing:
                        self._error(503, "SERVICE_UNAVAILABLE", "gateway: answer lost after the server acted")
                        return
                    self._send(response.status, data, response.getheader("Content-Type") or "application/json")
                finally:
                    connection.close()

            do_GET = _handle
            do_POST = _handle

        return Handler


@contextlib.contextmanager
def running(worker: Any) -> Iterator[WorkerThread]:
    with WorkerThread(worker) as thread:
        yield thread


def create_client(admin: Any, name: str, scopes: list[str]) -> tuple[str, str]:
    """Creates an API client through an admin ``SpindleClient``; returns its id and secret. Client management is an
    operator route outside the SDK's surface, so it is called through the transport directly."""
    created = admin._transport.request("POST", "/api/v1/clients", json={"name": name, "scopes": scopes}).json()
    return created["client_id"], created["client_secret"]
