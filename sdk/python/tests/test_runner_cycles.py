"""The runner frees what an activity used by reference counting: no reference cycles for the cyclic GC."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

import spindle.worker.runner as runner_module
from spindle.worker import ActivityContext, Worker, WorkerConfig


def _claimed(n: int) -> dict[str, Any]:
    return {
        "activity_id": f"act_{n}",
        "workflow_id": "wf_1",
        "activity_key": f"step{n}",
        "activity_name": "echo",
        "parameters": {"n": n},
        "attempt": 1,
        "iteration": 0,
        "lease_seconds": 60,
    }


class _ChainApi:
    """A server stand-in: one poll answers the first activity, each completion hands out the next (claim-next)."""

    total = 50

    def __init__(self, transport: Any, config: WorkerConfig) -> None:
        self.polled = False
        self.completed = 0
        self.worker: Worker | None = None

    async def info(self) -> dict[str, Any]:
        return {"features": ["claim-next"]}

    async def poll(self, max_activities: int, wait_seconds: int, activity_names: Any, **options: Any) -> list[Any]:
        if not self.polled:
            self.polled = True
            return [_claimed(0)]
        await asyncio.sleep(0.05)
        return []

    async def complete(self, activity_id: str, output: dict[str, Any], **options: Any) -> dict[str, Any]:
        self.completed += 1
        if self.completed >= self.total:
            assert self.worker is not None
            self.worker.request_shutdown()
            return {"acknowledged": True, "activities": []}
        return {"acknowledged": True, "activities": [_claimed(self.completed)] if options.get("claim_next") else []}


def test_finished_activities_leave_no_reference_cycles(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = Worker(config=WorkerConfig(api_url="http://127.0.0.1:9", worker="cycles", max_concurrency=4))

    def make_api(transport: Any, config: WorkerConfig) -> _ChainApi:
        api = _ChainApi(transport, config)
        api.worker = worker
        return api

    monkeypatch.setattr(runner_module, "WorkerApi", make_api)

    @worker.activity("echo")
    async def echo(params: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
        return {"n": params["n"], "key": ctx.activity_key}

    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        asyncio.run(worker.run_async())
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        leftovers = [o for o in gc.garbage if isinstance(o, (ActivityContext, runner_module._Execution))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()
    assert worker.stats.completed == _ChainApi.total
    assert leftovers == []

