"""Batched reports (``batch-report``): results that finish while a report is in flight go together in one
``POST /api/v1/workers/report``; a lone result goes at once through its own route.

The worker talks to the real server through :class:`TokenGateway` (tokens not required), which records what it sends
and can play a server without the batched route (404). Each result must be recorded exactly once whichever way it
went. Nothing here measures speed; that belongs to bench/.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from spindle import SpindleClient, Worker, WorkerConfig
from support import SpindleServer, TokenGateway, WorkerThread, unique

LEAVES = 8


@pytest.fixture
def gateway(server: SpindleServer) -> Iterator[TokenGateway]:
    with TokenGateway(server.url, require_token=False) as instance:
        yield instance


def test_the_server_advertises_batch_report(client: SpindleClient) -> None:
    assert "batch-report" in client.info()["features"]


def fan_out_worker(api_url: str, **options: Any) -> tuple[Worker, list[dict[str, Any]]]:
    """A worker for ``root → leaf0..leafN-1``: the leaves wait until all of them run, then finish together."""
    options.setdefault("batch_reports", True)  # off by default (docs/performance-notes.md); these tests are about batching
    worker = Worker(config=WorkerConfig(api_url=api_url, worker=unique("pybatch"), max_concurrency=16, **options))
    all_running = threading.Event()
    running: list[int] = []
    lock = threading.Lock()

    @worker.activity("leaf")
    def leaf(params: dict[str, Any]) -> dict[str, Any]:
        with lock:
            running.append(params["i"])
            if len(running) == LEAVES:
                all_running.set()
        assert all_running.wait(30)
        return {"i": params["i"]}

    worker.register("root", lambda: {"ok": True})
    key = worker.config.worker
    activities: list[dict[str, Any]] = [{"key": "root", "worker": key, "activity_name": "root"}]
    activities += [
        {"key": f"leaf{i}", "worker": key, "activity_name": "leaf", "parameters": {"i": i}, "depends_on": ["root"]}
        for i in range(LEAVES)
    ]
    return worker, activities


def run_fan_out(client: SpindleClient, worker: Worker, activities: list[dict[str, Any]]) -> str:
    name = unique("wf")
    client.deploy({"name": name, "activities": activities})
    with WorkerThread(worker):
        wf = client.run(name, timeout=60)
    assert wf.status == "completed", wf.error_message
    for i in range(LEAVES):
        assert wf.activity(f"leaf{i}").outputs == {"i": i}
    completed = Counter(e.activity_key for e in client.events(wf.id, event_types=["ActivityCompleted"]))
    assert completed == Counter({"root": 1, **{f"leaf{i}": 1 for i in range(LEAVES)}}), "each result recorded once"
    return wf.id


def reported_ids(gateway: TokenGateway) -> Counter[str]:
    """How often each activity was reported, through its own route or in a batch (every call reached the server)."""
    ids: Counter[str] = Counter()
    with gateway.lock:
        for method, path, body in gateway.forwarded:
            if method != "POST" or not isinstance(body, dict):
                continue
            if path.endswith("/complete") or path.endswith("/fail"):
                ids[path.split("/")[-2]] += 1
            elif path.endswith("/workers/report"):
                ids.update(r["activity_id"] for r in body["reports"])
    return ids


def test_results_finishing_while_a_report_is_in_flight_go_in_one_batch(
    client: SpindleClient, gateway: TokenGateway
) -> None:
    worker, activities = fan_out_worker(gateway.url)
    run_fan_out(client, worker, activities)

    batches = gateway.bodies("/workers/report")
    assert batches, "the leaves finished together: some of them must have gone in one request"
    assert all(len(b["reports"]) >= 2 for b in batches), "a lone result goes through its own route"
    assert all(b["worker_id"] == worker.config.worker_id for b in batches)
    assert all("worker_id" not in r and r["action"] == "complete" for b in batches for r in b["reports"])
    assert worker.api is not None
    assert worker.api.batcher.batches_sent == len(batches)
    assert worker.api.batcher.reports_batched == sum(len(b["reports"]) for b in batches)
    assert len(batches) + len(gateway.bodies("/complete")) < LEAVES + 1, "fewer requests than results"
    # Sent exactly once each (no report repeated, none lost), and counted once by the worker.
    ids = reported_ids(gateway)
    assert len(ids) == LEAVES + 1 and set(ids.values()) == {1}, ids
    assert (worker.stats.completed, worker.stats.failed, worker.stats.dropped) == (LEAVES + 1, 0, 0)


def test_a_server_without_the_route_gets_single_reports(client: SpindleClient, gateway: TokenGateway) -> None:
    gateway.missing_routes = {"/workers/report"}  # it still lists the feature: the 404 alone must be enough
    worker, activities = fan_out_worker(gateway.url)
    run_fan_out(client, worker, activities)

    assert gateway.missing_hits == 1, "tried once, then never again"
    assert worker.api is not None
    assert not worker.api.batcher.enabled
    assert worker.api.batcher.batches_sent == 0
    ids = reported_ids(gateway)
    assert len(ids) == LEAVES + 1 and set(ids.values()) == {1}, ids
    assert (worker.stats.completed, worker.stats.dropped) == (LEAVES + 1, 0)


@pytest.mark.parametrize("how", ["option off", "server without batch-report"])
def test_no_batch_is_sent_when_turned_off_or_not_advertised(
    client: SpindleClient, gateway: TokenGateway, how: str
) -> None:
    if how == "option off":
        worker, activities = fan_out_worker(gateway.url, batch_reports=False)
    else:
        gateway.hidden_features = {"batch-report"}
        worker, activities = fan_out_worker(gateway.url)
    run_fan_out(client, worker, activities)
    assert gateway.bodies("/workers/report") == []
    assert len(gateway.bodies("/complete")) == LEAVES + 1
