"""A pool of warm script processes (docs/worker-protocol.md, process reuse)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import json
import logging
import os
import shutil
import sys
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from .process import ProcessDied, ScriptProcess, describe_exit
from .sandbox import Sandbox, child_environment

__all__ = ["ProcessPool", "ScriptProcess", "ProcessDied", "child_environment", "describe_exit"]

log = logging.getLogger("spindle.py_std")

@dataclass(eq=False)
class _Waiter:
    """An :meth:`ProcessPool.acquire` waiting for a process."""

    future: asyncio.Future[ScriptProcess]
    #: Waited longer than the pool's ``spawn_grace``: a new process may be started for it.
    urgent: bool = False
    #: When its grace is over (loop time).
    due: float = 0.0


class ProcessPool:
    """Script processes for concurrent scripts: ``warm`` are started up front (and replaced when they retire or die),
    more only when a script waited ``spawn_grace`` seconds for an idle one, and never more than ``max_processes`` in
    all (busy, starting and stopping ones included).

    Activity slots and processes are not the same thing: a trivial script holds its process for well under a
    millisecond, while the activity holds its slot for the HTTP round trips around it. Starting a process whenever
    two acquires overlap would grow the pool to the number of slots (each interpreter costs CPU to start and tens of
    MB to keep) for no gain; waiting a little for a released process costs fast scripts almost nothing, and slow
    scripts still get a process of their own after ``spawn_grace``.

    Args:
        warm: processes started by :meth:`start` and kept (clamped to ``max_processes``).
        max_processes: the cap on processes, at least 1.
        max_runs: a process is replaced after this many scripts (default 10000), to bound leaks.
        spawn_grace: how long (seconds, default 0.02) a script waits for a busy process to come back before a new
            one is started for it. 0 starts one as soon as none is idle.
        env, cwd, python: the script processes' environment (default :func:`child_environment`), the directory
            under which each gets its private home directory (default the current one) and interpreter (default
            ``sys.executable``).
        sandbox: how the interpreters are isolated and limited (:mod:`~spindle.py_std.sandbox`); default none
            (no namespaces, default limits).
        preload: modules each interpreter imports once at start.
    """

    def __init__(
        self,
        *,
        warm: int,
        max_processes: int,
        max_runs: int = 10_000,
        spawn_grace: float = 0.02,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        python: str | None = None,
        sandbox: Sandbox | None = None,
        preload: str = "",
    ) -> None:
        self.max_processes = max(1, max_processes)
        self.warm = min(max(0, warm), self.max_processes)
        self.max_runs = max(1, max_runs)
        self.spawn_grace = max(0.0, spawn_grace)
        self.env = env
        self.cwd = cwd or os.getcwd()
        self.sandbox = sandbox or Sandbox(python=python or sys.executable)
        if python:
            self.sandbox.python = python
        extra = ["--limits", json.dumps(self.sandbox.limits.to_json())]
        if self.sandbox.isolated:
            extra.append("--sandboxed")
        if self.sandbox.ids is not None:
            extra.append("--dedicated-user")
        if preload:
            extra += ["--preload", preload]
        self._child_args = extra
        self._homes = itertools.count(1)
        self.command = self.sandbox.command(os.path.join(self.cwd, "p0"), extra)
        self._idle: list[ScriptProcess] = []
        #: Processes owned by the pool: idle and busy ones.
        self._all: set[ScriptProcess] = set()
        #: FIFO: a process that comes back goes to the oldest waiter.
        self._waiters: deque[_Waiter] = deque()
        self._spawning = 0
        #: One timer for the waiters' grace, due when the oldest waiter still in its grace is: waiters queue in
        #: arrival order, so their grace ends in that order (a timer per waiter cost more than a trivial script's hop).
        self._grace_timer: asyncio.TimerHandle | None = None
        #: Processes being closed or terminated: still alive, so they count against ``max_processes``.
        self._stopping = 0
        #: After a failed start, the warm count is not topped up again until a start succeeds (no retry loop when
        #: the interpreter cannot run the child); waiters still get a start (and its error) each.
        self._spawn_failed = False
        self._closing = False
        self._background: set[asyncio.Task[Any]] = set()
        self.spawned = 0

    @property
    def idle_count(self) -> int:
        return len(self._idle)

    @property
    def waiting(self) -> int:
        """Acquires waiting for a process."""
        return sum(1 for w in self._waiters if not w.future.done())

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._all if p.alive]

    async def start(self) -> None:
        """Starts the warm processes; fails loudly if the interpreter cannot run the child at all."""
        # Compiled here once (its __pycache__ written if the SDK is writable): the interpreters, which may not write
        # there (sandbox, another user), then load bytecode instead of compiling the child at every start.
        importlib.import_module("spindle.py_std.child")
        self._spawning += self.warm
        try:
            results = await asyncio.gather(*(self._spawn() for _ in range(self.warm)), return_exceptions=True)
        finally:
            self._spawning -= self.warm
        failure: BaseException | None = None
        for result in results:
            if isinstance(result, BaseException):
                failure = failure or result
            else:
                self._idle.append(result)
        if failure is not None:
            raise RuntimeError(f"Cannot start a py-std script process ({' '.join(self.command)}): {failure}") from failure

    async def _spawn(self) -> ScriptProcess:
        home = os.path.join(self.cwd, f"p{next(self._homes)}")
        try:
            self.sandbox.prepare_home(home)
            inner = self.sandbox.inner_home(home)
            env = dict(self.env) if self.env is not None else child_environment()
            env["HOME"] = inner
            if not self.sandbox.isolated:
                # No private /tmp: temporary files go to the interpreter's own directory.
                env["TMPDIR"] = inner
            process = await ScriptProcess.spawn(
                self.sandbox.command(home, self._child_args),
                env=env,
                cwd=home,
                home=home,
                inner_home=inner,
                popen_options=self.sandbox.popen_options(),
            )
        except BaseException:
            shutil.rmtree(home, ignore_errors=True)
            raise
        process.on_closed = lambda: shutil.rmtree(home, ignore_errors=True)
        process.wrapped = self.sandbox.isolated
        self.spawned += 1
        self._all.add(process)
        return process

    async def acquire(self) -> ScriptProcess:
        """An idle process, else the next one released (or started) for this caller, in arrival order."""
        if self._closing:
            raise RuntimeError("The script process pool is closed")
        process = self._take_idle()
        if process is not None:
            return process
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future())
        if self.spawn_grace > 0:
            waiter.due = loop.time() + self.spawn_grace
            if self._grace_timer is None:
                self._arm_grace(loop, waiter.due)
        else:
            waiter.urgent = True
        self._waiters.append(waiter)
        # A waiter in its grace changes what _balance wants only when nothing is busy (nothing will come back) or the
        # warm processes are not all there; otherwise the pool is balanced already (every other change rebalances).
        if waiter.urgent or len(self._all) == len(self._idle) or len(self._all) + self._spawning < self.warm:
            self._balance()
        try:
            return await waiter.future
        except asyncio.CancelledError:
            # Cancelled after a process was handed over but before this task resumed: give it back, or it is lost.
            future = waiter.future
            if future.done() and not future.cancelled() and future.exception() is None:
                self._offer(future.result())
            raise
        finally:
            # A waiter that got a process or an error was taken off the queue already (_offer, a failed start, close).
            if waiter.future.cancelled() or not waiter.future.done():
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    def release(self, process: ScriptProcess, *, reusable: bool) -> None:
        if (
            reusable
            and not self._closing
            and process.alive
            and process.runs < self.max_runs
            and process in self._all
        ):
            self._offer(process)
            return
        self._forget(process)
        self._in_background(self._stopping_now(process.close()))
        self._balance()

    async def discard(self, process: ScriptProcess, *, grace: float = 5.0) -> None:
        """Stops a running process for good (timeout, cancel, shutdown)."""
        self._forget(process)
        stopped = self._stopping_now(process.terminate(grace=grace))
        self._balance()
        await stopped

    def _stopping_now(self, stopping: Awaitable[None]) -> Awaitable[None]:
        """Counts a process as stopping from now until ``stopping`` is done (counted at once, not when the coroutine
        first runs, so that no start in between can take the pool over its cap)."""
        self._stopping += 1

        async def stop() -> None:
            try:
                await stopping
            finally:
                self._stopping -= 1
                self._balance()

        return stop()

    def _take_idle(self) -> ScriptProcess | None:
        while self._idle:
            # The most recently used process: its memory is the likeliest to be in cache.
            process = self._idle.pop()
            if process.alive:
                return process
            self._forget(process)
            # Exited on its own: whatever it started may still run in its process group.
            self._in_background(self._stopping_now(process.terminate(grace=1.0)))
        return None

    def _offer(self, process: ScriptProcess) -> None:
        """Hands a free process to the oldest waiter, else makes it idle."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if waiter.future.done():  # cancelled, and not yet removed by its own task
                continue
            waiter.future.set_result(process)
            return
        self._idle.append(process)

    def _arm_grace(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        self._grace_timer = loop.call_at(due, self._grace_over)

    def _grace_over(self) -> None:
        """The oldest waiters' grace is over: they may have processes started for them (_balance)."""
        self._grace_timer = None
        loop = asyncio.get_running_loop()
        # The loop may run a timer up to its clock resolution early.
        now = loop.time() + 0.001
        next_due: float | None = None
        for waiter in self._waiters:
            if waiter.urgent or waiter.future.done():
                continue
            if waiter.due > now:
                next_due = waiter.due
                break
            waiter.urgent = True
        self._balance()
        if next_due is not None and self._grace_timer is None:
            self._arm_grace(loop, next_due)

    def _forget(self, process: ScriptProcess) -> None:
        self._all.discard(process)
        if process in self._idle:
            self._idle.remove(process)

    def _balance(self) -> None:
        """Starts the processes that are wanted and fit under the cap: a replacement for each warm one that is gone,
        and one for each waiter past its grace (every start, whatever its reason, goes to the oldest waiter)."""
        if self._closing:
            return
        waiting = urgent = 0
        for w in self._waiters:
            if not w.future.done():
                waiting += 1
                urgent += w.urgent
        # Idle processes never coexist with waiters (_offer), except a dead one found by _take_idle: none to hand.
        wanted = urgent
        if waiting and len(self._all) == len(self._idle):
            # Nothing busy, so nothing will come back: waiting out the grace would only add latency.
            wanted = max(wanted, 1)
        if not self._spawn_failed:
            wanted = max(wanted, self.warm - len(self._all))
        room = self.max_processes - len(self._all) - self._spawning - self._stopping
        for _ in range(min(wanted - self._spawning, room)):
            self._spawning += 1
            self._in_background(self._spawn_for_pool())

    async def _spawn_for_pool(self) -> None:
        try:
            process = await self._spawn()
        except BaseException as exc:
            self._spawning -= 1
            if not isinstance(exc, Exception):
                raise
            self._spawn_failed = True
            waiter = next((w for w in self._waiters if not w.future.done()), None)
            if waiter is not None and (waiter.urgent or len(self._all) == len(self._idle)):
                # The run this start was for fails with its reason (as when acquire() started processes itself). A
                # waiter still in its grace, behind busy processes, keeps waiting for one of them instead.
                self._waiters.remove(waiter)
                waiter.future.set_exception(exc)
            else:
                log.warning("Could not start a script process: %s", exc)
            self._balance()
            return
        self._spawning -= 1
        self._spawn_failed = False
        if self._closing:
            self._forget(process)
            await process.close()
            return
        self._offer(process)
        self._balance()

    def _in_background(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        self._closing = True
        if self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(RuntimeError("The script process pool is closed"))
        self._waiters.clear()
        processes = list(self._all)
        self._idle.clear()
        self._all.clear()
        await asyncio.gather(*(p.close() for p in processes), return_exceptions=True)
        await asyncio.gather(*list(self._background), return_exceptions=True)
