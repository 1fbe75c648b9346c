"""The ``claim-next`` extension: a completion also leases the workflow's next activities to the completing worker.

The worker talks to the real server through :class:`TokenGateway` (tokens not required), which records what it sends.
That the next step was claimed in the completion's own transaction shows in the server's history: its
``ActivityStarted`` carries the very timestamp of the previous step's ``ActivityCompleted`` (one decision, one clock
reading), which a separate poll transaction never does. Nothing here measures speed; that belongs to bench/.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from spindle import SpindleClient, Worker, WorkerConfig
from spindle.models import WorkflowEvent
from spindle.worker import ActivityContext
from support import SpindleServer, TokenGateway, WorkerThread, unique, wait_until


@pytest.fixture
def gateway(server: SpindleServer) -> Iterator[TokenGateway]:
    with TokenGateway(server.url, require_token=False) as instance:
        yield instance


def deploy(client: SpindleClient, activities: list[dict[str, Any]]) -> str:
    name = unique("wf")
    client.deploy({"name": name, "activities": activities})
    return name


def chain(key: str, length: int) -> list[dict[str, Any]]:
    """``s0 → s1 → …``, each adding one to the previous step's ``n``."""
    steps: list[dict[str, Any]] = [{"key": "s0", "worker": key, "activity_name": "step", "parameters": {"n": 0}}]
    for i in range(1, length):
        steps.append(
            {
                "key": f"s{i}",
                "worker": key,
                "activity_name": "step",
                "parameters": {"n": f"{{{{s{i - 1}.n}}}}"},
                "depends_on": [f"s{i - 1}"],
            }
        )
    return steps


def first_events(client: SpindleClient, workflow_id: str, event_type: str) -> dict[str, WorkflowEvent]:
    found: dict[str, WorkflowEvent] = {}
    for e in client.events(workflow_id, event_types=[event_type]):
        if e.activity_key is not None:
            found.setdefault(e.activity_key, e)
    return found


def peak_leased(client: SpindleClient, workflow_id: str, worker_id: str) -> int:
    """The most activities the server's history shows leased to ``worker_id`` at once (events in commit order)."""
    owner: dict[str, str] = {}
    peak = 0
    for e in client.events(workflow_id):
        key = e.activity_key or ""
        if e.event_type == "ActivityStarted":
            owner[key] = str(e.payload.get("worker_id"))
        elif e.event_type in ("ActivityCompleted", "ActivityFailed", "ActivityCancelled"):
            owner.pop(key, None)
        peak = max(peak, sum(1 for w in owner.values() if w == worker_id))
    return peak


def test_the_server_advertises_claim_next(client: SpindleClient) -> None:
    assert "claim-next" in client.info()["features"]


def test_each_step_of_a_chain_is_claimed_by_the_completion_of_the_previous_one(
    client: SpindleClient, gateway: TokenGateway
) -> None:
    worker = Worker(config=WorkerConfig(api_url=gateway.url, worker=unique("pychain")))
    worker.register("step", lambda params: {"n": params["n"] + 1})
    worker.register("elsewhere", lambda: None)  # registered, never used: it widens the activity filter
    key = worker.config.worker
    name = deploy(client, chain(key, 5))
    with WorkerThread(worker):
        wf = client.run(name, timeout=60)
    assert wf.status == "completed", wf.error_message
    assert wf.activity("s4").outputs == {"n": 5}

    started = first_events(client, wf.id, "ActivityStarted")
    completed = first_events(client, wf.id, "ActivityCompleted")
    for i in range(1, 5):
        assert started[f"s{i}"].timestamp == completed[f"s{i - 1}"].timestamp, f"s{i} was claimed by a poll"
        assert started[f"s{i}"].payload["worker_id"] == worker.config.worker_id
    assert (worker.stats.claimed, worker.stats.claimed_next, worker.stats.completed) == (5, 4, 5)

    bodies = gateway.bodies("/complete")
    assert len(bodies) == 5
    for body in bodies:
        # 16 slots: 1 held by the completing step, 10 reserved by the open long-poll, so 5 free plus its own.
        assert body["claim_next"] == 6
        assert body["worker"] == key
        assert sorted(body["activity_names"]) == ["elsewhere", "step"], "the poller's filter"
    assert all(p["max_activities"] == 10 for p in gateway.bodies("/workers/poll"))


@pytest.mark.parametrize("how", ["option off", "server without claim-next"])
def test_no_claim_next_is_sent_when_turned_off_or_not_advertised(
    client: SpindleClient, gateway: TokenGateway, how: str
) -> None:
    if how == "option off":
        worker = Worker(config=WorkerConfig(api_url=gateway.url, worker=unique("pyoff"), claim_next=False))
    else:
        gateway.hidden_features = {"claim-next"}
        worker = Worker(config=WorkerConfig(api_url=gateway.url, worker=unique("pyold")))
    worker.register("step", lambda params: {"n": params["n"] + 1})
    name = deploy(client, chain(worker.config.worker, 3))
    with WorkerThread(worker):
        wf = client.run(name, timeout=60)
    assert wf.status == "completed", wf.error_message
    assert wf.activity("s2").outputs == {"n": 3}
    bodies = gateway.bodies("/complete")
    assert len(bodies) == 3
    assert all(set(body) == {"worker_id", "output"} for body in bodies), bodies
    assert (worker.stats.claimed, worker.stats.claimed_next) == (3, 0)


def test_a_draining_worker_completes_without_claiming_the_next_step(
    client: SpindleClient, gateway: TokenGateway
) -> None:
    worker = Worker(config=WorkerConfig(api_url=gateway.url, worker=unique("pydrain"), shutdown_timeout=30))
    started = threading.Event()
    release = threading.Event()

    @worker.activity("first")
    def first() -> dict[str, Any]:
        started.set()
        assert release.wait(30)
        return {"ok": True}

    worker.register("second", lambda: {"ok": True})
    key = worker.config.worker
    name = deploy(
        client,
        [
            {"key": "first", "worker": key, "activity_name": "first"},
            {"key": "second", "worker": key, "activity_name": "second", "depends_on": ["first"]},
        ],
    )
    thread = WorkerThread(worker).__enter__()
    wid = client.submit(name).workflow_id
    assert started.wait(30)
    worker.request_shutdown()
    wait_until(lambda: not worker.polling, 10, what="the poll loop to stop")
    release.set()
    thread.thread.join(30)
    assert not thread.thread.is_alive()
    assert thread.error is None

    assert client.get(wid).activity("first").status == "completed"
    [body] = gateway.bodies("/complete")
    assert "claim_next" not in body
    assert (worker.stats.completed, worker.stats.claimed_next) == (1, 0)
    # Not leased with the result. (The gateway keeps the worker's aborted long-poll open upstream, which may claim
    # "second" afterwards in a transaction of its own; a worker talking to the server directly ends it.)
    first_done = first_events(client, wid, "ActivityCompleted")["first"].timestamp
    assert all(
        e.timestamp != first_done
        for e in client.events(wid, event_types=["ActivityStarted"])
        if e.activity_key == "second"
    )
    client.cancel(wid, reason="test cleanup")


def fan_out(key: str, leaves: int) -> list[dict[str, Any]]:
    """``root`` → ``leaf0 … leafN-1`` on ``key`` → ``join`` on the server's std worker (another routing key)."""
    leaf_keys = [f"leaf{i}" for i in range(leaves)]
    return [
        {"key": "root", "worker": key, "activity_name": "root"},
        *(
            {"key": k, "worker": key, "activity_name": "leaf", "parameters": {"i": i}, "depends_on": ["root"]}
            for i, k in enumerate(leaf_keys)
        ),
        {"key": "join", "activity_name": "echo", "parameters": {"n": len(leaf_keys)}, "depends_on": leaf_keys},
    ]


def counting_worker(api_url: str, **options: Any) -> tuple[Worker, list[int]]:
    """A worker whose ``leaf`` handler records how many activities the worker holds while it runs."""
    worker = Worker(config=WorkerConfig(api_url=api_url, worker=unique("pyfan"), **options))
    held: list[int] = []

    @worker.activity("leaf")
    async def leaf(params: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
        held.append(worker.in_flight)
        await asyncio.sleep(0.05)  # overlap with whatever else runs (no assertion depends on how long)
        held.append(worker.in_flight)
        return {"i": params["i"]}

    worker.register("root", lambda: {"ok": True})
    return worker, held


def test_a_fan_out_never_holds_more_activities_than_the_concurrency_limit(
    client: SpindleClient, gateway: TokenGateway
) -> None:
    worker, held = counting_worker(gateway.url, max_concurrency=2)
    name = deploy(client, fan_out(worker.config.worker, 10))
    with WorkerThread(worker):
        wf = client.run(name, timeout=60)
    assert wf.status == "completed", wf.error_message
    assert sorted(wf.activity(f"leaf{i}").outputs["i"] for i in range(10)) == list(range(10))  # type: ignore[index]
    assert wf.output("join", "echo") == {"n": 10}

    assert held and max(held) <= 2
    assert peak_leased(client, wf.id, worker.config.worker_id) <= 2, "the server's history agrees"
    # Its own slot, plus the other one only when no leaf runs in it and no long-poll holds it.
    assert all(1 <= body["claim_next"] <= 2 for body in gateway.bodies("/complete"))
    assert worker.stats.claimed == 11
    assert worker.stats.claimed_next >= 1, "the leaves after the first two come with completions"
    assert worker.in_flight == 0 and worker._reserved == 0


def test_free_slots_are_reserved_and_filled_by_one_completion(client: SpindleClient, gateway: TokenGateway) -> None:
    worker, held = counting_worker(gateway.url, max_concurrency=8, poll_batch_size=3)
    name = deploy(client, fan_out(worker.config.worker, 6))
    with WorkerThread(worker):
        wf = client.run(name, timeout=60)
    assert wf.status == "completed", wf.error_message

    bodies = gateway.bodies("/complete")
    # root's completion: 8 slots, 1 its own, 3 reserved by the open long-poll; 4 free, so the poll batch (3) caps it.
    assert bodies[0]["claim_next"] == 3
    started = first_events(client, wf.id, "ActivityStarted")
    root_done = first_events(client, wf.id, "ActivityCompleted")["root"].timestamp
    claimed_with_root = [k for k, e in started.items() if k.startswith("leaf") and e.timestamp == root_done]
    assert len(claimed_with_root) == 3
    assert all(started[k].payload["worker_id"] == worker.config.worker_id for k in claimed_with_root)
    assert worker.stats.claimed_next >= 3
    assert held and max(held) <= 8
    assert peak_leased(client, wf.id, worker.config.worker_id) <= 8
    assert all(body["claim_next"] <= 3 for body in bodies)


def test_a_repeated_completion_whose_first_answer_was_lost_claims_nothing(
    client: SpindleClient, gateway: TokenGateway
) -> None:
    worker = Worker(config=WorkerConfig(api_url=gateway.url, worker=unique("pylost"), max_concurrency=1))
    gateway.lose_answer_suffix = "/complete"

    @worker.activity("first")
    def first() -> dict[str, Any]:
        gateway.lose_answers = 1  # the server records this result and claims "second"; the answer never arrives
        return {"ok": True}

    @worker.activity("second")
    def second(params: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
        return {"attempt": ctx.attempt}

    key = worker.config.worker
    retry = {"max_attempts": 2, "strategy": "fixed", "base_seconds": 0}
    name = deploy(
        client,
        [
            {"key": "first", "worker": key, "activity_name": "first"},
            {
                "key": "second",
                "worker": key,
                "activity_name": "second",
                "depends_on": ["first"],
                "settings": {"timeout_seconds": 2, "retry": retry},
            },
        ],
    )
    with WorkerThread(worker):
        wf = client.run(name, timeout=60)
    assert wf.status == "completed", wf.error_message
    assert gateway.answers_lost == 1
    completes = [(p, b) for m, p, b in gateway.forwarded if m == "POST" and p.endswith("/complete")]
    assert len(completes) == 3
    assert completes[0] == completes[1], "the retry repeats the same call with the same body"
    assert completes[0][1]["claim_next"] == 1 and completes[0][1]["output"] == {"ok": True}
    assert completes[2][0] != completes[0][0]

    # The lease that the lost answer carried ran out; the server offered "second" again, to a poll.
    assert wf.activity("second").outputs == {"attempt": 2}
    starts = [e for e in client.events(wf.id, event_types=["ActivityStarted"]) if e.activity_key == "second"]
    assert len(starts) == 2
    assert starts[0].timestamp == first_events(client, wf.id, "ActivityCompleted")["first"].timestamp
    assert all(e.payload["worker_id"] == worker.config.worker_id for e in starts)
    assert (worker.stats.completed, worker.stats.claimed, worker.stats.claimed_next) == (2, 2, 0)
    assert worker.in_flight == 0 and worker._reserved == 0
