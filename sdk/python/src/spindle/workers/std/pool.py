"""A pool of warm script processes (worker-protocol.md §9.3, process reuse)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import itertools
import json
import shutil
import signal
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import _reaper, _wire
from .sandbox import Sandbox, child_environment

__all__ = ["ProcessPool", "ScriptProcess", "ProcessDied", "child_environment", "describe_exit"]

log = logging.getLogger("spindle.py_std")
script_log = logging.getLogger("spindle.script")

CallHandler = Callable[[str, dict[str, Any]], Awaitable[Any]]

#: What the interpreter itself writes to its stderr (C extensions, subprocesses, a crash) is kept up to this many
#: bytes (its end) per run; never more goes to the worker's log.
LOG_TAIL_BYTES = 64 * 1024


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "an unknown status"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown"
        return f"signal {-returncode} ({name})"
    return f"exit status {returncode}"


class _GaveUp(Exception):
    """The process exited during a run and no result came within the grace period."""


class ProcessDied(Exception):
    """The script process ended while running a script (a signal, the OOM killer, ``os._exit``)."""

    def __init__(self, pid: int, returncode: int | None) -> None:
        super().__init__(f"Script process {pid} died with {describe_exit(returncode)}")
        self.pid = pid
        self.returncode = returncode


class _FrameProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """The subprocess protocol of a script process: stdout carries length-prefixed messages, which are cut out of
    the pipe's data as it arrives and handed to ``on_frame`` directly, without a reader task and stream in between.
    stderr (the log pipe) and stdin stay streams."""

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        self.stdout_closed: asyncio.Future[None] = loop.create_future()
        self._frames = bytearray()
        self._on_frame: Callable[[bytes], bool] | None = None

    def attach(self, on_frame: Callable[[bytes], bool]) -> None:
        """Starts delivering frames (those that arrived before are delivered now). ``on_frame`` returns False to
        stop reading: the pipe is then treated as closed."""
        self._on_frame = on_frame
        self._deliver()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        if fd != 1:
            super().pipe_data_received(fd, data)
            return
        if self.stdout_closed.done():
            return
        self._frames += data.encode() if isinstance(data, str) else data
        self._deliver()

    def _deliver(self) -> None:
        frames = self._frames
        size = _wire.HEADER.size
        while self._on_frame is not None and len(frames) >= size and not self.stdout_closed.done():
            end = size + _wire.HEADER.unpack_from(frames)[0]
            if len(frames) < end:
                return
            payload = bytes(frames[size:end])
            del frames[:end]
            if not self._on_frame(payload):
                self._close_stdout()

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._close_stdout()
        super().pipe_connection_lost(fd, exc)

    def _close_stdout(self) -> None:
        if not self.stdout_closed.done():
            self.stdout_closed.set_result(None)
        self._frames.clear()


class ScriptProcess:
    """One interpreter running :mod:`spindle.workers.std.child`."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        protocol: _FrameProtocol | None = None,
        *,
        home: str | None = None,
        inner_home: str | None = None,
    ) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.runs = 0
        #: The interpreter's private directory on the worker's side, and where the interpreter sees it.
        self.home = home
        self.inner_home = inner_home or home
        #: The end of what the interpreter wrote to its stderr since the current run started.
        self.log_tail = bytearray()
        #: Called once the process is gone (the pool removes its home directory).
        self.on_closed: Callable[[], None] | None = None
        #: Started by bwrap, which exits with 128 + n when the interpreter was killed by signal n.
        self.wrapped = False
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._current: asyncio.Future[dict[str, Any]] | None = None
        #: Armed when the process exited during a run: how long a result still in the pipe is waited for.
        self._give_up: asyncio.TimerHandle | None = None
        self._call_handler: CallHandler | None = None
        self._eof = False
        self._tasks: set[asyncio.Task[Any]] = set()
        # Exit is watched on its own (a pidfd on Linux): a process the script forked may keep the pipes open
        # after this one died, so EOF alone could come much later.
        loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[None] = loop.create_future()
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(proc.pid)
            loop.add_reader(self._pidfd, self._on_exit)
        except (AttributeError, OSError):
            self._pidfd = None
        self._reader = asyncio.ensure_future(self._read_messages(protocol))
        if protocol is not None:
            protocol.attach(self._on_frame)
        self._logger = asyncio.ensure_future(self._read_log())

    def to_inner(self, path: str) -> str:
        """A path under the home directory as the interpreter sees it."""
        if self.home and self.inner_home and self.home != self.inner_home:
            relative = os.path.relpath(path, self.home)
            if relative != os.curdir and not relative.startswith(os.pardir):
                return os.path.join(self.inner_home, relative)
            if relative == os.curdir:
                return self.inner_home
        return path

    def to_host(self, path: str) -> str:
        """A path the interpreter named, on the worker's side; ValueError unless it is inside the home directory
        (a script must not make the worker read or write anything else on its behalf)."""
        inner = self.inner_home or ""
        home = self.home or ""
        if not inner or not home:
            raise ValueError("this script process has no home directory")
        relative = os.path.relpath(os.path.normpath(os.path.join(inner, path)), inner)
        if relative == os.curdir or relative.startswith(os.pardir) or os.path.isabs(relative):
            raise ValueError(f"{path!r} is outside the script's directory")
        host = os.path.join(home, relative)
        real = os.path.realpath(host)
        if not real.startswith(os.path.realpath(home) + os.sep):
            raise ValueError(f"{path!r} is outside the script's directory")
        return real

    @classmethod
    async def spawn(
        cls,
        command: Sequence[str],
        *,
        env: dict[str, str],
        cwd: str,
        start_timeout: float = 60.0,
        home: str | None = None,
        inner_home: str | None = None,
        popen_options: dict[str, Any] | None = None,
    ) -> ScriptProcess:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.subprocess_exec(
            lambda: _FrameProtocol(limit=2**16, loop=loop),
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=cwd,
            # Its own process group: Ctrl+C in a terminal reaches the worker (which drains), not the scripts, and
            # a timeout can stop whatever the script itself started.
            start_new_session=True,
            **(popen_options or {}),
        )
        process = cls(asyncio.subprocess.Process(transport, protocol, loop), protocol, home=home, inner_home=inner_home)
        try:
            await asyncio.wait_for(asyncio.shield(process._ready), start_timeout)
        except BaseException:
            await process.terminate(grace=1.0)
            raise
        return process

    def _on_exit(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if not self._exited.done():
            self._exited.set_result(None)
        self._arm_give_up()

    def _arm_give_up(self) -> None:
        # Exited during a run: a result written just before the exit may still be in the pipe, so it gets 0.5 s
        # (EOF on the pipe ends the wait earlier, with ProcessDied).
        current = self._current
        if current is not None and not current.done() and self._give_up is None:
            self._give_up = asyncio.get_running_loop().call_later(0.5, self._stop_waiting, current)

    def _stop_waiting(self, current: asyncio.Future[dict[str, Any]]) -> None:
        if not current.done():
            current.set_exception(_GaveUp())

    @property
    def exit_status(self) -> int | None:
        """The interpreter's exit status (negative: killed by that signal), also through bwrap."""
        code = self.proc.returncode
        if self.wrapped and code is not None and 128 < code < 128 + 65:
            return -(code - 128)
        return code

    @property
    def alive(self) -> bool:
        return not self._eof and self.proc.returncode is None

    async def run(self, message: dict[str, Any], call_handler: CallHandler) -> dict[str, Any]:
        """Sends one run and waits for its result; raises :class:`ProcessDied` if the process ends first."""
        if not self.alive:
            raise ProcessDied(self.pid, self.exit_status)
        loop = asyncio.get_running_loop()
        self._current = loop.create_future()
        self._call_handler = call_handler
        self.runs += 1
        self.log_tail.clear()
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(_wire.encode(message))
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            await self._wait_exit()
            raise ProcessDied(self.pid, self.exit_status) from None
        current = self._current
        if self._exited.done():
            self._arm_give_up()
        try:
            return await current
        except _GaveUp:
            self._eof = True
            await self._wait_returncode()
            raise ProcessDied(self.pid, self.exit_status) from None
        finally:
            if self._give_up is not None:
                self._give_up.cancel()
                self._give_up = None
            self._current = None
            self._call_handler = None

    def _on_frame(self, payload: bytes) -> bool:
        """One message from the script process; False if it is unreadable (the pipe then counts as closed)."""
        try:
            message = _wire.decode(payload)
        except Exception:
            log.exception("Script process %d sent an unreadable message", self.pid)
            return False
        kind = message.get("type")
        if kind == "result":
            if self._current is not None and not self._current.done():
                self._current.set_result(message)
        elif kind == "call":
            task = asyncio.ensure_future(self._serve_call(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif kind == "ready":
            if not self._ready.done():
                self._ready.set_result(None)
        return True

    async def _read_messages(self, protocol: _FrameProtocol | None) -> None:
        """Waits for the end of the message pipe (the protocol delivers the messages), then fails what waits."""
        try:
            if protocol is not None:
                await protocol.stdout_closed
            else:
                await self._read_stream()
        finally:
            self._eof = True
            await self._wait_exit()
            self._on_exit()
            died = ProcessDied(self.pid, self.exit_status)
            if not self._ready.done():
                self._ready.set_exception(died)
            if self._current is not None and not self._current.done():
                self._current.set_exception(died)

    async def _read_stream(self) -> None:
        # A process not started by spawn(): its stdout is a plain stream.
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        try:
            while True:
                header = await stdout.readexactly(_wire.HEADER.size)
                if not self._on_frame(await stdout.readexactly(_wire.HEADER.unpack(header)[0])):
                    return
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass

    async def _serve_call(self, message: dict[str, Any]) -> None:
        call_id = message.get("call_id")
        handler = self._call_handler
        try:
            if handler is None:
                raise RuntimeError("no script is running")
            value = await handler(str(message.get("method")), dict(message.get("args") or {}))
            reply = {"type": "reply", "call_id": call_id, "ok": True, "value": value}
        except Exception as exc:  # noqa: BLE001 - the script sees the failure as an exception from its await
            reply = {"type": "reply", "call_id": call_id, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        if self.alive and self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.proc.stdin.write(_wire.encode(reply))
                await self.proc.stdin.drain()

    async def _read_log(self) -> None:
        """Keeps the end of the interpreter's stderr (bounded), for the error of a run that fails; between runs
        (start-up messages, a crash) it is logged at DEBUG, at most LOG_TAIL_BYTES at a time."""
        assert self.proc.stderr is not None
        stream = self.proc.stderr
        tail = self.log_tail
        try:
            while True:
                chunk = await stream.read(65536)
                if not chunk:
                    break
                tail += chunk
                if len(tail) > LOG_TAIL_BYTES:
                    del tail[: len(tail) - LOG_TAIL_BYTES]
                if self._current is None and script_log.isEnabledFor(logging.DEBUG):
                    script_log.debug("script[%d] %s", self.pid, chunk[-LOG_TAIL_BYTES:].decode("utf-8", errors="replace").rstrip())
        except (ConnectionResetError, OSError):
            pass

    async def _wait_returncode(self, timeout: float = 2.0) -> None:
        # The exit status arrives through asyncio's child watcher, a moment after the pidfd turned readable.
        deadline = time.monotonic() + timeout
        while self.proc.returncode is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def _wait_exit(self, timeout: float = 5.0) -> None:
        if self._pidfd is not None or self._exited.done():
            await asyncio.wait({self._exited}, timeout=timeout)
            await self._wait_returncode()
        else:
            # No pidfd: asyncio's own wait, which also waits for the pipes to close.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.proc.wait(), timeout)

    def _signal_group(self, sig: int) -> None:
        if sig == signal.SIGKILL:
            # Everything below the interpreter first, also what left its process group (setsid): the interpreter is
            # a child subreaper, so while it lives every orphan of the script is below it.
            _reaper.kill_descendants(self.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)

    async def terminate(self, *, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds, to the process and everything it started (§9.3)."""
        if self.proc.returncode is None:
            # What the script started is not asked: it goes at once (it may have left the process group).
            _reaper.kill_descendants(self.pid)
            self._signal_group(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(self._exited), grace)
            except asyncio.TimeoutError:
                self._signal_group(signal.SIGKILL)
                await asyncio.wait({self._exited}, timeout=5.0)
            # Whatever the script forked is part of the script: it goes too.
            self._signal_group(signal.SIGKILL)
        else:
            # The interpreter is gone, but children the script started may still run in its group.
            self._signal_group(signal.SIGKILL)
        self._eof = True
        # Readers end at EOF, which a forked grandchild holding the pipes could delay: do not wait for them long.
        await asyncio.wait({self._reader, self._logger, self._exited}, timeout=2.0)
        closed, self.on_closed = self.on_closed, None
        if closed is not None:
            closed()

    async def close(self) -> None:
        """Ends an idle process: EOF on its input makes it exit; force it if it does not."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        await self._wait_exit(2.0)
        await self.terminate(grace=1.0)


@dataclass(eq=False)
class _Waiter:
    """An :meth:`ProcessPool.acquire` waiting for a process."""

    future: asyncio.Future[ScriptProcess]
    #: Waited longer than the pool's ``spawn_grace``: a new process may be started for it.
    urgent: bool = False
    timer: asyncio.TimerHandle | None = None


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
        max_runs: a process is replaced after this many scripts (default 1000), to bound leaks.
        spawn_grace: how long (seconds, default 0.02) a script waits for a busy process to come back before a new
            one is started for it. 0 starts one as soon as none is idle.
        env, cwd, python: the script processes' environment (default :func:`child_environment`), the directory
            under which each gets its private home directory (default the current one) and interpreter (default
            ``sys.executable``).
        sandbox: how the interpreters are isolated and limited (:mod:`~spindle.workers.std.sandbox`); default none
            (no namespaces, default limits).
        preload: modules each interpreter imports once at start.
    """

    def __init__(
        self,
        *,
        warm: int,
        max_processes: int,
        max_runs: int = 1000,
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
            waiter.timer = loop.call_later(self.spawn_grace, self._grace_over, waiter)
        else:
            waiter.urgent = True
        self._waiters.append(waiter)
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
            if waiter.timer is not None:
                waiter.timer.cancel()
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
            if waiter.timer is not None:
                waiter.timer.cancel()
            waiter.future.set_result(process)
            return
        self._idle.append(process)

    def _grace_over(self, waiter: _Waiter) -> None:
        waiter.urgent = True
        waiter.timer = None
        self._balance()

    def _forget(self, process: ScriptProcess) -> None:
        self._all.discard(process)
        if process in self._idle:
            self._idle.remove(process)

    def _balance(self) -> None:
        """Starts the processes that are wanted and fit under the cap: a replacement for each warm one that is gone,
        and one for each waiter past its grace (every start, whatever its reason, goes to the oldest waiter)."""
        if self._closing:
            return
        waiting = [w for w in self._waiters if not w.future.done()]
        # Idle processes never coexist with waiters (_offer), except a dead one found by _take_idle: none to hand.
        wanted = sum(1 for w in waiting if w.urgent)
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
                if waiter.timer is not None:
                    waiter.timer.cancel()
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
        for waiter in self._waiters:
            if waiter.timer is not None:
                waiter.timer.cancel()
            if not waiter.future.done():
                waiter.future.set_exception(RuntimeError("The script process pool is closed"))
        self._waiters.clear()
        processes = list(self._all)
        self._idle.clear()
        self._all.clear()
        await asyncio.gather(*(p.close() for p in processes), return_exceptions=True)
        await asyncio.gather(*list(self._background), return_exceptions=True)
