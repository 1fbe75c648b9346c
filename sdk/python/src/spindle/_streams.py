"""Following the server's Server-Sent Events routes (docs/api.md "Live streams") for both management clients: the
event-stream format, what each frame of the workflow-event and activity streams means, and where a dropped
connection resumes (``Last-Event-ID``). The clients own the HTTP loop (:mod:`spindle.client`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from ._backoff import CLIENT_BACKOFF
from ._calls import _seg
from ._transport import USER_AGENT, Response, error_from_response, transport_error
from .errors import ApiError
from .models import StreamChunk, WorkflowEvent

__all__: list[str] = []

T = TypeVar("T")

#: The events after which a run does nothing more (until someone retries it).
TERMINAL_EVENTS = frozenset({"WorkflowCompleted", "WorkflowFailed", "WorkflowCancelled"})
#: A connection that drops before giving anything new is retried this many times in a row, then the error is raised.
RECONNECTS = 3
#: The server sends a ping every 15 s: a connection silent for this long is taken as dropped.
READ_TIMEOUT = 60.0


@dataclass(frozen=True)
class SseMessage:
    event: str
    data: str
    id: str | None


class SseParser:
    """The ``text/event-stream`` format (the HTML standard's "Server-sent events"), fed one line at a time."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        #: Kept from message to message, as the standard says: a message without an ``id:`` line has the last one.
        self._id: str | None = None

    def line(self, line: str) -> SseMessage | None:
        """Takes one line; returns a message when the line completes one."""
        # Older httpx versions (Debian's among them) keep the line break in iter_lines().
        line = line.rstrip("\r\n")
        if not line:
            data, event = self._data, self._event
            self._data, self._event = [], ""
            if not data:
                return None
            return SseMessage(event or "message", "\n".join(data), self._id)
        if line.startswith(":"):
            return None  # a comment
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None


@dataclass(kw_only=True)
class FollowedStream(Generic[T]):
    """One followed stream across its connections: the request to send, and the items its frames give."""

    path: str
    params: dict[str, str] = field(default_factory=dict)
    #: The id of the last frame received (or the resume point given): sent as ``Last-Event-ID`` on each connection.
    last_id: str | None = None
    read: Callable[[dict[str, Any], str | None], T]
    is_last: Callable[[T], bool]
    finished: bool = False
    #: Connections in a row that gave nothing new.
    failures: int = 0
    _parser: SseParser = field(default_factory=SseParser)

    def headers(self, token: str | None) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", "User-Agent": USER_AGENT}
        if self.last_id:  # an empty id resets it (the standard's rule): no header
            headers["Last-Event-ID"] = self.last_id
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def connected(self) -> None:
        # A half-read message of the dropped connection is not completed by the next one.
        self._parser = SseParser()

    def feed(self, line: str) -> T | None:
        """The item a line completes, if any."""
        message = self._parser.line(line)
        if message is None:
            return None
        if message.event == "ping":
            self.failures = 0
            return None
        if message.event != "message":
            # "error" (SLOW_CLIENT: this reader fell too far behind): the server ends the connection after it and
            # the reconnect replays what was missed. Unknown events are for newer clients.
            return None
        item = self.read(json.loads(message.data), message.id)
        if message.id is not None:
            self.last_id = message.id
        self.failures = 0
        if self.is_last(item):
            self.finished = True
        return item

    def check(self, status_code: int, content: bytes, headers: Any, had_token: bool) -> None:
        """Raises the error of a connection the server refused."""
        if status_code != 200:
            raise error_from_response(Response(status_code, content, headers, had_token), "GET", self.path)

    def retry_delay(self, error: ApiError) -> float:
        """How long to wait before reconnecting after a drop; raises ``error`` when retrying is not worth it."""
        if not error.is_transient or self.failures >= RECONNECTS:
            raise error
        delay = CLIENT_BACKOFF.delay(self.failures)
        self.failures += 1
        return delay

    def dropped(self, exc: BaseException | None) -> ApiError:
        """The error to retry on: a network failure, or the server closing the stream before its end."""
        if isinstance(exc, ApiError):
            return exc
        if isinstance(exc, Exception):
            return transport_error(exc, "GET", self.path)
        return ApiError(f"GET {self.path}: the server closed the stream", status_code=0, method="GET", path=self.path)


def stream_timeout(timeout: float) -> httpx.Timeout:
    return httpx.Timeout(timeout, read=max(timeout, READ_TIMEOUT))


def _event(frame: dict[str, Any], _: str | None) -> WorkflowEvent:
    return WorkflowEvent.from_json(frame)


def event_stream(
    workflow_id: str | None, event_types: list[str] | None, from_event_id: str | None, until_terminal: bool
) -> FollowedStream[WorkflowEvent]:
    params = {"event_type": ",".join(event_types)} if event_types else {}
    if workflow_id is None:
        return FollowedStream(
            path="/api/v1/events/stream", params=params, last_id=from_event_id, read=_event, is_last=lambda e: False
        )
    return FollowedStream(
        path=f"/api/v1/workflows/{_seg(workflow_id)}/events/stream",
        params=params,
        last_id=from_event_id,
        read=_event,
        is_last=lambda e: until_terminal and e.event_type in TERMINAL_EVENTS,
    )


def _chunk(frame: dict[str, Any], event_id: str | None) -> StreamChunk:
    return StreamChunk.from_json(frame, int(event_id) if event_id and event_id.isdigit() else None)


def token_stream(workflow_id: str, activity_key: str) -> FollowedStream[StreamChunk]:
    return FollowedStream(
        path=f"/api/v1/workflows/{_seg(workflow_id)}/activities/{_seg(activity_key)}/stream",
        read=_chunk,
        is_last=lambda c: c.done,
    )
