from __future__ import annotations

import json
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

__all__ = ["ActivityContext", "ActivityResult", "Usage", "format_money", "parse_file_ref", "file_ref"]


def format_money(value: Decimal | float | int | str | None, what: str = "cost_usd") -> str | None:
    """A non-negative decimal string for the wire (docs/api.md), or None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number or a decimal string, not a bool")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{what} must be a number or a decimal string, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return format(amount, "f")


@dataclass(frozen=True, kw_only=True)
class Usage:
    """One model call's usage line (docs/worker-protocol.md). A line's ``cost_usd`` overrides the catalog price."""

    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_storage_token_hours: Decimal | float | str | None = None
    cost_usd: Decimal | float | str | None = None

    def __post_init__(self) -> None:
        if not self.provider or not self.model:
            raise ValueError("a usage line needs a non-empty provider and model")

    def to_json(self) -> dict[str, Any]:
        line: dict[str, Any] = {
            "provider": self.provider,
            "model": self.model,
            "input_tokens": int(self.input_tokens),
            "output_tokens": int(self.output_tokens),
            "cache_read_tokens": int(self.cache_read_tokens),
            "cache_creation_tokens": int(self.cache_creation_tokens),
        }
        if self.cache_storage_token_hours is not None:
            line["cache_storage_token_hours"] = format_money(self.cache_storage_token_hours, "cache_storage_token_hours")
        if self.cost_usd is not None:
            line["cost_usd"] = format_money(self.cost_usd)
        return line


@dataclass(kw_only=True)
class ActivityResult:
    """What a handler may return to report a cost with its output.

    ``output`` is the completion's object: each top-level key becomes one named output, read downstream as
    ``{{activity_key.<name>}}``. ``cost_usd`` without ``usage`` is the whole cost; with ``usage`` it is the part
    the usage lines do not cover.
    """

    output: Mapping[str, Any] = field(default_factory=dict)
    cost_usd: Decimal | float | str | None = None
    usage: list[Usage] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.output, Mapping):
            raise TypeError("ActivityResult.output must be a mapping (each key becomes one named output)")
        format_money(self.cost_usd)


def file_ref(workflow_id: str, activity_key: str, filename: str) -> str:
    """The reference form of a stored file (docs/worker-protocol.md)."""
    return f"postgres://{workflow_id}/{activity_key}/{filename}"


def parse_file_ref(ref: str) -> tuple[str, str, str]:
    prefix = "postgres://"
    if not ref.startswith(prefix):
        raise ValueError(f"not a file reference (expected postgres://<workflow>/<activity>/<file>): {ref!r}")
    parts = ref[len(prefix) :].split("/", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"malformed file reference: {ref!r}")
    return parts[0], parts[1], parts[2]


@dataclass(kw_only=True, eq=False)
class ActivityContext:
    """Everything a handler knows about the execution it runs.

    Handlers with side effects should be idempotent, keyed on ``workflow_id`` + ``activity_key`` + ``iteration``:
    delivery is at least once.
    """

    activity_id: str
    workflow_id: str
    activity_key: str
    activity_name: str
    worker: str
    worker_id: str
    attempt: int
    iteration: int
    parameters: dict[str, Any]
    settings: dict[str, Any] | None
    #: The execution limit in seconds: the activity's ``timeout_seconds``, else the worker default.
    timeout_seconds: float
    lease_seconds: int
    output_definitions: list[dict[str, Any]]
    signal: Any
    logger: logging.Logger
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    _heartbeat: Callable[[], Awaitable[bool]] | None = field(default=None, repr=False)
    _download: Callable[[str], Awaitable[bytes]] | None = field(default=None, repr=False)
    _upload: Callable[[str, bytes, str | None], Awaitable[str]] | None = field(default=None, repr=False)
    _stopped: threading.Event = field(default_factory=threading.Event, repr=False)
    _stream: Callable[[str, int], Awaitable[int]] | None = field(default=None, repr=False)
    #: How many chunks ``stream`` has published (the next chunk's index).
    streamed: int = field(default=0, repr=False)

    @property
    def cancelled(self) -> bool:
        """True once the execution was stopped (timeout, cancel, shutdown, lost lease).

        Async handlers are cancelled for real; synchronous ones cannot be, so long loops should check this flag.
        """
        return self._stopped.is_set()

    async def heartbeat(self) -> bool:
        """Sends a heartbeat now (the worker also sends them on its own); True if cancellation was requested."""
        if self._heartbeat is None:
            return False
        return await self._heartbeat()

    async def stream(self, chunk: Any) -> int:
        """Publishes one chunk of this activity's live stream: a string as is, anything else as compact JSON.

        Subscribers (``GET /api/v1/activities/{activity_id}/ws`` or ``…/stream``) get the chunks in order, and a
        late one the chunks so far; when the handler returns, the worker ends the stream with the result (or the
        error). The result is still recorded as the normal completion. Returns how many subscribers the server
        that took the chunk has.
        """
        if self._stream is None:
            raise RuntimeError("streaming is not available in this context")
        text = chunk if isinstance(chunk, str) else json.dumps(chunk, separators=(",", ":"), ensure_ascii=False)
        index = self.streamed
        self.streamed += 1
        return await self._stream(text, index)

    async def download_file(self, ref: str, dest: str | Path | None = None) -> Path:
        """Downloads a stored file (``postgres://wf/key/name``) to ``dest`` (default: its name in the cwd)."""
        if self._download is None:
            raise RuntimeError("file download is not available in this context")
        data = await self._download(ref)
        target = Path(dest) if dest is not None else Path(parse_file_ref(ref)[2])
        target.write_bytes(data)
        return target.resolve()

    async def upload_file(self, path: str | Path, filename: str | None = None, content_type: str | None = None) -> str:
        """Uploads a local file as an output file of this activity; returns its reference."""
        if self._upload is None:
            raise RuntimeError("file upload is not available in this context")
        source = Path(path)
        return await self._upload(filename or source.name, source.read_bytes(), content_type)
