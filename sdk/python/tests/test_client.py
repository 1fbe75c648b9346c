"""The management clients against a real server (docs/api.md)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from spindle import ApiError, AsyncSpindleClient, SpindleClient, WorkflowTimeoutError
from spindle.definitions import dump_definition, load_definition
from support import REPO_ROOT, SpindleServer, unique, wait_until


def chain_yaml(name: str) -> str:
    return f"""
name: {name}
activities:
  - key: greet
    activity_name: echo
    parameters: {{greeting: "Hello, {{{{INPUT.name}}}}"}}
  - key: shout
    activity_name: echo
    depends_on: [greet]
    parameters: {{text: "{{{{greet.echo.greeting | upper}}}}"}}
"""


def test_deploy_accepts_yaml_text_a_file_and_a_dict_and_reports_unchanged_content(
    client: SpindleClient, tmp_path: Path
) -> None:
    name = unique("deploy")
    first = client.deploy(chain_yaml(name))
    assert (first.name, first.unchanged) == (name, False)
    path = tmp_path / "flow.yaml"
    path.write_text(chain_yaml(name))
    again = client.deploy(path)
    assert again.unchanged and again.version == first.version
    assert client.deploy_file(str(path)).unchanged
    as_dict = client.deploy({"name": name, "activities": [{"key": "only", "activity_name": "echo"}]})
    assert not as_dict.unchanged and as_dict.version > first.version
    assert client.get_definition(name)["version"] == as_dict.version
    assert client.get_definition(name, version=first.version)["activities"][0]["key"] == "greet"
    assert any(d.name == name for d in client.list_definitions())


def test_definition_files_can_be_loaded_adjusted_and_deployed(client: SpindleClient) -> None:
    definition = load_definition(REPO_ROOT / "examples" / "01-hello-chain.yaml")
    definition["name"] = unique("renamed")
    assert load_definition(dump_definition(definition)) == definition
    deployed = client.deploy(definition)
    assert deployed.name == definition["name"]
    assert [a["key"] for a in client.get_definition(deployed.name)["activities"]] == [a["key"] for a in definition["activities"]]


def test_invalid_definition_raises_api_error_with_field_errors(client: SpindleClient) -> None:
    with pytest.raises(ApiError) as info:
        client.deploy({"name": unique("bad"), "activities": []})
    assert info.value.status_code == 422
    assert info.value.code == "VALIDATION_ERROR"
    assert "activities" in info.value.field_errors


def test_submit_wait_and_read_outputs(client: SpindleClient) -> None:
    name = unique("chain")
    client.deploy(chain_yaml(name))
    submitted = client.submit(name, {"name": "Ada"})
    assert submitted.status == "created" and submitted.definition_name == name
    wf = client.wait(submitted.workflow_id, timeout=30)
    assert wf.status == "completed" and wf.is_terminal
    assert wf.output("shout", "echo") == {"text": "HELLO, ADA"}
    outputs = client.outputs(wf.id)
    assert outputs.outputs["greet"]["echo"] == {"greeting": "Hello, Ada"}
    assert outputs.terminal_outputs == ["shout"]
    one = client.activity_output(wf.id, "shout")
    assert one.status == "completed" and one.outputs == {"echo": {"text": "HELLO, ADA"}}
    assert [e.event_type for e in client.events(wf.id)][0] == "WorkflowCreated"


def test_wait_returns_as_soon_as_the_workflow_finishes(client: SpindleClient) -> None:
    name = unique("sleep")
    client.deploy({"name": name, "activities": [{"key": "nap", "activity_name": "echo", "parameters": {"sleep_ms": 700}}]})
    submitted = client.submit(name)
    started = time.monotonic()
    wf = client.wait(submitted.workflow_id, timeout=30)
    assert wf.status == "completed"
    assert 0.5 < time.monotonic() - started < 5


def test_wait_gives_up_with_workflow_timeout_error(client: SpindleClient) -> None:
    name = unique("stuck")
    client.deploy({"name": name, "activities": [{"key": "x", "worker": unique("nobody"), "activity_name": "noop"}]})
    wid = client.submit(name).workflow_id
    with pytest.raises(WorkflowTimeoutError) as info:
        client.wait(wid, timeout=1)
    assert info.value.last_status == "running"
    assert client.cancel(wid).status == "cancelled"
    assert client.get(wid).status == "cancelled"


def test_unknown_workflow_raises_not_found(client: SpindleClient) -> None:
    with pytest.raises(ApiError) as info:
        client.get("01900000-0000-7000-8000-000000000000")
    assert (info.value.status_code, info.value.code) == (404, "NOT_FOUND")


def test_signal_list_cancel_and_retry(client: SpindleClient) -> None:
    name = unique("signal")
    client.deploy(
        {
            "name": name,
            "activities": [
                {"key": "gate", "activity_name": "echo", "parameters": {"decision": "{{SIGNAL.decision}}"},
                 "settings": {"wait_for_signal": "decided"}},
            ],
        }
    )
    wid = client.submit(name, unique_key=unique("k")).workflow_id
    wait_until(lambda: client.get(wid).activities and client.get(wid).activity("gate").status == "waiting", 30, what="waiting")
    assert not client.signal(wid, "other-event", {"x": 1}).signaled
    assert client.signal(wid, "decided", {"decision": "ship"}).signaled
    assert client.wait(wid, timeout=30).output("gate", "echo") == {"decision": "ship"}

    page = client.list_workflows(definition_name=name, status="completed", limit=5)
    assert [w.id for w in page.workflows] == [wid] and page.total == 1

    failing = unique("fail")
    client.deploy({"name": failing, "activities": [{"key": "f", "activity_name": "echo",
                                                    "parameters": {"fail_attempts": 1}, "settings": {"retry": {"max_attempts": 1}}}]})
    failed = client.run(failing, timeout=30)
    assert failed.status == "failed"
    retried = client.retry(failed.id)
    assert retried["retried_activities"] == ["f"]
    assert client.wait(failed.id, timeout=30).status == "completed"
    with pytest.raises(ApiError) as info:
        client.cancel(failed.id)
    assert info.value.status_code == 409


def test_async_client_mirrors_the_sync_client(server: SpindleServer) -> None:
    name = unique("async")

    async def scenario() -> None:
        async with AsyncSpindleClient(server.url) as c:
            assert "long-poll" in (await c.info())["features"]
            deployed = await c.deploy(chain_yaml(name))
            assert deployed.name == name
            results = await asyncio.gather(*(c.run(name, {"name": n}, timeout=30) for n in ("a", "b", "c")))
            assert [wf.output("shout", "echo")["text"] for wf in results] == ["HELLO, A", "HELLO, B", "HELLO, C"]
            outputs = await c.outputs(results[0].id)
            assert outputs.outputs["shout"]["echo"] == {"text": "HELLO, A"}
            page = await c.list_workflows(definition_name=name)
            assert page.total == 3
            events = await c.events(results[0].id, event_types=["WorkflowCompleted"])
            assert [e.event_type for e in events] == ["WorkflowCompleted"]

    asyncio.run(scenario())


def test_submit_priority_is_sent_and_an_out_of_range_one_is_a_field_error(client: SpindleClient) -> None:
    name = unique("prio")
    client.deploy(chain_yaml(name))
    wid = client.submit(name, {"name": "x"}, priority=7).workflow_id
    assert client.wait(wid, timeout=30).status == "completed"
    with pytest.raises(ApiError) as bad:
        client.submit(name, priority=1001)
    assert bad.value.status_code == 422 and "priority" in bad.value.field_errors


def test_list_workflows_pages_by_cursor_through_every_run_once(client: SpindleClient) -> None:
    name = unique("pages")
    client.deploy({"name": name, "activities": [{"key": "a", "activity_name": "echo", "parameters": {}}]})
    submitted = {client.submit(name, unique_key=unique("k")).workflow_id for _ in range(5)}

    seen: list[str] = []
    page = client.list_workflows(definition_name=name, limit=2)
    while True:
        seen.extend(w.id for w in page.workflows)
        if page.next_cursor is None:
            break
        page = client.list_workflows(definition_name=name, limit=2, cursor=page.next_cursor)
    assert sorted(seen) == sorted(submitted) and len(seen) == 5

    newest = client.list_workflows(definition_name=name, limit=1).workflows[0]
    assert [w.id for w in client.list_workflows(id_prefix=newest.id).workflows] == [newest.id]
    assert newest.total_cost_usd is None or newest.total_cost_usd >= 0
