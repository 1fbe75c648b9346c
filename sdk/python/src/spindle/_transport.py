"""HTTP plumbing shared by the worker and the management clients: the bearer token (docs/worker-protocol.md), the
error envelope (docs/api.md), and one transparent retry after a 401."""

from __future__ import annotations

import asyncio
import json as _json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx

from ._fasthttp import FastHttpClient, HttpTransportError
from ._version import __version__
from .errors import ApiError, AuthenticationError

_UNSET: Any = object()
USER_AGENT = f"spindle-python/{__version__}"


@dataclass(frozen=True, kw_only=True)
class ClientCredentials:
    """OAuth client credentials. ``token_url`` defaults to ``<api_url>/api/v1/oauth/token``."""

    client_id: str
    client_secret: str
    token_url: str | None = None


def normalise_base_url(api_url: str) -> str:
    url = api_url.strip()
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"api_url must be an absolute http(s) URL, got {api_url!r}")
    return url.rstrip("/")


class TokenState:
    """The cached token. Refreshed ahead of expiry, by a tenth of its lifetime and at most 60 s."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.token: str | None = None
        self.refresh_at = 0.0
        self.fetches = 0

    def current(self) -> str | None:
        if self.token is not None and self._clock() < self.refresh_at:
            return self.token
        return None

    def store(self, response: Response, url: str) -> str:
        body = _json_or_none(response)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthenticationError(
                f"POST {url} answered without an access_token", status_code=response.status_code, method="POST", path=url
            )
        expires_in = body.get("expires_in") if isinstance(body, dict) else None
        lifetime = float(expires_in) if isinstance(expires_in, (int, float)) and expires_in > 0 else 3600.0
        self.token = token
        self.refresh_at = self._clock() + lifetime - min(60.0, lifetime / 10)
        self.fetches += 1
        return token

    def invalidate(self, token: str | None) -> None:
        if token is None or self.token == token:
            self.token = None


def token_request_body(credentials: ClientCredentials) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
    }


@dataclass
class Response:
    """An answer, whichever HTTP client fetched it."""

    status_code: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    request_had_auth: bool = False

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return _json.loads(self.content)


def _json_or_none(response: Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def error_from_response(response: Response, method: str, path: str) -> ApiError:
    code: str | None = None
    message: str | None = None
    details: Any = None
    body = _json_or_none(response)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = err.get("code") if isinstance(err.get("code"), str) else None
        message = err.get("message") if isinstance(err.get("message"), str) else None
        details = err.get("details")
    elif isinstance(body, dict) and isinstance(body.get("error"), str):
        # OAuth-style answers ({"error": "invalid_client", "error_description": …}).
        code = body["error"]
        message = body.get("error_description") if isinstance(body.get("error_description"), str) else None
    elif response.content:
        message = response.text[:500]
    text = f"{method} {path} failed with {response.status_code}" + (f" {code}" if code else "")
    if message:
        text += f": {message}"
    if response.status_code == 401 and not response.request_had_auth:
        text += " (the server requires a token: configure SPINDLE_CLIENT_ID and SPINDLE_CLIENT_SECRET)"
    cls = AuthenticationError if response.status_code == 401 else ApiError
    return cls(text, status_code=response.status_code, code=code, details=details, method=method, path=path)


def transport_error(exc: Exception, method: str, path: str) -> ApiError:
    return ApiError(f"{method} {path} failed: {type(exc).__name__}: {exc}", status_code=0, method=method, path=path)


#: One encoder for every request body: json.dumps with options builds a new JSONEncoder at each call, which costs more
#: than encoding a small body. Also used by the worker's reports.
encode_json = _json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _encode(json: Any, content: bytes | str | None, content_type: str | None) -> tuple[bytes | None, dict[str, str]]:
    headers: dict[str, str] = {}
    if json is not _UNSET:
        headers["Content-Type"] = "application/json"
        return encode_json(json).encode(), headers
    if content is not None:
        if content_type:
            headers["Content-Type"] = content_type
        return (content.encode() if isinstance(content, str) else content), headers
    return None, headers


def _with_query(url: str, params: Mapping[str, Any] | None) -> str:
    if not params:
        return url
    return f"{url}?{urlencode({k: v for k, v in params.items() if v is not None})}"


_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def use_fast_client() -> bool:
    """The built-in client unless ``SPINDLE_HTTP_CLIENT=httpx`` or a proxy is configured (httpx honours those)."""
    choice = (os.environ.get("SPINDLE_HTTP_CLIENT") or "").strip().lower()
    if choice in ("httpx", "fast"):
        return choice == "fast"
    return not any(os.environ.get(v) or os.environ.get(v.upper()) for v in _PROXY_VARIABLES)


class _AsyncBackend(Protocol):
    async def send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float
    ) -> Response: ...

    async def aclose(self) -> None: ...


class _FastBackend:
    def __init__(self) -> None:
        self._client = FastHttpClient(default_headers={"User-Agent": USER_AGENT, "Accept": "application/json"})

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float) -> Response:
        try:
            raw = await self._client.request(method, url, headers=headers, body=body, timeout=timeout)
        except HttpTransportError as exc:
            raise transport_error(exc, method, url) from exc
        return Response(raw.status_code, raw.content, raw.headers, "Authorization" in headers)

    async def aclose(self) -> None:
        await self._client.aclose()


class _HttpxBackend:
    def __init__(self, http: httpx.AsyncClient | None, timeout: float, max_connections: int) -> None:
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )
        self._owns = http is None

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float) -> Response:
        try:
            r = await self._http.request(method, url, content=body, headers=headers, timeout=timeout)
        except httpx.TransportError as exc:
            raise transport_error(exc, method, url) from exc
        return Response(r.status_code, r.content, r.headers, "Authorization" in headers)

    async def aclose(self) -> None:
        if self._owns:
            await self._http.aclose()


def _credentials_error(credentials: ClientCredentials, err: ApiError, url: str) -> ApiError:
    if err.status_code == 401:
        return AuthenticationError(
            f"Invalid client credentials for client_id {credentials.client_id!r}: {err.message}",
            status_code=401,
            code=err.code,
            method="POST",
            path=url,
        )
    return err


class AsyncTransport:
    """An HTTP client plus the cached token; safe for concurrent use within one event loop.

    The built-in keep-alive client is used unless ``http`` (an ``httpx.AsyncClient``) is given, ``SPINDLE_HTTP_CLIENT``
    is ``httpx``, or a proxy is configured in the environment.
    """

    def __init__(
        self,
        api_url: str,
        *,
        credentials: ClientCredentials | None = None,
        timeout: float = 30.0,
        max_connections: int = 100,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = normalise_base_url(api_url)
        self.credentials = credentials if credentials and credentials.client_id else None
        self.timeout = timeout
        self._backend: _AsyncBackend
        if http is None and use_fast_client():
            self._backend = _FastBackend()
        else:
            self._backend = _HttpxBackend(http, timeout, max_connections)
        self._tokens = TokenState()
        self._token_lock: asyncio.Lock | None = None

    @property
    def token_fetches(self) -> int:
        """How many tokens were fetched so far (diagnostics and tests)."""
        return self._tokens.fetches

    def invalidate_token(self) -> None:
        self._tokens.invalidate(None)

    async def get_token(self) -> str | None:
        """The bearer token, fetched lazily; None without credentials (insecure dev mode)."""
        if self.credentials is None:
            return None
        token = self._tokens.current()
        if token is not None:
            return token
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        async with self._token_lock:
            # Another caller may have fetched it while we waited: one fetch in flight per process.
            token = self._tokens.current()
            if token is not None:
                return token
            url = self.credentials.token_url or f"{self.base_url}/api/v1/oauth/token"
            body, headers = _encode(token_request_body(self.credentials), None, None)
            response = await self._backend.send("POST", url, headers, body, self.timeout)
            if response.status_code != 200:
                raise _credentials_error(self.credentials, error_from_response(response, "POST", url), url)
            return self._tokens.store(response, url)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = _UNSET,
        content: bytes | str | None = None,
        content_type: str | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        authenticated: bool = True,
    ) -> Response:
        """Sends one call; on a 401 to a request that carried a token, drops it and repeats the call once."""
        body, headers = _encode(json, content, content_type)
        url = _with_query(f"{self.base_url}{path}", params)
        for auth_attempt in range(2):
            token = await self.get_token() if authenticated else None
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            response = await self._backend.send(method, url, headers, body, timeout or self.timeout)
            if response.status_code == 401 and token is not None and auth_attempt == 0:
                self._tokens.invalidate(token)
                continue
            if response.is_success:
                return response
            raise error_from_response(response, method, path)
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._backend.aclose()


class SyncTransport:
    """The blocking twin of :class:`AsyncTransport` (over ``httpx.Client``); safe for use from several threads."""

    def __init__(
        self,
        api_url: str,
        *,
        credentials: ClientCredentials | None = None,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        self.base_url = normalise_base_url(api_url)
        self.credentials = credentials if credentials and credentials.client_id else None
        self.timeout = timeout
        self._http = http or httpx.Client(
            timeout=httpx.Timeout(timeout), headers={"User-Agent": USER_AGENT, "Accept": "application/json"}
        )
        self._owns_http = http is None
        self._tokens = TokenState()
        self._token_lock = threading.Lock()

    @property
    def token_fetches(self) -> int:
        return self._tokens.fetches

    @property
    def http(self) -> httpx.Client:
        """The httpx client (the management client's live streams read through it)."""
        return self._http

    def invalidate_token(self) -> None:
        self._tokens.invalidate(None)

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float) -> Response:
        try:
            r = self._http.request(method, url, content=body, headers=headers, timeout=timeout)
        except httpx.TransportError as exc:
            raise transport_error(exc, method, url) from exc
        return Response(r.status_code, r.content, r.headers, "Authorization" in headers)

    def get_token(self) -> str | None:
        if self.credentials is None:
            return None
        token = self._tokens.current()
        if token is not None:
            return token
        with self._token_lock:
            token = self._tokens.current()
            if token is not None:
                return token
            url = self.credentials.token_url or f"{self.base_url}/api/v1/oauth/token"
            body, headers = _encode(token_request_body(self.credentials), None, None)
            response = self._send("POST", url, headers, body, self.timeout)
            if response.status_code != 200:
                raise _credentials_error(self.credentials, error_from_response(response, "POST", url), url)
            return self._tokens.store(response, url)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = _UNSET,
        content: bytes | str | None = None,
        content_type: str | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        authenticated: bool = True,
    ) -> Response:
        body, headers = _encode(json, content, content_type)
        url = _with_query(f"{self.base_url}{path}", params)
        for auth_attempt in range(2):
            token = self.get_token() if authenticated else None
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            response = self._send(method, url, headers, body, timeout or self.timeout)
            if response.status_code == 401 and token is not None and auth_attempt == 0:
                self._tokens.invalidate(token)
                continue
            if response.is_success:
                return response
            raise error_from_response(response, method, path)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._owns_http:
            self._http.close()
