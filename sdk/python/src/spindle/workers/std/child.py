"""A warm script process of the py-std worker (worker-protocol.md §9).

The worker starts this module with ``python -m spindle.workers.std.child`` and talks to it over the inherited
stdin/stdout pipes; the script's own stdout and stderr both go to the worker's log pipe, each line prefixed with
the activity id. One process runs one script at a time, each with fresh globals; the worker discards a process
after a timeout or crash, or when a script left threads behind.

Only the standard library and :mod:`spindle.jsonconv` are imported here, so that start-up stays fast.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import io
import linecache
import logging
import os
import queue
import shutil
import signal
import stat
import sys
import tempfile
import threading
import traceback
from collections.abc import Awaitable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TextIO, cast

from spindle.jsonconv import NotSerializableError, to_json_value
from spindle.workers.std import _wire

if TYPE_CHECKING:
    import asyncio

# asyncio is imported only when a script awaits something (or calls ctx): importing it costs more CPU than starting
# the interpreter, and a process is started again every max_runs scripts.

SCRIPT_FILENAME = "<script>"
MAX_MESSAGE_CHARS = 32 * 1024
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_CO_COROUTINE = inspect.CO_COROUTINE
_COMPILE_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


class _Channel:
    """The protocol pipes: messages out (any thread) and messages in.

    Between runs the main thread reads the next run itself. A reader thread, which also takes the replies to ``ctx``
    calls, starts with the first call and from then on reads everything, handing runs over through a queue."""

    def __init__(self, in_fd: int, out_fd: int) -> None:
        self._in_fd = in_fd
        self._pending = bytearray()
        self._out_fd = out_fd
        self._write_lock = threading.Lock()
        self.runs: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._calls: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = {}
        self._calls_lock = threading.Lock()
        self._next_call = 0
        self._reader_thread: threading.Thread | None = None
        #: True while the main thread waits for a run on the pipe itself (no script runs then).
        self._direct = False

    def send(self, message: dict[str, Any]) -> None:
        data = _wire.encode(message)
        with self._write_lock:
            view = memoryview(data)
            while view:
                written = os.write(self._out_fd, view)
                view = view[written:]

    def _read_message(self) -> dict[str, Any] | None:
        """The next message, or None at EOF; one thread at a time."""
        pending = self._pending
        size = _wire.HEADER.size
        while True:
            if len(pending) >= size:
                end = size + _wire.HEADER.unpack_from(pending)[0]
                if len(pending) >= end:
                    payload = bytes(pending[size:end])
                    del pending[:end]
                    return _wire.decode(payload)
            chunk = os.read(self._in_fd, 1 << 16)
            if not chunk:
                return None
            pending += chunk

    def next_run(self) -> dict[str, Any] | None:
        """The next message for the main thread (None once the worker closed the pipe)."""
        with self._calls_lock:
            self._direct = self._reader_thread is None
        if not self._direct:
            return self.runs.get()
        try:
            while True:
                message = self._read_message()
                if message is None or message.get("type") != "reply":
                    return message
                self._resolve(message)
        except Exception:  # noqa: BLE001 - a broken pipe or message ends the process, as EOF does
            traceback.print_exc()
            return None
        finally:
            with self._calls_lock:
                self._direct = False

    @property
    def threads(self) -> int:
        """The threads of the channel itself: 0 or 1 (the reader)."""
        return 0 if self._reader_thread is None else 1

    def _start_reader(self) -> None:
        # Called with _calls_lock held, during a run: the main thread is not reading.
        if self._reader_thread is None:
            self._reader_thread = threading.Thread(target=self.reader, name="spindle-channel", daemon=True)
            self._reader_thread.start()

    def reader(self) -> None:
        try:
            while True:
                message = self._read_message()
                if message is None:
                    break
                if message.get("type") == "reply":
                    self._resolve(message)
                else:
                    self.runs.put(message)
        finally:
            self.runs.put(None)  # the worker closed the pipe: finish the current run, then exit

    def _resolve(self, message: dict[str, Any]) -> None:
        with self._calls_lock:
            entry = self._calls.pop(int(message.get("call_id", -1)), None)
        if entry is None:
            return
        loop, future = entry

        def settle() -> None:
            if future.done():
                return
            if message.get("ok"):
                future.set_result(message.get("value"))
            else:
                future.set_exception(RuntimeError(str(message.get("error") or "ctx call failed")))

        try:
            loop.call_soon_threadsafe(settle)
        except RuntimeError:
            pass  # the script's loop is gone; nobody waits for this reply any more

    async def call(self, method: str, args: dict[str, Any]) -> Any:
        import asyncio

        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._calls_lock:
            if self._direct:
                raise RuntimeError("no script is running")
            self._start_reader()
            self._next_call += 1
            call_id = self._next_call
            self._calls[call_id] = (loop, future)
        self.send({"type": "call", "call_id": call_id, "method": method, "args": args})
        try:
            return await future
        finally:
            with self._calls_lock:
                self._calls.pop(call_id, None)


class _PrefixedStream(io.TextIOBase):
    """Writes whole lines to a file descriptor, each prefixed with the running activity's id."""

    def __init__(self, fd: int, state: _State) -> None:
        self._fd = fd
        self._state = state
        self._buffer = ""
        self._lock = threading.Lock()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "replace"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self._lock:
            self._buffer += text
            if "\n" in self._buffer:
                *lines, self._buffer = self._buffer.split("\n")
                self._emit(lines)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._buffer:
                lines, self._buffer = [self._buffer], ""
                self._emit(lines)

    def _emit(self, lines: list[str]) -> None:
        prefix = f"[{self._state.activity_id}] " if self._state.activity_id else ""
        data = "".join(f"{prefix}{line}\n" for line in lines).encode("utf-8", errors="replace")
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            pass  # the log pipe is gone; the run itself must not fail because of that


class _State:
    activity_id: str | None = None


class ScriptContext:
    """``ctx`` inside a script (worker-protocol.md §9.1). The awaitables are relayed through the worker, which
    holds the credentials."""

    def __init__(self, channel: _Channel, message: dict[str, Any], logger: logging.Logger) -> None:
        self._channel = channel
        self.workflow_id: str = message.get("workflow_id", "")
        self.activity_id: str = message.get("activity_id", "")
        self.activity_key: str = message.get("activity_key", "")
        self.attempt: int = int(message.get("attempt") or 1)
        self.iteration: int = int(message.get("iteration") or 0)
        self.signal: Any = message.get("signal")
        self.logger = logger

    def __repr__(self) -> str:
        return f"<ctx {self.activity_key} of workflow {self.workflow_id} (attempt {self.attempt})>"

    async def heartbeat(self) -> bool:
        """Sends a heartbeat now; True when the workflow asked to stop (the worker then ends this process)."""
        return bool(await self._channel.call("heartbeat", {}))

    async def download_file(self, ref: str) -> str:
        """Downloads a stored file into the working directory; returns its local path."""
        dest = os.path.abspath(os.path.basename(ref.rstrip("/")) or "download")
        return str(await self._channel.call("download_file", {"ref": ref, "dest": dest}))

    async def upload_file(self, local_path: str, filename: str | None = None) -> str:
        """Uploads a local file as an output file of this activity; returns its reference."""
        path = os.path.abspath(local_path)
        return str(await self._channel.call("upload_file", {"path": path, "filename": filename or os.path.basename(path)}))


class _LoopRunner:
    """One event loop per run, created only when the script awaits something."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    def run(self, awaitable: Awaitable[Any]) -> Any:
        import asyncio

        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
        return self.loop.run_until_complete(_as_coroutine(awaitable))

    def close(self) -> None:
        loop = self.loop
        if loop is None:
            return
        import asyncio

        self.loop = None
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _clip(text: str) -> str:
    if len(text) <= MAX_MESSAGE_CHARS and len(text.encode("utf-8", errors="replace")) <= MAX_MESSAGE_CHARS:
        return text
    data = text.encode("utf-8", errors="replace")[-(MAX_MESSAGE_CHARS - 3) :]
    return "…" + data.decode("utf-8", errors="ignore")


def _is_internal(filename: str) -> bool:
    return filename != SCRIPT_FILENAME and os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep)


def _filter(te: traceback.TracebackException, seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    frames = list(te.stack)
    first = next((i for i, f in enumerate(frames) if f.filename == SCRIPT_FILENAME), None)
    if first is not None:
        # Everything above the script's first frame is the worker's machinery (eval, the event loop).
        frames = frames[first:]
    te.stack = traceback.StackSummary.from_list([f for f in frames if not _is_internal(f.filename)])
    for linked in (te.__cause__, te.__context__):
        if linked is not None:
            _filter(linked, seen)


def format_script_error(exc: BaseException) -> str:
    """``<Type>: <message>``, a blank line, then the traceback without worker frames, cut to its last 32 KiB."""
    text = str(exc)
    head = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    _filter(te, set())
    return _clip(f"{head}\n\n{''.join(te.format())}".rstrip("\n"))


def _takes_no_parameters(fn: Any) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return not any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters
    )


def _cost(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise ValueError(f"COST_USD must be a non-negative number or decimal string, got {type(value).__name__}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"COST_USD must be a non-negative number or decimal string, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"COST_USD must be a non-negative number or decimal string, got {value!r}")
    return format(amount, "f")


class ScriptRunner:
    def __init__(self, channel: _Channel, state: _State, neutral_dir: str) -> None:
        self.channel = channel
        self.state = state
        self.neutral_dir = neutral_dir
        self._compiled: dict[str, Any] = {}
        self._baseline_threads = threading.active_count()
        #: An empty run directory left by the previous run, handed to the next one instead of a new one: creating
        #: and removing a directory costs more CPU than a trivial script.
        self._spare_dir: str | None = None

    def compile(self, script: str) -> Any:
        code = self._compiled.get(script)
        if code is None:
            code = compile(script, SCRIPT_FILENAME, "exec", flags=_COMPILE_FLAGS, dont_inherit=True)
            if len(self._compiled) >= 256:
                self._compiled.clear()
            self._compiled[script] = code
        return code

    def execute(self, message: dict[str, Any]) -> dict[str, Any]:
        script = message.get("script", "")
        linecache.cache[SCRIPT_FILENAME] = (len(script), None, script.splitlines(True), SCRIPT_FILENAME)
        try:
            code = self.compile(script)
        except SyntaxError as exc:
            return _error("SYNTAX_ERROR", f"SyntaxError at line {exc.lineno or 1}: {exc.msg}")
        except (ValueError, TypeError) as exc:
            return _error("SYNTAX_ERROR", f"SyntaxError at line 1: {exc}")

        inputs = message.get("inputs")
        if not isinstance(inputs, dict):
            inputs = {}
        key = message.get("activity_key", "")
        logger = logging.getLogger(f"spindle.activity.{key}")
        ctx = ScriptContext(self.channel, message, logger)
        preset: dict[str, Any] = {}
        scope: dict[str, Any] = {
            "__name__": "__spindle_script__",
            "__builtins__": builtins,
            "INPUT": inputs,
            "OUTPUT": preset,
            "SIGNAL": message.get("signal"),
            "ctx": ctx,
            "logger": logger,
            "workflow_id": ctx.workflow_id,
            "activity_key": key,
        }
        runner = _LoopRunner()
        try:
            try:
                result = eval(code, scope)  # noqa: S307 - running user code is this activity's purpose
                if code.co_flags & _CO_COROUTINE:
                    runner.run(result)
                main = scope.get("main")
                if callable(main) and scope.get("OUTPUT") is preset and not preset:
                    value = main() if _takes_no_parameters(main) else main(scope.get("INPUT", inputs))
                    if inspect.isawaitable(value):
                        value = runner.run(value)
                    scope["OUTPUT"] = value
            finally:
                runner.close()
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt fail the script too (§9.3)
            return _error("SCRIPT_ERROR", format_script_error(exc))

        try:
            output = to_json_value(scope.get("OUTPUT"), "OUTPUT")
        except NotSerializableError as exc:
            return _error("OUTPUT_ERROR", f"OUTPUT_NOT_SERIALIZABLE: {exc}")
        except RecursionError:
            return _error("OUTPUT_ERROR", "OUTPUT_NOT_SERIALIZABLE: OUTPUT is nested too deeply (or contains itself)")
        try:
            cost = _cost(scope.get("COST_USD"))
        except ValueError as exc:
            return _error("OUTPUT_ERROR", str(exc))
        return {"type": "result", "ok": True, "output": output, "cost_usd": cost}

    def run(self, message: dict[str, Any]) -> None:
        saved_environ = _environ_snapshot()
        saved_path = list(sys.path)
        saved_streams = (sys.stdout, sys.stderr)
        self.state.activity_id = message.get("activity_id") or None
        workdir = message.get("cwd")
        # Without a directory from the worker, the run gets its own here: the previous run's if that one left it
        # empty, else a new one (the old one is deleted after the reply is sent, off the worker's loop).
        own_dir = None
        if not workdir:
            own_dir, self._spare_dir = self._spare_dir, None
            if own_dir is None:
                own_dir = tempfile.mkdtemp(prefix="run-", dir=self.neutral_dir)
        try:
            os.chdir(str(workdir or own_dir))
            reply = self.execute(message)
        finally:
            for stream in (sys.stdout, sys.stderr, *saved_streams):
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001 - a script's replacement stream may be broken
                    pass
            sys.stdout, sys.stderr = saved_streams
            self.state.activity_id = None
            os.chdir(self.neutral_dir)
            # One script must not see what another left behind (§9.3): environment and import path are restored.
            if os.environ is not _ENVIRON:
                os.environ = _ENVIRON
            if _environ_snapshot() != saved_environ:
                os.environ.clear()
                os.environ.update(_environ_decode(saved_environ))
            sys.path[:] = saved_path
            linecache.cache.pop(SCRIPT_FILENAME, None)
        # A script that left threads running could touch the next script's state: ask to be replaced.
        reply["retire"] = threading.active_count() > self._baseline_threads + self.channel.threads
        reply["run_id"] = message.get("run_id")
        try:
            self.channel.send(reply)
        except ValueError as exc:
            self.channel.send(
                {**_error("OUTPUT_ERROR", f"OUTPUT_NOT_SERIALIZABLE: {exc}"), "run_id": message.get("run_id"), "retire": reply["retire"]}
            )
        finally:
            if own_dir is not None:
                if _is_pristine(own_dir):
                    self._spare_dir = own_dir
                else:
                    shutil.rmtree(own_dir, ignore_errors=True)


def _is_pristine(path: str) -> bool:
    """Whether a run directory is as mkdtemp made it: still a directory of ours, mode 0700, and empty."""
    try:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o700 or st.st_uid != os.geteuid():
            return False
        with os.scandir(path) as entries:
            return next(entries, None) is None
    except OSError:
        return False


#: ``os.environ`` keeps the environment as a dict of bytes; copying and comparing that is a hundred times cheaper
#: than ``dict(os.environ)``, which decodes every name and value.
_ENVIRON = os.environ
_ENVIRON_DATA: dict[Any, Any] | None = getattr(_ENVIRON, "_data", None)
if not isinstance(_ENVIRON_DATA, dict):
    _ENVIRON_DATA = None


def _environ_snapshot() -> dict[Any, Any]:
    return dict(_ENVIRON_DATA) if _ENVIRON_DATA is not None else dict(os.environ)


def _environ_decode(snapshot: dict[Any, Any]) -> dict[str, str]:
    if _ENVIRON_DATA is None:
        return snapshot
    key, value = os.environ.decodekey, os.environ.decodevalue
    return {key(k): value(v) for k, v in snapshot.items()}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "result", "ok": False, "code": code, "message": _clip(message)}


def _die_with_parent() -> None:
    # Linux: if the worker dies without closing us, the kernel kills this process instead of leaving an orphan.
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:
            os._exit(0)
    except Exception:  # noqa: BLE001 - not Linux: EOF on stdin still ends the process
        pass


def _preload() -> None:
    for name in filter(None, (os.environ.get("SPINDLE_PY_STD_PRELOAD") or "").replace(",", " ").split()):
        try:
            __import__(name)
        except Exception as exc:  # noqa: BLE001 - a missing optional package must not stop the worker
            print(f"py-std: could not preload {name}: {exc}", file=sys.stderr)


def main() -> None:
    _die_with_parent()
    # Keep the protocol pipes to ourselves; fd 0 becomes /dev/null and fd 1 joins fd 2 (the worker's log pipe).
    in_fd = os.dup(0)
    out_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    state = _State()
    sys.stdout = cast(TextIO, _PrefixedStream(1, state))
    sys.stderr = cast(TextIO, _PrefixedStream(2, state))
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", force=True)
    neutral_dir = os.getcwd()
    channel = _Channel(in_fd, out_fd)
    _preload()
    runner = ScriptRunner(channel, state, neutral_dir)
    channel.send({"type": "ready", "pid": os.getpid()})
    while True:
        message = channel.next_run()
        if message is None:
            break
        if message.get("type") == "run":
            runner.run(message)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
