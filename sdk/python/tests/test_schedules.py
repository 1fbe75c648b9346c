"""Schedule management through the Python client against a real server (recurring workflows)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from spindle import ApiError, AsyncSpindleClient, SpindleClient
from spindle.models import BackfillResult, Schedule, ScheduleList, ScheduleRun, TriggerResult
from support import SpindleServer, unique, wait_until


def idle_definition(name: str) -> str:
    # Its worker never polls: each run stays running, which is all a schedule test needs.
    return f"name: {name}\nactivities:\n  - {{key: a, activity_name: echo, worker: nobody}}\n"


def test_schedule_lifecycle_create_list_pause_resume_trigger_delete(client: SpindleClient) -> None:
    definition = unique("sched_def")
    client.deploy(idle_definition(definition))
    name = unique("sched")
    created = client.create_schedule(name, definition, cron="0 9 * * *", timezone="Europe/Berlin", input={"n": 1})
    assert created.name == name and created.cron == "0 9 * * *" and created.enabled is True
    assert len(created.upcoming) == 5 and created.recent_runs is None
    assert any(s.id == created.id for s in client.list_schedules())

    paused = client.pause_schedule(created.id, note="freeze")
    assert paused.enabled is False and paused.note == "freeze" and paused.next_run_at is None
    resumed = client.resume_schedule(created.id)
    assert resumed.enabled is True and resumed.next_run_at is not None

    triggered = client.trigger_schedule(created.id)
    assert triggered.outcome == "submitted" and triggered.workflow_id
    again = client.trigger_schedule(created.id)
    assert again.outcome == "skipped"  # overlap_policy skip: the first run is still going
    assert client.get_schedule(created.id).skipped_count == 1

    client.delete_schedule(created.id)
    with pytest.raises(ApiError) as missing:
        client.get_schedule(created.id)
    assert missing.value.status_code == 404


def test_create_schedule_with_a_bad_cron_names_the_field(client: SpindleClient) -> None:
    definition = unique("sched_def")
    client.deploy(idle_definition(definition))
    with pytest.raises(ApiError) as bad:
        client.create_schedule(unique("sched"), definition, cron="every day")
    assert bad.value.status_code == 422
    assert "cron" in str(bad.value.details)


def test_async_client_schedule_fires_within_seconds(server: SpindleServer, client: SpindleClient) -> None:
    definition = unique("sched_def")
    client.deploy(idle_definition(definition))

    async def scenario() -> str:
        async with AsyncSpindleClient(server.url) as aclient:
            created = await aclient.create_schedule(unique("sched"), definition, interval_seconds=1)
            return created.id

    schedule_id = asyncio.run(scenario())
    wait_until(lambda: client.get_schedule(schedule_id).run_count >= 1, timeout=15)
    client.pause_schedule(schedule_id)


def wire_fields(cls: type) -> set[str]:
    """The JSON keys a dataclass reads: every field but ``raw``."""
    return {f.name for f in dataclasses.fields(cls)} - {"raw"}


def test_schedule_dataclasses_read_every_key_the_server_sends(client: SpindleClient) -> None:
    # Until the OpenAPI document names the schedule records (test_models_match_openapi), the server's actual answers
    # are the reference: each dataclass reads exactly the keys of the JSON it is made from.
    definition = unique("sched_def")
    client.deploy(idle_definition(definition))
    created = client.create_schedule(
        unique("sched"), definition, cron="0 * * * *", input={"n": 1}, overlap_policy="allow", jitter_seconds=0
    )
    assert set(created.raw) == wire_fields(Schedule) - {"recent_runs"}  # recent_runs only on GET one
    assert (created.cron, created.interval_seconds, created.input, created.overlap_policy) == ("0 * * * *", None, {"n": 1}, "allow")
    assert created.timezone == "UTC" and created.jitter_seconds == 0 and created.run_count == 0

    triggered = client.trigger_schedule(created.id)
    assert isinstance(triggered, TriggerResult) and set(triggered.raw) == wire_fields(TriggerResult)
    assert (triggered.schedule_id, triggered.outcome) == (created.id, "submitted") and triggered.workflow_id

    backfilled = client.backfill_schedule(created.id, "2026-01-01T00:00:00Z", "2026-01-01T03:00:00Z")
    assert isinstance(backfilled, BackfillResult) and set(backfilled.raw) == wire_fields(BackfillResult)
    assert backfilled.schedule_id == created.id and backfilled.count == len(backfilled.runs) == 3
    assert backfilled.submitted == sum(r.outcome == "submitted" for r in backfilled.runs) == 3
    assert [r.occurrence_at for r in backfilled.runs] == [f"2026-01-01T0{h}:00:00.000000Z" for h in range(3)]
    for run in backfilled.runs:
        assert isinstance(run, ScheduleRun) and set(run.raw) == wire_fields(ScheduleRun)
        assert run.workflow_id and run.recorded_at

    one = client.get_schedule(created.id)
    assert set(one.raw) == wire_fields(Schedule)
    assert one.recent_runs is not None and len(one.recent_runs) == 4
    assert all(set(r.raw) == wire_fields(ScheduleRun) for r in one.recent_runs)
    assert triggered.workflow_id in {r.workflow_id for r in one.recent_runs}
    # run_count counted the trigger; backfilled occurrences are not counted in it.
    assert one.run_count == 1 and one.last_workflow_id is not None and len(one.upcoming) == 5

    listed = client.list_schedules()
    assert isinstance(listed, ScheduleList) and set(listed.raw) == wire_fields(ScheduleList)
    assert listed.count == len(listed) == len(listed.schedules)
    mine = next(s for s in listed if s.id == created.id)
    assert set(mine.raw) == wire_fields(Schedule) - {"recent_runs"} and mine.recent_runs is None

    changed = client.update_schedule(created.id, input={"n": 2}, enabled=False)
    assert changed.input == {"n": 2} and not changed.enabled and changed.next_run_at is None
    client.delete_schedule(created.id)
