"""Management clients: deploy definitions, submit and follow workflows (docs/api.md, §8, §15).

:class:`SpindleClient` blocks; :class:`AsyncSpindleClient` is its asyncio twin with the same methods. Both build
their requests from the same :class:`_Call` descriptions, so they cannot drift apart.
"""

from __future__ import annotations

import asyncio
import json as _json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from . import _env
from ._backoff import CLIENT_BACKOFF
from ._transport import _UNSET, AsyncTransport, ClientCredentials, Response, SyncTransport
from .errors import ApiError, WorkflowTimeoutError
from .models import (
    ActivityOutput,
    CancelResult,
    DefinitionSummary,
    DeployResult,
    SignalResult,
    SubmitResult,
    Workflow,
    WorkflowEvent,
    WorkflowOutputs,
    WorkflowPage,
)

__all__ = ["SpindleClient", "AsyncSpindleClient", "DEFAULT_API_URL"]

T = TypeVar("T")

#: Used when neither ``api_url`` nor ``SPINDLE_API_URL`` is given: ``spindle serve``'s default address.
DEFAULT_API_URL = "http://127.0.0.1:8080"
#: The longest ``wait_seconds`` the server accepts (docs/api.md).
MAX_WAIT_SECONDS = 30
#: Transient failures of calls that are safe to repeat are retried this many times.
RETRIES = 3

Definition = str | bytes | os.PathLike[str] | Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class _Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Response], T]
    json: Any = _UNSET
    content: bytes | None = None
    content_type: str | None = None
    params: dict[str, Any] | None = None
    timeout: float | None = None
    # GETs and other calls that change nothing when repeated: retried on network errors and 5xx.
    idempotent: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _seg(value: str) -> str:
    if not value:
        raise ValueError("identifiers must not be empty")
    return quote(value, safe="")


def _definition_body(definition: Definition) -> tuple[bytes, str]:
    if isinstance(definition, Mapping):
        return _json.dumps(definition).encode(), "application/json"
    if isinstance(definition, os.PathLike):
        return Path(definition).read_bytes(), "application/yaml"
    if isinstance(definition, bytes):
        return definition, "application/yaml"
    if isinstance(definition, str):
        return definition.encode(), "application/yaml"
    raise TypeError(f"definition must be YAML/JSON text, a path or a mapping, not {type(definition).__name__}")


def _json_body(response: Response) -> Any:
    return response.json()


class _Calls:
    """Request descriptions shared by the sync and async clients."""

    @staticmethod
    def info() -> _Call[dict[str, Any]]:
        return _Call(method="GET", path="/api/v1/info", parse=_json_body, idempotent=True)

    @staticmethod
    def deploy(definition: Definition) -> _Call[DeployResult]:
        body, content_type = _definition_body(definition)
        return _Call(
            method="POST",
            path="/api/v1/workflow_definitions",
            content=body,
            content_type=content_type,
            parse=lambda r: DeployResult.from_json(r.json()),
            # Deploying the same content twice is a no-op on the server (docs/workflow-format.md).
            idempotent=True,
        )

    @staticmethod
    def list_definitions() -> _Call[list[DefinitionSummary]]:
        def parse(r: Response) -> list[DefinitionSummary]:
            return [
                DefinitionSummary(
                    name=d["name"],
                    version=d["version"],
                    activity_count=int(d.get("activity_count", 0)),
                    created_at=d.get("created_at"),
                )
                for d in r.json().get("definitions", [])
            ]

        return _Call(method="GET", path="/api/v1/workflow_definitions", parse=parse, idempotent=True)

    @staticmethod
    def get_definition(name: str, version: str | None) -> _Call[dict[str, Any]]:
        return _Call(
            method="GET",
            path=f"/api/v1/workflow_definitions/{_seg(name)}",
            params={"version": version} if version else None,
            parse=_json_body,
            idempotent=True,
        )

    @staticmethod
    def submit(
        definition_name: str,
        input: Mapping[str, Any] | None,
        version: str | None,
        unique_key: str | None,
        priority: int | None = None,
    ) -> _Call[SubmitResult]:
        body: dict[str, Any] = {"definition_name": definition_name, "input": dict(input or {})}
        if version:
            body["version"] = version
        if unique_key:
            body["unique_key"] = unique_key
        if priority is not None:
            body["priority"] = priority
        return _Call(
            method="POST",
            path="/api/v1/workflows",
            json=body,
            parse=lambda r: SubmitResult.from_json(r.json()),
            # With a unique_key a repeat is rejected with 409 instead of creating a twin, so it is safe to retry.
            idempotent=bool(unique_key),
        )

    @staticmethod
    def get(workflow_id: str, wait_seconds: int, request_timeout: float) -> _Call[Workflow]:
        return _Call(
            method="GET",
            path=f"/api/v1/workflows/{_seg(workflow_id)}",
            params={"wait_seconds": wait_seconds} if wait_seconds > 0 else None,
            timeout=max(request_timeout, wait_seconds + 10.0),
            parse=lambda r: Workflow.from_json(r.json()),
            idempotent=True,
        )

    @staticmethod
    def outputs(workflow_id: str) -> _Call[WorkflowOutputs]:
        return _Call(
            method="GET",
            path=f"/api/v1/workflows/{_seg(workflow_id)}/output",
            parse=lambda r: WorkflowOutputs.from_json(r.json()),
            idempotent=True,
        )

    @staticmethod
    def activity_output(workflow_id: str, activity_key: str) -> _Call[ActivityOutput]:
        return _Call(
            method="GET",
            path=f"/api/v1/workflows/{_seg(workflow_id)}/activities/{_seg(activity_key)}/output",
            parse=lambda r: ActivityOutput.from_json(r.json()),
            idempotent=True,
        )

    @staticmethod
    def cancel(workflow_id: str, reason: str | None) -> _Call[CancelResult]:
        def parse(r: Response) -> CancelResult:
            d = r.json()
            return CancelResult(
                workflow_id=d.get("workflow_id", workflow_id),
                status=d.get("status", "cancelled"),
                cancel_requested=bool(d.get("cancel_requested", True)),
            )

        return _Call(
            method="POST",
            path=f"/api/v1/workflows/{_seg(workflow_id)}/cancel",
            json={"reason": reason} if reason else {},
            parse=parse,
            idempotent=True,
        )

    @staticmethod
    def retry(workflow_id: str) -> _Call[dict[str, Any]]:
        return _Call(method="POST", path=f"/api/v1/workflows/{_seg(workflow_id)}/retry", json={}, parse=_json_body)

    @staticmethod
    def create_schedule(body: dict[str, Any]) -> _Call[dict[str, Any]]:
        return _Call(method="POST", path="/api/v1/schedules", json=body, parse=_json_body)

    @staticmethod
    def list_schedules() -> _Call[list[dict[str, Any]]]:
        return _Call(method="GET", path="/api/v1/schedules", parse=lambda r: list(r.json()["schedules"]), idempotent=True)

    @staticmethod
    def get_schedule(schedule_id: str) -> _Call[dict[str, Any]]:
        return _Call(method="GET", path=f"/api/v1/schedules/{_seg(schedule_id)}", parse=_json_body, idempotent=True)

    @staticmethod
    def schedule_action(schedule_id: str, action: str, body: dict[str, Any]) -> _Call[dict[str, Any]]:
        # pause and resume set a state, so repeating them is harmless; a trigger starts a run each time.
        return _Call(
            method="POST",
            path=f"/api/v1/schedules/{_seg(schedule_id)}/{action}",
            json=body,
            parse=_json_body,
            idempotent=action != "trigger",
        )

    @staticmethod
    def delete_schedule(schedule_id: str) -> _Call[None]:
        return _Call(method="DELETE", path=f"/api/v1/schedules/{_seg(schedule_id)}", parse=lambda r: None)

    @staticmethod
    def signal(workflow_id: str, event_name: str, data: Any, activity_key: str | None) -> _Call[SignalResult]:
        body: dict[str, Any] = {"event_name": event_name}
        if activity_key:
            body["activity_key"] = activity_key
        if data is not None:
            body["data"] = data

        def parse(r: Response) -> SignalResult:
            d = r.json()
            return SignalResult(signaled=bool(d.get("signaled")), message=str(d.get("message", "")))

        return _Call(method="POST", path=f"/api/v1/workflows/{_seg(workflow_id)}/signal", json=body, parse=parse)

    @staticmethod
    def list_workflows(
        status: str | None,
        definition_name: str | None,
        created_after: str | None,
        created_before: str | None,
        limit: int,
        offset: int,
    ) -> _Call[WorkflowPage]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        for name, value in (
            ("status", status),
            ("definition_name", definition_name),
            ("created_after", created_after),
            ("created_before", created_before),
        ):
            if value:
                params[name] = value
        return _Call(
            method="GET",
            path="/api/v1/workflows",
            params=params,
            parse=lambda r: WorkflowPage.from_json(r.json()),
            idempotent=True,
        )

    @staticmethod
    def events(
        workflow_id: str, after: str | None, limit: int, event_types: list[str] | None
    ) -> _Call[tuple[list[WorkflowEvent], bool]]:
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        if event_types:
            params["event_type"] = ",".join(event_types)

        def parse(r: Response) -> tuple[list[WorkflowEvent], bool]:
            d = r.json()
            return [WorkflowEvent.from_json(e) for e in d.get("events", [])], bool(d.get("has_more"))

        return _Call(
            method="GET", path=f"/api/v1/workflows/{_seg(workflow_id)}/events", params=params, parse=parse, idempotent=True
        )


def _resolve(
    api_url: str | None, client_id: str | None, client_secret: str | None, token_url: str | None
) -> tuple[str, ClientCredentials | None]:
    url = api_url or _env.read("API_URL") or DEFAULT_API_URL
    cid = client_id if client_id is not None else _env.read("CLIENT_ID")
    secret = client_secret if client_secret is not None else _env.read("CLIENT_SECRET")
    credentials = ClientCredentials(client_id=cid, client_secret=secret or "", token_url=token_url) if cid else None
    return url, credentials


def _wait_step(deadline: float) -> int:
    remaining = deadline - time.monotonic()
    return max(0, min(MAX_WAIT_SECONDS, math.ceil(remaining)))


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
    ) -> WorkflowPage:
        """Workflows, newest first, optionally filtered."""
        return self._run(_Calls.list_workflows(status, definition_name, created_after, created_before, limit, offset))

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
    ) -> dict[str, Any]:
        """Creates a schedule (exactly one of ``cron`` and ``interval_seconds``); ``extra`` takes the other fields
        (``jitter_seconds``, ``start_at``, ``end_at``, ``remaining_runs``, ``catchup_window_seconds``, ``enabled``)."""
        body: dict[str, Any] = {"name": name, "definition_name": definition_name, "input": dict(input or {})}
        for key, value in (
            ("cron", cron),
            ("interval_seconds", interval_seconds),
            ("timezone", timezone),
            ("overlap_policy", overlap_policy),
        ):
            if value is not None:
                body[key] = value
        body.update(extra)
        return self._run(_Calls.create_schedule(body))

    def list_schedules(self) -> list[dict[str, Any]]:
        """Every schedule, ordered by name."""
        return self._run(_Calls.list_schedules())

    def get_schedule(self, schedule_id: str) -> dict[str, Any]:
        """One schedule with its next occurrences (``upcoming``) and recent runs."""
        return self._run(_Calls.get_schedule(schedule_id))

    def pause_schedule(self, schedule_id: str, *, note: str | None = None) -> dict[str, Any]:
        return self._run(_Calls.schedule_action(schedule_id, "pause", {"note": note} if note else {}))

    def resume_schedule(self, schedule_id: str) -> dict[str, Any]:
        return self._run(_Calls.schedule_action(schedule_id, "resume", {}))

    def trigger_schedule(self, schedule_id: str, *, ignore_overlap: bool = False) -> dict[str, Any]:
        """Runs an occurrence now; ``outcome`` says whether it was submitted, skipped or buffered."""
        return self._run(_Calls.schedule_action(schedule_id, "trigger", {"ignore_overlap": ignore_overlap}))

    def delete_schedule(self, schedule_id: str) -> None:
        self._run(_Calls.delete_schedule(schedule_id))

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> SpindleClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncSpindleClient:
    """The asyncio twin of :class:`SpindleClient`; same arguments and methods, awaitable."""

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
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "definition_name": definition_name, "input": dict(input or {})}
        for key, value in (
            ("cron", cron),
            ("interval_seconds", interval_seconds),
            ("timezone", timezone),
            ("overlap_policy", overlap_policy),
        ):
            if value is not None:
                body[key] = value
        body.update(extra)
        return await self._run(_Calls.create_schedule(body))

    async def list_schedules(self) -> list[dict[str, Any]]:
        return await self._run(_Calls.list_schedules())

    async def get_schedule(self, schedule_id: str) -> dict[str, Any]:
        return await self._run(_Calls.get_schedule(schedule_id))

    async def pause_schedule(self, schedule_id: str, *, note: str | None = None) -> dict[str, Any]:
        return await self._run(_Calls.schedule_action(schedule_id, "pause", {"note": note} if note else {}))

    async def resume_schedule(self, schedule_id: str) -> dict[str, Any]:
        return await self._run(_Calls.schedule_action(schedule_id, "resume", {}))

    async def trigger_schedule(self, schedule_id: str, *, ignore_overlap: bool = False) -> dict[str, Any]:
        return await self._run(_Calls.schedule_action(schedule_id, "trigger", {"ignore_overlap": ignore_overlap}))

    async def delete_schedule(self, schedule_id: str) -> None:
        await self._run(_Calls.delete_schedule(schedule_id))

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncSpindleClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
