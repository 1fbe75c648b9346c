"""One warm script interpreter, as the worker sees it: its pipes, its runs and how it is stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from . import _reaper, _wire

__all__ = ["ScriptProcess", "ProcessDied", "describe_exit", "LOG_TAIL_BYTES"]

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
    """One interpreter running :mod:`spindle.py_std.child`."""

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
        stdin = self.proc.stdin
        try:
            stdin.write(_wire.encode(message))
            # A run fits in the pipe's buffer nearly always: then there is nothing to wait for.
            if stdin.transport.get_write_buffer_size():
                await stdin.drain()
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
        """SIGTERM, then SIGKILL after ``grace`` seconds, to the process and everything it started."""
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
