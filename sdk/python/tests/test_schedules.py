"""Schedule management through the Python client against a real server (recurring workflows)."""

from __future__ import annotations

import asyncio

import pytest

from spindle import ApiError, AsyncSpindleClient, SpindleClient
from support import SpindleServer, unique, wait_until


def idle_definition(name: str) -> str:
    # Its worker never polls: each run stays running, which is all a schedule test needs.
    return f"name: {name}\nactivities:\n  - {{key: a, activity_name: echo, worker: nobody}}\n"


def test_schedule_lifecycle_create_list_pause_resume_trigger_delete(client: SpindleClient) -> None:
    definition = unique("sched_def")
    client.deploy(idle_definition(definition))
    name = unique("sched")
    created = client.create_schedule(name, definition, cron="0 9 * * *", timezone="Europe/Berlin", input={"n": 1})
    assert created["name"] == name and created["cron"] == "0 9 * * *" and created["enabled"] is True
    assert len(created["upcoming"]) == 5
    assert any(s["id"] == created["id"] for s in client.list_schedules())

    paused = client.pause_schedule(created["id"], note="freeze")
    assert paused["enabled"] is False and paused["note"] == "freeze" and paused["next_run_at"] is None
    resumed = client.resume_schedule(created["id"])
    assert resumed["enabled"] is True and resumed["next_run_at"] is not None

    triggered = client.trigger_schedule(created["id"])
    assert triggered["outcome"] == "submitted"
    again = client.trigger_schedule(created["id"])
    assert again["outcome"] == "skipped"  # overlap_policy skip: the first run is still going
    assert client.get_schedule(created["id"])["skipped_count"] == 1

    client.delete_schedule(created["id"])
    with pytest.raises(ApiError) as missing:
        client.get_schedule(created["id"])
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
            return str(created["id"])

    schedule_id = asyncio.run(scenario())
    wait_until(lambda: client.get_schedule(schedule_id)["run_count"] >= 1, timeout=15)
    client.pause_schedule(schedule_id)
