"""Typed views of the schedule answers (docs/api.md "Schedules"), re-exported by :mod:`spindle.models`. Each keeps
the raw JSON in ``raw``, like the other models."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Schedule", "ScheduleList", "ScheduleRun", "TriggerResult", "BackfillResult"]


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True, kw_only=True)
class ScheduleRun:
    """One occurrence of a schedule: ``outcome`` is ``submitted``, ``skipped``, ``buffered`` (and so on), with the
    workflow it started, if any."""

    occurrence_at: str | None
    outcome: str
    workflow_id: str | None = None
    message: str | None = None
    recorded_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScheduleRun:
        return cls(
            occurrence_at=data.get("occurrence_at"),
            outcome=data.get("outcome", ""),
            workflow_id=data.get("workflow_id"),
            message=data.get("message"),
            recorded_at=data.get("recorded_at"),
            raw=data,
        )


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """A recurring submission (docs/api.md "Schedules"). Exactly one of ``cron`` and ``interval_seconds`` is set;
    ``upcoming`` lists the next occurrences; ``recent_runs`` is only filled by ``get_schedule`` (None otherwise)."""

    id: str
    name: str
    definition_name: str
    definition_version: str | None = None
    input: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None
    interval_seconds: int | None = None
    timezone: str | None = None
    overlap_policy: str | None = None
    enabled: bool = True
    jitter_seconds: int | None = None
    start_at: str | None = None
    end_at: str | None = None
    remaining_runs: int | None = None
    catchup_window_seconds: int | None = None
    next_run_at: str | None = None
    last_run_at: str | None = None
    last_workflow_id: str | None = None
    created_by: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    #: The note given when the schedule was paused.
    note: str | None = None
    run_count: int = 0
    skipped_count: int = 0
    buffered_at: str | None = None
    #: The definition whose ``schedules:`` declares this schedule; None for one created through the API.
    declared_by: str | None = None
    upcoming: list[str] = field(default_factory=list)
    recent_runs: list[ScheduleRun] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Schedule:
        runs = data.get("recent_runs")
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            definition_name=data.get("definition_name", ""),
            definition_version=data.get("definition_version"),
            input=dict(data.get("input") or {}),
            cron=data.get("cron"),
            interval_seconds=_int_or_none(data.get("interval_seconds")),
            timezone=data.get("timezone"),
            overlap_policy=data.get("overlap_policy"),
            enabled=bool(data.get("enabled", True)),
            jitter_seconds=_int_or_none(data.get("jitter_seconds")),
            start_at=data.get("start_at"),
            end_at=data.get("end_at"),
            remaining_runs=_int_or_none(data.get("remaining_runs")),
            catchup_window_seconds=_int_or_none(data.get("catchup_window_seconds")),
            next_run_at=data.get("next_run_at"),
            last_run_at=data.get("last_run_at"),
            last_workflow_id=data.get("last_workflow_id"),
            created_by=data.get("created_by"),
            created_at=data.get("created_at"),
            updated_at=data.get("updated_at"),
            note=data.get("note"),
            run_count=int(data.get("run_count") or 0),
            skipped_count=int(data.get("skipped_count") or 0),
            buffered_at=data.get("buffered_at"),
            declared_by=data.get("declared_by"),
            upcoming=list(data.get("upcoming") or []),
            recent_runs=[ScheduleRun.from_json(r) for r in runs] if isinstance(runs, list) else None,
            raw=data,
        )


@dataclass(frozen=True, kw_only=True)
class ScheduleList:
    """``list_schedules``: every schedule, ordered by name. Iterating it (and ``len``) goes over ``schedules``."""

    schedules: list[Schedule]
    count: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def __iter__(self) -> Iterator[Schedule]:
        return iter(self.schedules)

    def __len__(self) -> int:
        return len(self.schedules)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScheduleList:
        items = [Schedule.from_json(s) for s in data.get("schedules") or []]
        return cls(schedules=items, count=int(data.get("count", len(items))), raw=data)


@dataclass(frozen=True, kw_only=True)
class TriggerResult:
    """``trigger_schedule``: whether the occurrence was ``submitted`` (then ``workflow_id`` is its run), ``skipped``
    or ``buffered`` under the schedule's overlap policy."""

    schedule_id: str
    outcome: str
    workflow_id: str | None = None
    message: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TriggerResult:
        return cls(
            schedule_id=data.get("schedule_id", ""),
            outcome=data.get("outcome", ""),
            workflow_id=data.get("workflow_id"),
            message=data.get("message"),
            raw=data,
        )


@dataclass(frozen=True, kw_only=True)
class BackfillResult:
    """``backfill_schedule``: one run per occurrence in the range (``count``), of which ``submitted`` started a
    workflow."""

    schedule_id: str
    runs: list[ScheduleRun]
    count: int
    submitted: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BackfillResult:
        runs = [ScheduleRun.from_json(r) for r in data.get("runs") or []]
        return cls(
            schedule_id=data.get("schedule_id", ""),
            runs=runs,
            count=int(data.get("count", len(runs))),
            submitted=int(data.get("submitted") or 0),
            raw=data,
        )
