"""The asyncio management client, :class:`AsyncSpindleClient` (importable from :mod:`spindle.client`): the twin of
:class:`~spindle.client.SpindleClient`, built from the same :class:`~spindle._calls._Call` descriptions."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ._backoff import CLIENT_BACKOFF
from ._calls import RETRIES, Definition, _Call, _Calls, _resolve, _wait_step, schedule_body
from ._streams import FollowedStream, event_stream, stream_timeout, token_stream
from ._transport import USER_AGENT, AsyncTransport
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

__all__ = ["AsyncSpindleClient"]

T = TypeVar("T")


class AsyncSpindleClient:
    """The asyncio twin of :class:`~spindle.client.SpindleClient`; same arguments and methods, awaitable (the live
    streams are async iterators)."""

    def __init__(
        self,
        api_url: str | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_url: str | None = None,
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        url, credentials = _resolve(api_url, client_id, client_secret, token_url)
        self._transport = AsyncTransport(url, credentials=credentials, timeout=timeout, http=http)
        self.timeout = timeout
        self._streams: httpx.AsyncClient | None = http
        self._owns_streams = False

    @property
    def api_url(self) -> str:
        return self._transport.base_url

    @property
    def token_fetches(self) -> int:
        return self._transport.token_fetches

    async def _run(self, call: _Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = await self._transport.request(
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
                await asyncio.sleep(CLIENT_BACKOFF.delay(attempt))
                attempt += 1

    async def info(self) -> dict[str, Any]:
        return await self._run(_Calls.info())

    async def deploy(self, definition: Definition) -> DeployResult:
        return await self._run(_Calls.deploy(definition))

    async def deploy_file(self, path: str | os.PathLike[str]) -> DeployResult:
        return await self._run(_Calls.deploy(Path(path)))

    async def list_definitions(self) -> list[DefinitionSummary]:
        return await self._run(_Calls.list_definitions())

    async def get_definition(self, name: str, *, version: str | None = None) -> dict[str, Any]:
        return await self._run(_Calls.get_definition(name, version))

    async def submit(
        self,
        definition_name: str,
        input: Mapping[str, Any] | None = None,
        *,
        version: str | None = None,
        unique_key: str | None = None,
        priority: int | None = None,
    ) -> SubmitResult:
        return await self._run(_Calls.submit(definition_name, input, version, unique_key, priority))

    async def get(self, workflow_id: str, *, wait_seconds: int = 0) -> Workflow:
        return await self._run(_Calls.get(workflow_id, wait_seconds, self.timeout))

    async def wait(self, workflow_id: str, *, timeout: float = 300.0) -> Workflow:
        deadline = time.monotonic() + timeout
        while True:
            step = _wait_step(deadline)
            started = time.monotonic()
            workflow = await self.get(workflow_id, wait_seconds=step)
            if workflow.is_terminal:
                return workflow
            if time.monotonic() >= deadline:
                raise WorkflowTimeoutError(workflow_id, timeout, workflow.status)
            if time.monotonic() - started < 0.9 * step:
                await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    async def run(
        self,
        definition_name: str,
        input: Mapping[str, Any] | None = None,
        *,
        timeout: float = 300.0,
        version: str | None = None,
    ) -> Workflow:
        submitted = await self.submit(definition_name, input, version=version)
        return await self.wait(submitted.workflow_id, timeout=timeout)

    async def outputs(self, workflow_id: str) -> WorkflowOutputs:
        return await self._run(_Calls.outputs(workflow_id))

    async def activity_output(self, workflow_id: str, activity_key: str) -> ActivityOutput:
        return await self._run(_Calls.activity_output(workflow_id, activity_key))

    async def cancel(self, workflow_id: str, *, reason: str | None = None) -> CancelResult:
        return await self._run(_Calls.cancel(workflow_id, reason))

    async def retry(self, workflow_id: str) -> dict[str, Any]:
        return await self._run(_Calls.retry(workflow_id))

    async def signal(
        self, workflow_id: str, event_name: str, data: Any = None, *, activity_key: str | None = None
    ) -> SignalResult:
        return await self._run(_Calls.signal(workflow_id, event_name, data, activity_key))

    async def list_workflows(
        self,
        *,
        status: str | None = None,
        definition_name: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> WorkflowPage:
        return await self._run(
            _Calls.list_workflows(status, definition_name, created_after, created_before, limit, offset)
        )

    async def events(
        self, workflow_id: str, *, after: str | None = None, limit: int = 1000, event_types: list[str] | None = None
    ) -> list[WorkflowEvent]:
        collected: list[WorkflowEvent] = []
        while True:
            page, more = await self._run(_Calls.events(workflow_id, after, limit, event_types))
            collected.extend(page)
            if not more or not page:
                return collected
            after = page[-1].id

    async def create_schedule(
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
        body = schedule_body(name, definition_name, cron, interval_seconds, timezone, input, overlap_policy, extra)
        return await self._run(_Calls.create_schedule(body))

    async def list_schedules(self) -> ScheduleList:
        return await self._run(_Calls.list_schedules())

    async def get_schedule(self, schedule_id: str) -> Schedule:
        return await self._run(_Calls.get_schedule(schedule_id))

    async def update_schedule(self, schedule_id: str, **fields: Any) -> Schedule:
        return await self._run(_Calls.update_schedule(schedule_id, fields))

    async def pause_schedule(self, schedule_id: str, *, note: str | None = None) -> Schedule:
        return await self._run(_Calls.set_schedule_enabled(schedule_id, False, note))

    async def resume_schedule(self, schedule_id: str) -> Schedule:
        return await self._run(_Calls.set_schedule_enabled(schedule_id, True, None))

    async def trigger_schedule(self, schedule_id: str, *, ignore_overlap: bool = False) -> TriggerResult:
        return await self._run(_Calls.trigger_schedule(schedule_id, ignore_overlap))

    async def backfill_schedule(self, schedule_id: str, start: str, end: str) -> BackfillResult:
        return await self._run(_Calls.backfill_schedule(schedule_id, start, end))

    async def delete_schedule(self, schedule_id: str) -> None:
        await self._run(_Calls.delete_schedule(schedule_id))

    def stream_events(
        self,
        workflow_id: str | None = None,
        *,
        event_types: list[str] | None = None,
        from_event_id: str | None = None,
        until_terminal: bool = True,
    ) -> AsyncIterator[WorkflowEvent]:
        """``async for`` twin of :meth:`SpindleClient.stream_events`."""
        return self._follow(event_stream(workflow_id, event_types, from_event_id, until_terminal))

    def stream_tokens(self, workflow_id: str, activity_key: str) -> AsyncIterator[StreamChunk]:
        """``async for`` twin of :meth:`SpindleClient.stream_tokens`."""
        return self._follow(token_stream(workflow_id, activity_key))

    def _stream_http(self) -> httpx.AsyncClient:
        # Streams read through httpx even when calls use the built-in client, which reads whole answers only.
        if self._streams is None:
            self._streams = httpx.AsyncClient(headers={"User-Agent": USER_AGENT})
            self._owns_streams = True
        return self._streams

    async def _follow(self, stream: FollowedStream[T]) -> AsyncIterator[T]:
        transport = self._transport
        url = f"{transport.base_url}{stream.path}"
        refreshed = False
        while not stream.finished:
            token = await transport.get_token()
            try:
                async with self._stream_http().stream(
                    "GET", url, params=stream.params, headers=stream.headers(token), timeout=stream_timeout(self.timeout)
                ) as response:
                    if response.status_code == 401 and token is not None and not refreshed:
                        transport.invalidate_token()
                        refreshed = True
                        continue
                    if response.status_code != 200:
                        await response.aread()
                        stream.check(response.status_code, response.content, response.headers, token is not None)
                    stream.connected()
                    async for line in response.aiter_lines():
                        item = stream.feed(line)
                        if item is not None:
                            yield item
                            if stream.finished:
                                return
                error = stream.dropped(None)
            except (httpx.TransportError, ApiError) as exc:
                error = stream.dropped(exc)
            await asyncio.sleep(stream.retry_delay(error))

    async def aclose(self) -> None:
        await self._transport.aclose()
        if self._streams is not None and self._owns_streams:
            await self._streams.aclose()

    async def __aenter__(self) -> AsyncSpindleClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
