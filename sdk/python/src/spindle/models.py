"""Typed views of the management API's answers (docs/api.md). Each keeps the raw JSON in ``raw``, since
responses may gain fields that this SDK does not know yet."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

# The schedules' views live in a module of their own; they are part of this one's API.
from ._schedule_models import BackfillResult, Schedule, ScheduleList, ScheduleRun, TriggerResult

__all__ = [
    "TERMINAL_STATUSES",
    "DeployResult",
    "SubmitResult",
    "ActivityState",
    "Workflow",
    "WorkflowSummary",
    "WorkflowPage",
    "WorkflowOutputs",
    "ActivityOutput",
    "WorkflowEvent",
    "CancelResult",
    "SignalResult",
    "DefinitionSummary",
    "Schedule",
    "ScheduleList",
    "ScheduleRun",
    "TriggerResult",
    "BackfillResult",
    "StreamChunk",
]

#: Workflow statuses after which nothing runs any more (docs/workflow-format.md).
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _outputs_from_list(items: Any) -> dict[str, Any] | None:
    """The wire's list form ``[{name, type, value}]`` as ``{name: value}``."""
    if not isinstance(items, list):
        return None
    return {item["name"]: item.get("value") for item in items if isinstance(item, dict) and "name" in item}


@dataclass(frozen=True, kw_only=True)
class DeployResult:
    name: str
    version: str
    created_at: str | None
    unchanged: bool = False
    warnings: list[str] = field(default_factory=list)
    #: Names of the declared schedules (``schedules:``) this deploy created, updated or disabled; None when none.
    schedules: dict[str, list[str]] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeployResult:
        return cls(
            name=data["name"],
            version=data["version"],
            created_at=data.get("created_at"),
            unchanged=bool(data.get("unchanged", False)),
            warnings=list(data.get("warnings") or []),
            schedules=data.get("schedules"),
            raw=data,
        )


@dataclass(frozen=True, kw_only=True)
class SubmitResult:
    workflow_id: str
    definition_name: str
    definition_version: str | None
    status: str
    created_at: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SubmitResult:
        return cls(
            workflow_id=data["workflow_id"],
            definition_name=data.get("definition_name", ""),
            definition_version=data.get("definition_version"),
            status=data.get("status", "created"),
            created_at=data.get("created_at"),
            raw=data,
        )


@dataclass(frozen=True, kw_only=True)
class ActivityState:
    """One activity of a workflow. ``outputs`` maps output names to values (``{"result": …}`` for scripts).

    ``error`` is the structured failure ``{"code", "message"}``; ``error_text`` is the one-line string the read API
    gives in ``error`` (``"CODE: message"``, the reference engine's form). Servers that send the object in ``error``
    (older Spindle) and servers that send only the string are both understood.
    """

    activity_key: str
    status: str
    outputs: dict[str, Any] | None
    error: dict[str, Any] | None
    attempt: int
    iteration: int
    started_at: str | None
    claimed_at: str | None
    completed_at: str | None
    error_text: str | None = None
    #: For a ``for_each`` map: its item counts ``{total, started, completed, failed, running, failures}``.
    map: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def error_code(self) -> str | None:
        return self.error.get("code") if isinstance(self.error, dict) else None

    @property
    def error_message(self) -> str | None:
        return self.error.get("message") if isinstance(self.error, dict) else None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ActivityState:
        error, text = _activity_error(data.get("error"), data.get("error_detail"))
        return cls(
            activity_key=data["activity_key"],
            status=data.get("status", ""),
            outputs=_outputs_from_list(data.get("outputs")),
            error=error,
            error_text=text,
            attempt=int(data.get("attempt") or 1),
            iteration=int(data.get("iteration") or 0),
            started_at=data.get("started_at"),
            claimed_at=data.get("claimed_at"),
            completed_at=data.get("completed_at"),
            map=data.get("map"),
            raw=data,
        )


_ERROR_CODE = re.compile(r"^([A-Z][A-Z0-9_]*): (.*)\Z", re.DOTALL)


def _activity_error(error: Any, detail: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The structured error and its one-line text, from ``error`` (a string or, on older servers, an object) and
    ``error_detail``."""
    if isinstance(detail, dict):
        structured: dict[str, Any] | None = detail
    elif isinstance(error, dict):
        structured = error
    elif isinstance(error, str) and error:
        match = _ERROR_CODE.match(error)
        structured = {"code": match.group(1), "message": match.group(2)} if match else {"code": None, "message": error}
    else:
        structured = None
    if isinstance(error, str):
        text: str | None = error or None
    elif structured is not None:
        code, message = structured.get("code"), structured.get("message")
        text = f"{code}: {message}" if code and message else (code or message)
    else:
        text = None
    return structured, text


@dataclass(frozen=True, kw_only=True)
class WorkflowChild:
    """A child workflow started by a ``workflow:`` activity of its parent."""

    workflow_id: str
    definition_name: str
    status: str
    activity_key: str
    attempt: int
    created_at: str | None
    completed_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkflowChild:
        return cls(
            workflow_id=data["workflow_id"],
            definition_name=data.get("definition_name", ""),
            status=data.get("status", ""),
            activity_key=data.get("activity_key", ""),
            attempt=int(data.get("attempt") or 1),
            created_at=data.get("created_at"),
            completed_at=data.get("completed_at"),
            raw=data,
        )


@dataclass(frozen=True, kw_only=True)
class Workflow:
    id: str
    status: str
    definition_name: str
    definition_version: str | None
    created_at: str | None
    updated_at: str | None
    error_message: str | None
    total_cost_usd: Decimal | None
    activities: list[ActivityState]
    completed_at: str | None = None
    schedule_id: str | None = None
    scheduled_at: str | None = None
    parent_id: str | None = None
    parent_activity_key: str | None = None
    children: list[WorkflowChild] = field(default_factory=list)
    #: The priority given at submit (0-1000).
    priority: int = 0
    #: The rendered key of the definition's workflow-level ``concurrency``; a ``created`` run with one waits for a slot.
    concurrency_key: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def activity(self, key: str) -> ActivityState:
        """The activity with this key; ``KeyError`` if the workflow has none (or has not started yet)."""
        for activity in self.activities:
            if activity.activity_key == key:
                return activity
        raise KeyError(f"workflow {self.id} has no activity {key!r}")

    def output(self, key: str, name: str = "result") -> Any:
        """Shortcut for one output value of a completed activity, e.g. a script's ``result``."""
        outputs = self.activity(key).outputs
        if outputs is None or name not in outputs:
            raise KeyError(f"activity {key!r} of workflow {self.id} has no output {name!r}")
        return outputs[name]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Workflow:
        return cls(
            id=data["id"],
            status=data.get("status", ""),
            definition_name=data.get("definition_name", ""),
            definition_version=data.get("definition_version"),
            created_at=data.get("created_at"),
            updated_at=data.get("updated_at"),
            error_message=data.get("error_message"),
            total_cost_usd=_decimal(data.get("total_cost_usd")),
            activities=[ActivityState.from_json(a) for a in data.get("activities") or []],
            completed_at=data.get("completed_at"),
            schedule_id=data.get("schedule_id"),
            scheduled_at=data.get("scheduled_at"),
            parent_id=data.get("parent_id"),
            parent_activity_key=data.get("parent_activity_key"),
            children=[WorkflowChild.from_json(c) for c in data.get("children") or []],
            priority=int(data.get("priority") or 0),
            concurrency_key=data.get("concurrency_key"),
            raw=data,
        )


@dataclass(frozen=True, kw_only=True)
class WorkflowSummary:
    id: str
    status: str
    definition_name: str
    definition_version: str | None
    created_at: str | None
    updated_at: str | None
    error_message: str | None
    schedule_id: str | None = None
    scheduled_at: str | None = None
    completed_at: str | None = None
    total_cost_usd: Decimal | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkflowSummary:
        return cls(
            id=data["id"],
            status=data.get("status", ""),
            definition_name=data.get("definition_name", ""),
            definition_version=data.get("definition_version"),
            created_at=data.get("created_at"),
            updated_at=data.get("updated_at"),
            error_message=data.get("error_message"),
            schedule_id=data.get("schedule_id"),
            scheduled_at=data.get("scheduled_at"),
            completed_at=data.get("completed_at"),
            total_cost_usd=_decimal(data.get("total_cost_usd")),
            raw=data,
        )


@dataclass(frozen=True, kw_only=True)
class WorkflowPage:
    workflows: list[WorkflowSummary]
    total: int
    count: int
    limit: int
    offset: int
    #: Keyset paging: pass as ``cursor`` to get the next (older) or previous (newer) page; None at either end.
    next_cursor: str | None = None
    prev_cursor: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkflowPage:
        items = [WorkflowSummary.from_json(w) for w in data.get("workflows") or []]
        return cls(
            workflows=items,
            total=int(data.get("total", len(items))),
            count=int(data.get("count", len(items))),
            limit=int(data.get("limit", len(items))),
            offset=int(data.get("offset", 0)),
            next_cursor=data.get("next_cursor"),
            prev_cursor=data.get("prev_cursor"),
        )


@dataclass(frozen=True, kw_only=True)
class WorkflowOutputs:
    """``GET /workflows/{id}/output``: ``outputs[activity_key][output_name]`` is a value."""

    workflow_id: str
    status: str
    total_cost_usd: Decimal | None
    completed_at: str | None
    outputs: dict[str, dict[str, Any]]
    terminal_outputs: list[str]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkflowOutputs:
        outputs: dict[str, dict[str, Any]] = {}
        for key, entry in (data.get("outputs") or {}).items():
            outputs[key] = _outputs_from_list(entry.get("output") if isinstance(entry, dict) else None) or {}
        return cls(
            workflow_id=data.get("workflow_id", ""),
            status=data.get("status", ""),
            total_cost_usd=_decimal(data.get("total_cost_usd")),
            completed_at=data.get("completed_at"),
            outputs=outputs,
            terminal_outputs=list(data.get("terminal_outputs") or []),
            raw=data,
        )


@dataclass(frozen=True, kw_only=True)
class ActivityOutput:
    workflow_id: str
    activity_key: str
    status: str
    outputs: dict[str, Any]
    cost_usd: Decimal | None
    completed_at: str | None
    files: list[dict[str, Any]]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ActivityOutput:
        return cls(
            workflow_id=data.get("workflow_id", ""),
            activity_key=data.get("activity_key", ""),
            status=data.get("status", ""),
            outputs=_outputs_from_list(data.get("output")) or {},
            cost_usd=_decimal(data.get("cost_usd")),
            completed_at=data.get("completed_at"),
            files=list(data.get("files") or []),
            raw=data,
        )


@dataclass(frozen=True, kw_only=True)
class WorkflowEvent:
    id: str
    workflow_id: str
    event_type: str
    activity_key: str | None
    iteration: int | None
    payload: dict[str, Any]
    timestamp: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkflowEvent:
        return cls(
            id=data["id"],
            workflow_id=data.get("workflow_id", ""),
            event_type=data.get("event_type", ""),
            activity_key=data.get("activity_key"),
            iteration=data.get("iteration"),
            payload=data.get("payload") or {},
            timestamp=data.get("timestamp"),
        )


@dataclass(frozen=True, kw_only=True)
class CancelResult:
    workflow_id: str
    status: str
    cancel_requested: bool


@dataclass(frozen=True, kw_only=True)
class SignalResult:
    signaled: bool
    message: str


@dataclass(frozen=True, kw_only=True)
class DefinitionSummary:
    name: str
    version: str
    activity_count: int
    created_at: str | None



def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True, kw_only=True)
class StreamChunk:
    """One frame of an activity's live stream (``stream_tokens``).

    ``type`` is ``token`` for a chunk (``text``, and the publisher's ``index``), then ``complete`` with the
    activity's ``result`` or ``error`` with its ``error``: the last frame, where ``done`` is True. ``position`` is
    the frame's place in the stream (1, 2, …), what a reconnect resumes after.
    """

    type: str
    position: int | None = None
    index: int | None = None
    text: str | None = None
    result: Any = None
    error: Any = None
    timestamp: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        return self.type in ("complete", "error")

    def json(self) -> Any:
        """The chunk's text read as JSON (``ctx.stream`` sends anything but a string as compact JSON)."""
        if self.text is None:
            raise ValueError(f"a {self.type} frame has no text")
        return json.loads(self.text)

    @classmethod
    def from_json(cls, data: dict[str, Any], position: int | None = None) -> StreamChunk:
        return cls(
            type=str(data.get("type", "")),
            position=position,
            index=_int_or_none(data.get("index")),
            text=data.get("text"),
            result=data.get("result"),
            error=data.get("error"),
            timestamp=data.get("timestamp"),
            raw=data,
        )
