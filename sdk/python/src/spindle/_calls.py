"""What both management clients share (:mod:`spindle.client`): their settings, and the API's requests described
once: each :class:`_Call` says what to send, how to read the answer, and whether the call may be repeated after a
transient failure."""

from __future__ import annotations

import json as _json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from . import _env
from ._transport import _UNSET, ClientCredentials, Response
from .models import (
    ActivityOutput,
    BackfillResult,
    CancelResult,
    DefinitionSummary,
    DeployResult,
    Schedule,
    ScheduleList,
    SignalResult,
    SubmitResult,
    TriggerResult,
    Workflow,
    WorkflowEvent,
    WorkflowOutputs,
    WorkflowPage,
)

__all__: list[str] = []

T = TypeVar("T")

#: Used when neither ``api_url`` nor ``SPINDLE_API_URL`` is given: ``spindle serve``'s default address.
DEFAULT_API_URL = "http://127.0.0.1:8080"
#: The longest ``wait_seconds`` the server accepts (docs/api.md).
MAX_WAIT_SECONDS = 30
#: Transient failures of calls that are safe to repeat are retried this many times.
RETRIES = 3


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


def schedule_body(
    name: str,
    definition_name: str,
    cron: str | None,
    interval_seconds: int | None,
    timezone: str | None,
    input: Mapping[str, Any] | None,
    overlap_policy: str | None,
    extra: Mapping[str, Any],
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
    return body


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
    def create_schedule(body: dict[str, Any]) -> _Call[Schedule]:
        return _Call(method="POST", path="/api/v1/schedules", json=body, parse=lambda r: Schedule.from_json(r.json()))

    @staticmethod
    def list_schedules() -> _Call[ScheduleList]:
        return _Call(
            method="GET", path="/api/v1/schedules", parse=lambda r: ScheduleList.from_json(r.json()), idempotent=True
        )

    @staticmethod
    def get_schedule(schedule_id: str) -> _Call[Schedule]:
        return _Call(
            method="GET",
            path=f"/api/v1/schedules/{_seg(schedule_id)}",
            parse=lambda r: Schedule.from_json(r.json()),
            idempotent=True,
        )

    @staticmethod
    def update_schedule(schedule_id: str, body: dict[str, Any]) -> _Call[Schedule]:
        return _Call(
            method="PATCH",
            path=f"/api/v1/schedules/{_seg(schedule_id)}",
            json=body,
            parse=lambda r: Schedule.from_json(r.json()),
            # Setting the same fields again changes nothing.
            idempotent=True,
        )

    @staticmethod
    def set_schedule_enabled(schedule_id: str, enabled: bool, note: str | None) -> _Call[Schedule]:
        # pause and resume set a state, so repeating them is harmless.
        return _Call(
            method="POST",
            path=f"/api/v1/schedules/{_seg(schedule_id)}/{'resume' if enabled else 'pause'}",
            json={"note": note} if note else {},
            parse=lambda r: Schedule.from_json(r.json()),
            idempotent=True,
        )

    @staticmethod
    def trigger_schedule(schedule_id: str, ignore_overlap: bool) -> _Call[TriggerResult]:
        # Not repeated: a trigger starts a run each time.
        return _Call(
            method="POST",
            path=f"/api/v1/schedules/{_seg(schedule_id)}/trigger",
            json={"ignore_overlap": ignore_overlap},
            parse=lambda r: TriggerResult.from_json(r.json()),
        )

    @staticmethod
    def backfill_schedule(schedule_id: str, start: str, end: str) -> _Call[BackfillResult]:
        return _Call(
            method="POST",
            path=f"/api/v1/schedules/{_seg(schedule_id)}/backfill",
            json={"start": start, "end": end},
            parse=lambda r: BackfillResult.from_json(r.json()),
            # An occurrence is submitted once (its key is the schedule and the time), so a repeat adds nothing.
            idempotent=True,
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
