"""The worker framework against a real Spindle server: custom activities on their own routing keys."""

from __future__ import annotations

import asyncio
import threading
import time
from decimal import Decimal
from typing import Any

from spindle import ActivityError, ActivityResult, SpindleClient, Usage, Worker, WorkerConfig
from spindle.worker import ActivityContext
from support import SpindleServer, WorkerThread, unique, wait_until


def new_worker(server: SpindleServer, **options: Any) -> Worker:
    return Worker(config=WorkerConfig(api_url=server.url, worker=unique("pyw"), **options))


def events(client: SpindleClient, workflow_id: str, event_type: str) -> list[dict[str, Any]]:
    return [e.payload for e in client.events(workflow_id, event_types=[event_type])]


def deploy(client: SpindleClient, activities: list[dict[str, Any]]) -> str:
    name = unique("wf")
    client.deploy({"name": name, "activities": activities})
    return name


def activity_status(client: SpindleClient, workflow_id: str, key: str) -> str:
    try:
        return client.get(workflow_id).activity(key).status
    except KeyError:
        return "absent"


def test_sync_and_async_handlers_complete_between_std_steps_with_cost(server: SpindleServer, client: SpindleClient) -> None:
    worker = new_worker(server)
    seen: dict[str, Any] = {}

    @worker.activity("double")
    def double(params: dict[str, Any]) -> dict[str, Any]:
        seen["thread"] = threading.current_thread().name
        return {"value": params["n"] * 2}

    @worker.activity()
    async def add(params: dict[str, Any], ctx: ActivityContext) -> ActivityResult:
        seen.update(workflow_id=ctx.workflow_id, attempt=ctx.attempt, iteration=ctx.iteration, key=ctx.activity_key)
        return ActivityResult(
            output={"sum": params["a"] + params["b"], "note": "ok"},
            cost_usd="0.25",
            usage=[Usage(provider="anthropic", model="claude-haiku-4-5", input_tokens=10, output_tokens=2)],
        )

    key = worker.config.worker
    name = deploy(
        client,
        [
            {"key": "start", "activity_name": "echo", "parameters": {"n": 5}},
            {"key": "d", "worker": key, "activity_name": "double", "parameters": {"n": "{{start.echo.n}}"}, "depends_on": ["start"]},
            {"key": "sum", "worker": key, "activity_name": "add", "parameters": {"a": "{{d.value}}", "b": 1}, "depends_on": ["d"]},
            {"key": "done", "activity_name": "echo", "parameters": {"total": "{{sum.sum}}"}, "depends_on": ["sum"]},
        ],
    )
    with WorkerThread(worker):
        wf = client.run(name, {}, timeout=60)
    assert wf.status == "completed", wf.error_message
    assert wf.output("done", "echo") == {"total": 11}
    assert wf.activity("sum").outputs == {"sum": 11, "note": "ok"}
    assert seen["thread"].startswith("spindle-activity")
    assert seen == {**seen, "workflow_id": wf.id, "attempt": 1, "iteration": 0, "key": "sum"}
    # cost_usd covers what the usage line does not; the server prices the line (12 tokens) from its catalog.
    assert wf.total_cost_usd is not None and Decimal("0.25") < wf.total_cost_usd < Decimal("0.2501")
    completed = {e.activity_key: e.payload for e in client.events(wf.id, event_types=["ActivityCompleted"])}
    assert Decimal(completed["sum"]["cost_usd"]) == wf.total_cost_usd


def test_activity_error_fails_with_its_own_code_and_is_not_retried(server: SpindleServer, client: SpindleClient) -> None:
    worker = new_worker(server)

    @worker.activity("charge")
    def charge(params: dict[str, Any]) -> None:
        raise ActivityError("PAYMENT_DECLINED", "Card declined", retryable=False, cost_usd="0.01")

    name = deploy(
        client,
        [{"key": "charge", "worker": worker.config.worker, "activity_name": "charge", "settings": {"retry": {"max_attempts": 3}}}],
    )
    with WorkerThread(worker):
        wf = client.run(name, timeout=60)
    assert wf.status == "failed"
    step = wf.activity("charge")
    assert (step.error_code, step.error_message, step.attempt) == ("PAYMENT_DECLINED", "Card declined", 1)
    [failure] = events(client, wf.id, "ActivityFailed")
    assert failure["retryable"] is False and failure["will_retry"] is False
    assert wf.total_cost_usd == Decimal("0.01")


def test_unexpected_exception_is_a_retryable_execution_error_that_the_server_retries(
    server: SpindleServer, client: SpindleClient
) -> None:
    worker = new_worker(server)

    @worker.activity("flaky")
    async def flaky(params: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
        if ctx.attempt == 1:
            raise KeyError("upstream hiccup")
        return {"attempt": ctx.attempt}

    retry = {"max_attempts": 2, "strategy": "fixed", "base_seconds": 0}
    name = deploy(client, [{"key": "f", "worker": worker.config.worker, "activity_name": "flaky", "settings": {"retry": retry}}])
    with WorkerThread(worker):
        wf = client.run(name, timeout=60)
    assert wf.status == "completed"
    assert wf.activity("f").outputs == {"attempt": 2}
    [failure] = events(client, wf.id, "ActivityFailed")
    assert failure["error_code"] == "EXECUTION_ERROR"
    assert failure["retryable"] is True and failure["will_retry"] is True
    assert failure["error_message"].startswith("KeyError: 'upstream hiccup'\n\nTraceback")


def test_unserializable_return_value_fails_with_output_error(server: SpindleServer, client: SpindleClient) -> None:
    worker = new_worker(server)
    worker.register("bad", lambda params: {"when": object()})
    name = deploy(client, [{"key": "b", "worker": worker.config.worker, "activity_name": "bad"}])
    with WorkerThread(worker):
        wf = client.run(name, timeout=60)
    step = wf.activity("b")
    assert step.error_code == "OUTPUT_ERROR"
    assert "OUTPUT_NOT_SERIALIZABLE" in (step.error_message or "") and "output['when']" in (step.error_message or "")


def test_non_dict_return_value_becomes_the_result_output(server: SpindleServer, client: SpindleClient) -> None:
    worker = new_worker(server)
    worker.register("count", lambda: [1, 2, 3])
    name = deploy(client, [{"key": "c", "worker": worker.config.worker, "activity_name": "count"}])
    with WorkerThread(worker):
        wf = client.run(name, timeout=60)
    assert wf.output("c") == [1, 2, 3]


def test_worker_claims_only_activity_names_it_has_handlers_for(server: SpindleServer, client: SpindleClient) -> None:
    worker = new_worker(server)
    worker.register("known", lambda: {"ok": True})
    key = worker.config.worker
    name = deploy(
        client,
        [
            {"key": "known", "worker": key, "activity_name": "known"},
            {"key": "other", "worker": key, "activity_name": "someone_elses"},
        ],
    )
    with WorkerThread(worker):
        wid = client.submit(name).workflow_id
        wait_until(lambda: activity_status(client, wid, "known") == "completed", 30, what="known completed")
        time.sleep(0.5)
        assert activity_status(client, wid, "other") == "pending"
    client.cancel(wid, reason="test cleanup")


def test_no_more_activities_run_at_once_than_the_concurrency_limit(server: SpindleServer, client: SpindleClient) -> None:
    worker = new_worker(server, max_concurrency=2)
    running = 0
    peak = 0
    lock = threading.Lock()

    @worker.activity("slow")
    async def slow(params: dict[str, Any]) -> dict[str, Any]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        await asyncio.sleep(0.4)
        with lock:
            running -= 1
        return {"i": params["i"]}

    key = worker.config.worker
    name = deploy(client, [{"key": f"s{i}", "worker": key, "activity_name": "slow", "parameters": {"i": i}} for i in range(5)])
    with WorkerThread(worker):
        wf = client.run(name, timeout=60)
    assert wf.status == "completed"
    assert peak == 2
    assert sorted(a.outputs["i"] for a in wf.activities) == [0, 1, 2, 3, 4]  # type: ignore[index]


def test_long_running_activity_is_heartbeated_and_keeps_its_lease(server: SpindleServer, client: SpindleClient) -> None:
    worker = new_worker(server)

    @worker.activity("long")
    async def long(params: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(2.5)
        return {"done": True}

    name = deploy(
        client,
        [{"key": "l", "worker": worker.config.worker, "activity_name": "long", "settings": {"timeout_seconds": 3}}],
    )
    with WorkerThread(worker):
        wf = client.run(name, timeout=60)
    assert wf.status == "completed"
    assert wf.activity("l").attempt == 1
    # A 3 s lease is heartbeated every second: at least twice during 2.5 s.
    assert worker.stats.heartbeats >= 2
    assert len(events(client, wf.id, "ActivityStarted")) == 1


def test_timeout_stops_the_handler_and_reports_timeout(server: SpindleServer, client: SpindleClient) -> None:
    worker = new_worker(server)
    stopped = threading.Event()

    @worker.activity("stuck")
    async def stuck(params: dict[str, Any]) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            stopped.set()
            raise

    # 2 s, not 1: the heartbeat at 1 s carries the server's lease past the worker's own timeout. With a 1 s lease no
    # heartbeat comes first, and the server's lease sweep could record ACTIVITY_TIMEOUT before the worker's report.
    settings = {"timeout_seconds": 2, "retry": {"max_attempts": 1}}
    name = deploy(client, [{"key": "s", "worker": worker.config.worker, "activity_name": "stuck", "settings": settings}])
    with WorkerThread(worker):
        started = time.monotonic()
        wf = client.run(name, timeout=60)
        elapsed = time.monotonic() - started
    step = wf.activity("s")
    assert (step.error_code, step.error_message) == ("TIMEOUT", "Activity exceeded timeout of 2 s")
    assert stopped.is_set()
    assert elapsed < 10
    [failure] = events(client, wf.id, "ActivityFailed")
    assert failure["retryable"] is True


def test_activities_running_together_keep_their_own_timeouts_and_heartbeats(
    server: SpindleServer, client: SpindleClient
) -> None:
    """One timer serves every execution: a short timeout firing must not disturb a longer one, whose heartbeats go on
    and which completes."""
    worker = new_worker(server)

    @worker.activity("stuck")
    async def stuck(params: dict[str, Any]) -> None:
        await asyncio.sleep(60)

    @worker.activity("long")
    async def long(params: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(3)
        return {"done": True}

    key = worker.config.worker
    stuck_name = deploy(
        client,
        [{"key": "s", "worker": key, "activity_name": "stuck", "settings": {"timeout_seconds": 2, "retry": {"max_attempts": 1}}}],
    )
    long_name = deploy(client, [{"key": "l", "worker": key, "activity_name": "long", "settings": {"timeout_seconds": 4}}])
    with WorkerThread(worker):
        long_id = client.submit(long_name).workflow_id
        stuck_id = client.submit(stuck_name).workflow_id
        stuck_wf = client.wait(stuck_id, timeout=60)
        long_wf = client.wait(long_id, timeout=60)
    assert stuck_wf.activity("s").error_code == "TIMEOUT"
    assert long_wf.status == "completed"
    assert long_wf.activity("l").attempt == 1
    # A 4 s lease is heartbeated every 2 s: at least once during the 3 s run.
    assert worker.stats.heartbeats >= 1


def test_sync_handler_sees_the_cancelled_flag_after_a_timeout(server: SpindleServer, client: SpindleClient) -> None:
    worker = new_worker(server)
    left_loop = threading.Event()

    @worker.activity("busy")
    def busy(params: dict[str, Any], ctx: ActivityContext) -> None:
        while not ctx.cancelled:
            time.sleep(0.02)
        left_loop.set()

    settings = {"timeout_seconds": 1, "retry": {"max_attempts": 1}}
    name = deploy(client, [{"key": "b", "worker": worker.config.worker, "activity_name": "busy", "settings": settings}])
    with WorkerThread(worker):
        wf = client.run(name, timeout=60)
        assert left_loop.wait(5)
    assert wf.activity("b").error_code == "TIMEOUT"


def test_cancelling_the_workflow_stops_the_running_handler_through_its_heartbeat(
    server: SpindleServer, client: SpindleClient
) -> None:
    worker = new_worker(server)
    stopped = threading.Event()
    started = threading.Event()

    @worker.activity("wait")
    async def wait(params: dict[str, Any]) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            stopped.set()
            raise

    name = deploy(
        client,
        [{"key": "w", "worker": worker.config.worker, "activity_name": "wait", "settings": {"timeout_seconds": 6}}],
    )
    with WorkerThread(worker):
        wid = client.submit(name).workflow_id
        assert started.wait(30)
        cancelled = client.cancel(wid, reason="no longer needed")
        assert cancelled.status == "cancelled" and cancelled.cancel_requested
        wait_until(lambda: activity_status(client, wid, "w") == "cancelled", 10, what="activity cancelled")
    assert stopped.is_set()
    wf = client.get(wid)
    assert wf.status == "cancelled"
    assert wf.activity("w").error_code == "CANCELLED"


def test_shutdown_lets_a_running_activity_finish_and_claims_nothing_new(server: SpindleServer, client: SpindleClient) -> None:
    worker = new_worker(server, shutdown_timeout=20)
    started = threading.Event()

    @worker.activity("work")
    async def work(params: dict[str, Any]) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(1.0)
        return {"finished": params["n"]}

    name = deploy(client, [{"key": "w", "worker": worker.config.worker, "activity_name": "work", "parameters": {"n": "{{INPUT.n}}"}}])
    thread = WorkerThread(worker).__enter__()
    first = client.submit(name, {"n": 1}).workflow_id
    assert started.wait(30)
    worker.request_shutdown()
    wait_until(lambda: not worker.polling, 10, what="the poll loop to stop")
    second = client.submit(name, {"n": 2}).workflow_id
    thread.thread.join(30)
    assert not thread.thread.is_alive()
    assert client.wait(first, timeout=10).activity("w").outputs == {"finished": 1}
    assert client.get(second).activity("w").status == "pending"
    client.cancel(second, reason="test cleanup")


def test_activity_still_running_after_the_grace_period_is_reported_as_worker_shutdown(
    server: SpindleServer, client: SpindleClient
) -> None:
    first_worker = new_worker(server, shutdown_timeout=0.3)
    started = threading.Event()

    @first_worker.activity("job")
    async def job(params: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
        if ctx.attempt == 1:
            started.set()
            await asyncio.sleep(60)
        return {"attempt": ctx.attempt}

    retry = {"max_attempts": 2, "strategy": "fixed", "base_seconds": 0}
    name = deploy(client, [{"key": "j", "worker": first_worker.config.worker, "activity_name": "job", "settings": {"retry": retry}}])
    thread = WorkerThread(first_worker).__enter__()
    wid = client.submit(name).workflow_id
    assert started.wait(30)
    began = time.monotonic()
    thread.stop()
    assert time.monotonic() - began < 5
    [failure] = events(client, wid, "ActivityFailed")
    assert failure["error_code"] == "WORKER_SHUTDOWN"
    assert failure["retryable"] is True and failure["will_retry"] is True

    second_worker = Worker(config=WorkerConfig(api_url=server.url, worker=first_worker.config.worker))
    second_worker.register("job", job)
    with WorkerThread(second_worker):
        wf = client.wait(wid, timeout=60)
    assert wf.output("j", "attempt") == 2


def test_long_poll_gets_new_work_at_once_without_spinning(server: SpindleServer, client: SpindleClient) -> None:
    worker = new_worker(server)
    worker.register("ping", lambda: {"pong": True})
    name = deploy(client, [{"key": "p", "worker": worker.config.worker, "activity_name": "ping"}])
    with WorkerThread(worker):
        assert worker.wait_seconds == 20
        time.sleep(1.0)
        assert worker.stats.polls <= 1, "an idle long-polling worker holds one poll open instead of polling again"
        wf = client.run(name, timeout=30)
    step = wf.activity("p")
    assert wf.status == "completed"
    from datetime import datetime

    queued = datetime.fromisoformat(step.started_at.replace("Z", "+00:00"))  # type: ignore[union-attr]
    claimed = datetime.fromisoformat(step.claimed_at.replace("Z", "+00:00"))  # type: ignore[union-attr]
    assert (claimed - queued).total_seconds() < 1.0
