"""A real py-std process pool on an event loop in a background thread, shared by the script-process tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any

from spindle.py_std.pool import ProcessDied, ProcessPool


class PoolHarness:
    """A process pool on an event loop in a background thread, so that tests can stay synchronous."""

    def __init__(self, tmp: str, **pool_options: Any) -> None:
        self.tmp = tmp
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.pool = self.call(self._make(pool_options))

    async def _make(self, options: dict[str, Any]) -> ProcessPool:
        pool = ProcessPool(warm=options.pop("warm", 1), max_processes=options.pop("max_processes", 2), cwd=self.tmp, **options)
        await pool.start()
        return pool

    def call(self, coro: Awaitable[Any], timeout: float = 60) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return future.result(timeout)

    def submit(self, coro: Awaitable[Any]) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]

    def run(
        self,
        script: str,
        inputs: dict[str, Any] | None = None,
        *,
        handler: Callable[[str, dict[str, Any]], Awaitable[Any]] | None = None,
        **fields: Any,
    ) -> tuple[dict[str, Any], int]:
        async def go() -> tuple[dict[str, Any], int]:
            process = await self.pool.acquire()
            workdir = fields.pop("cwd", None)
            message = {
                "type": "run",
                "script": script,
                "inputs": inputs if inputs is not None else {},
                "activity_id": fields.pop("activity_id", "act-1"),
                "activity_key": fields.pop("activity_key", "step"),
                "workflow_id": fields.pop("workflow_id", "wf-1"),
                "attempt": fields.pop("attempt", 1),
                "iteration": fields.pop("iteration", 0),
                "signal": fields.pop("signal", None),
                **fields,
            }
            if workdir is not None:
                message["cwd"] = workdir
            try:
                reply = await process.run(message, handler or no_calls)
            except ProcessDied:
                self.pool.release(process, reusable=False)
                raise
            self.pool.release(process, reusable=not reply.get("retire"))
            return reply, process.pid

        return self.call(go())

    def close(self) -> None:
        self.call(self.pool.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def no_calls(method: str, args: dict[str, Any]) -> Any:
    raise RuntimeError(f"unexpected ctx call {method}")


def ok(reply: dict[str, Any]) -> Any:
    """The script's output, after checking that it succeeded."""
    assert reply["ok"], reply
    return reply["output"]
