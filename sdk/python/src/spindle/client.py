"""Management clients: deploy definitions, submit and follow workflows (docs/api.md).

:class:`SpindleClient` blocks; :class:`AsyncSpindleClient` is its asyncio twin with the same methods. Both build
their requests from the same :class:`_Call` descriptions (:mod:`spindle._calls`), so they cannot drift apart;
:class:`AsyncSpindleClient` lives in :mod:`spindle._async_client` and is imported from here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ._async_client import AsyncSpindleClient
from ._backoff import CLIENT_BACKOFF

# The constants and helpers shared with the async client live in _calls; they stay importable from here.
from ._calls import (  # noqa: F401
    DEFAULT_API_URL,
    MAX_WAIT_SECONDS,
    RETRIES,
    Definition,
    _Call,
    _Calls,
    _resolve,
    _wait_step,
    schedule_body,
)
from ._streams import FollowedStream, event_stream, stream_timeout, token_stream
from ._transport import SyncTransport
from .errors import ApiError, WorkflowTimeoutError
from .models import (
    ActivityOutput,
    BackfillResult,
    CancelResult,
    DefinitionSummary,
    DeployResult,
    Schedule,
    ScheduleList,
    SignalResult,
    StreamChunk,
    SubmitResult,
    TriggerResult,
    Workflow,
    WorkflowEvent,
    WorkflowOutputs,
    WorkflowPage,
)

__all__ = ["SpindleClient", "AsyncSpindleClient", "DEFAULT_API_URL"]

T = TypeVar("T")


class SpindleClient:
    """Blocking management client.

    Args:
        api_url: server base URL; default ``SPINDLE_API_URL``, else ``http://127.0.0.1:8080``.
        client_id: OAuth client id; default ``SPINDLE_CLIENT_ID``. Without one no token is sent (insecure dev mode).
        client_secret: default ``SPINDLE_CLIENT_SECRET``.
        token_url: default ``<api_url>/api/v1/oauth/token``.
        timeout: HTTP timeout in seconds for one call (default 30; waiting reads add their wait).
    """

    def __init__(
        self,
        api_url: str | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_url: str | None = None,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        url, credentials = _resolve(api_url, client_id, client_secret, token_url)
        self._transport = SyncTransport(url, credentials=credentials, timeout=timeout, http=http)
        self.timeout = timeout

    @property
    def api_url(self) -> str:
        return self._transport.base_url

    @property
    def token_fetches(self) -> int:
        return self._transport.token_fetches

    def _run(self, call: _Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = self._transport.request(
                    call.method,
                    call.path,
                    json=call.json,
                    content=call.content,
                    content_type=call.content_type,
                    params=call.params,
                    timeout=call.timeout,
                )
                return call.parse(response)
            except ApiError as exc:
                if not (call.idempotent and exc.is_transient and attempt < RETRIES):
                    raise
                time.sleep(CLIENT_BACKOFF.delay(attempt))
                attempt += 1

    def info(self) -> dict[str, Any]:
        """``GET /api/v1/info``: version and the ``features`` list."""
        return self._run(_Calls.info())

    def deploy(self, definition: Definition) -> DeployResult:
        """Deploys a definition given as YAML/JSON text, a path (``pathlib.Path``) or a mapping."""
        return self._run(_Calls.deploy(definition))

    def deploy_file(self, path: str | os.PathLike[str]) -> DeployResult:
        return self._run(_Calls.deploy(Path(path)))

    def list_definitions(self) -> list[DefinitionSummary]:
        return self._run(_Calls.list_definitions())

    def get_definition(self, name: str, *, version: str | None = None) -> dict[str, Any]:
        """The normalised definition (latest version unless ``version`` is given)."""
        return self._run(_Calls.get_definition(name, version))

    def submit(
        self,
        definition_name: str,
        input: Mapping[str, Any] | None = None,
        *,
        version: str | None = None,
        unique_key: str | None = None,
        priority: int | None = None,
    ) -> SubmitResult:
        """Starts a workflow; execution is asynchronous. ``version`` defaults to the latest; ``priority`` (0–1000,
        higher first) orders its activities in the queue unless they set their own."""
        return self._run(_Calls.submit(definition_name, input, version, unique_key, priority))

    def get(self, workflow_id: str, *, wait_seconds: int = 0) -> Workflow:
        """The workflow; with ``wait_seconds`` (0–30) the server answers early once it is terminal."""
        return self._run(_Calls.get(workflow_id, wait_seconds, self.timeout))

    def wait(self, workflow_id: str, *, timeout: float = 300.0) -> Workflow:
        """Blocks until the workflow is ``completed``, ``failed`` or ``cancelled`` and returns it.

        Uses the server's waiting read, so completion is seen within milliseconds without polling. Raises
        :class:`~spindle.errors.WorkflowTimeoutError` after ``timeout`` seconds (default 300).
        """
        deadline = time.monotonic() + timeout
        while True:
            step = _wait_step(deadline)
            started = time.monotonic()
            workflow = self.get(workflow_id, wait_seconds=step)
            if workflow.is_terminal:
                return workflow
            if time.monotonic() >= deadline:
                raise WorkflowTimeoutError(workflow_id, timeout, workflow.status)
            if time.monotonic() - started < 0.9 * step:
                # A server without the waiting read answers at once: do not spin.
                time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    def run(
        self,
        definition_name: str,
        input: Mapping[str, Any] | None = None,
        *,
        timeout: float = 300.0,
        version: str | None = None,
    ) -> Workflow:
        """Submits and waits: the terminal workflow."""
        submitted = self.submit(definition_name, input, version=version)
        return self.wait(submitted.workflow_id, timeout=timeout)

    def outputs(self, workflow_id: str) -> WorkflowOutputs:
        """Every activity's outputs of a completed workflow (the server answers 400 before that)."""
        return self._run(_Calls.outputs(workflow_id))

    def activity_output(self, workflow_id: str, activity_key: str) -> ActivityOutput:
        return self._run(_Calls.activity_output(workflow_id, activity_key))

    def cancel(self, workflow_id: str, *, reason: str | None = None) -> CancelResult:
        """Cancels a created or running workflow; running activities are told through their heartbeats."""
        return self._run(_Calls.cancel(workflow_id, reason))

    def retry(self, workflow_id: str) -> dict[str, Any]:
        """Runs the failed and cancelled activities of a failed or cancelled workflow again."""
        return self._run(_Calls.retry(workflow_id))

    def signal(
        self, workflow_id: str, event_name: str, data: Any = None, *, activity_key: str | None = None
    ) -> SignalResult:
        """Delivers a signal; without ``activity_key`` every activity waiting on ``event_name`` receives it."""
        return self._run(_Calls.signal(workflow_id, event_name, data, activity_key))

    def list_workflows(
        self,
        *,
        status: str | None = None,
        definition_name: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        limit: int = 100,
        offset: int = 0,
        cursor: str | None = None,
        schedule_id: str | None = None,
        id_prefix: str | None = None,
    ) -> WorkflowPage:
        """Workflows, newest first, optionally filtered. Page with ``cursor`` (a page's ``next_cursor`` or
        ``prev_cursor``: runs added meanwhile never shift a page) or with ``offset``."""
        return self._run(
            _Calls.list_workflows(
                status, definition_name, created_after, created_before, limit, offset, cursor, schedule_id, id_prefix
            )
        )

    def events(
        self, workflow_id: str, *, after: str | None = None, limit: int = 1000, event_types: list[str] | None = None
    ) -> list[WorkflowEvent]:
        """The workflow's event history in order (all pages)."""
        collected: list[WorkflowEvent] = []
        while True:
            page, more = self._run(_Calls.events(workflow_id, after, limit, event_types))
            collected.extend(page)
            if not more or not page:
                return collected
            after = page[-1].id

    def create_schedule(
        self,
        name: str,
        definition_name: str,
        *,
        cron: str | None = None,
        interval_seconds: int | None = None,
        timezone: str | None = None,
        input: Mapping[str, Any] | None = None,
        overlap_policy: str | None = None,
        **extra: Any,
    ) -> Schedule:
        """Creates a schedule (exactly one of ``cron`` and ``interval_seconds``); ``extra`` takes the other fields
        (``jitter_seconds``, ``start_at``, ``end_at``, ``remaining_runs``, ``catchup_window_seconds``, ``enabled``)."""
        body = schedule_body(name, definition_name, cron, interval_seconds, timezone, input, overlap_policy, extra)
        return self._run(_Calls.create_schedule(body))

    def list_schedules(self) -> ScheduleList:
        """Every schedule, ordered by name (iterate the answer, or read ``.schedules``)."""
        return self._run(_Calls.list_schedules())

    def get_schedule(self, schedule_id: str) -> Schedule:
        """One schedule with its next occurrences (``upcoming``) and recent runs (``recent_runs``)."""
        return self._run(_Calls.get_schedule(schedule_id))

    def update_schedule(self, schedule_id: str, **fields: Any) -> Schedule:
        """Changes the given fields (``cron``, ``input``, ``enabled``, …); the name cannot change."""
        return self._run(_Calls.update_schedule(schedule_id, fields))

    def pause_schedule(self, schedule_id: str, *, note: str | None = None) -> Schedule:
        return self._run(_Calls.set_schedule_enabled(schedule_id, False, note))

    def resume_schedule(self, schedule_id: str) -> Schedule:
        return self._run(_Calls.set_schedule_enabled(schedule_id, True, None))

    def trigger_schedule(self, schedule_id: str, *, ignore_overlap: bool = False) -> TriggerResult:
        """Runs an occurrence now; ``outcome`` says whether it was submitted, skipped or buffered."""
        return self._run(_Calls.trigger_schedule(schedule_id, ignore_overlap))

    def backfill_schedule(self, schedule_id: str, start: str, end: str) -> BackfillResult:
        """Submits the occurrences between ``start`` and ``end`` (RFC 3339, end exclusive; at most 1000)."""
        return self._run(_Calls.backfill_schedule(schedule_id, start, end))

    def delete_schedule(self, schedule_id: str) -> None:
        self._run(_Calls.delete_schedule(schedule_id))

    def stream_events(
        self,
        workflow_id: str | None = None,
        *,
        event_types: list[str] | None = None,
        from_event_id: str | None = None,
        until_terminal: bool = True,
    ) -> Iterator[WorkflowEvent]:
        """Follows workflow events live, over Server-Sent Events.

        With ``workflow_id``: that run's events from its first (or after ``from_event_id``), ending after its
        terminal event (``WorkflowCompleted``, ``WorkflowFailed``, ``WorkflowCancelled``) unless ``until_terminal``
        is False. Without: every run's events from now on (or after ``from_event_id``) until you stop iterating.
        ``event_types`` filters. A dropped connection resumes after the last event received, so nothing is missed
        or repeated.
        """
        return self._follow(event_stream(workflow_id, event_types, from_event_id, until_terminal))

    def stream_tokens(self, workflow_id: str, activity_key: str) -> Iterator[StreamChunk]:
        """Follows an activity's live stream (the chunks its worker publishes with ``ctx.stream``): the chunks so
        far, then the live ones, ending with the ``complete`` (or ``error``) chunk. Resumes after a dropped
        connection without repeating a chunk."""
        return self._follow(token_stream(workflow_id, activity_key))

    def _follow(self, stream: FollowedStream[T]) -> Iterator[T]:
        transport = self._transport
        url = f"{transport.base_url}{stream.path}"
        refreshed = False
        while not stream.finished:
            token = transport.get_token()
            try:
                with transport.http.stream(
                    "GET", url, params=stream.params, headers=stream.headers(token), timeout=stream_timeout(self.timeout)
                ) as response:
                    if response.status_code == 401 and token is not None and not refreshed:
                        transport.invalidate_token()
                        refreshed = True
                        continue
                    if response.status_code != 200:
                        response.read()
                        stream.check(response.status_code, response.content, response.headers, token is not None)
                    stream.connected()
                    for line in response.iter_lines():
                        item = stream.feed(line)
                        if item is not None:
                            yield item
                            if stream.finished:
                                return
                error = stream.dropped(None)
            except (httpx.TransportError, ApiError) as exc:
                error = stream.dropped(exc)
            time.sleep(stream.retry_delay(error))

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> SpindleClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
