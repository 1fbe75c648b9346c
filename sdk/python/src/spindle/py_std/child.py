"""A warm script process of the py-std worker (docs/worker-protocol.md).

The worker starts this module with ``python -m spindle.py_std.child`` (inside the sandbox, see
:mod:`spindle.py_std.sandbox`) and talks to it over the inherited stdin/stdout pipes. What a script prints is
kept in a bounded buffer (its last 64 KiB) and returned with the result, never streamed into the worker's log. One
process runs one script at a time, each with fresh globals and its resource limits; after each script every
process it left behind is killed. The worker discards a process after a timeout or crash, or when a script left
threads behind.

Only the standard library and :mod:`spindle.jsonconv` are imported here, so that start-up stays fast.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import codecs
import json
import inspect
import linecache
import logging
import os
import resource
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO, cast

from spindle.jsonconv import NotSerializableError, to_json_value
from spindle.py_std import _reaper, _wire
from spindle.py_std._channel import Channel
from spindle.py_std._limits import MIB, CpuLimitExceeded, set_limits, set_soft, suppress_oserror

# The parts of a script process live in modules of their own; their names stay importable from here.
from spindle.py_std._script_context import ScriptContext, _LoopRunner, _as_coroutine  # noqa: F401
from spindle.py_std._script_errors import (  # noqa: F401
    MAX_MESSAGE_CHARS,
    SCRIPT_FILENAME,
    _clip,
    _error,
    format_script_error,
)
from spindle.py_std._script_output import CAPTURE_BYTES, _PrefixedStream, _State  # noqa: F401

# asyncio is imported only when a script awaits something (or calls ctx): importing it costs more CPU than starting
# the interpreter, and a process is started again every max_runs scripts.

_CO_COROUTINE = inspect.CO_COROUTINE
_COMPILE_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


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
    def __init__(
        self, channel: Channel, state: _State, neutral_dir: str, limits: dict[str, int] | None = None, sandboxed: bool = False
    ) -> None:
        self.channel = channel
        self.state = state
        self.neutral_dir = neutral_dir
        self.limits = limits or {}
        #: In a PID namespace of its own (bwrap): everything else in it belongs to the scripts.
        self.sandboxed = sandboxed
        #: The interpreter hit a limit (memory): its heap may be in a poor state, so it asks to be replaced.
        self._spent = False
        self._compiled: dict[str, tuple[Any, tuple[int, None, list[str], str]]] = {}
        #: Mount points below /tmp in the sandbox, and the directories leading to them (see _tidy_dir).
        self.mounts, self.mount_holders = _mounts_below("/tmp") if sandboxed else (frozenset(), frozenset())
        self._loggers: dict[str, logging.Logger] = {}
        self._baseline_threads = threading.active_count()
        #: An empty run directory left by the previous run, handed to the next one instead of a new one: creating
        #: and removing a directory costs more CPU than a trivial script.
        self._spare_dir: str | None = None

    def compile(self, script: str) -> Any:
        return self._compile(script)[0]

    def _compile(self, script: str) -> tuple[Any, tuple[int, None, list[str], str]]:
        """The script's code object and its ``linecache`` entry (for tracebacks), made once per script text: the
        text itself is the key, so a changed script is always compiled anew."""
        entry = self._compiled.get(script)
        if entry is None:
            code = compile(script, SCRIPT_FILENAME, "exec", flags=_COMPILE_FLAGS, dont_inherit=True)
            entry = (code, (len(script), None, script.splitlines(True), SCRIPT_FILENAME))
            if len(self._compiled) >= 256:
                self._compiled.clear()
            self._compiled[script] = entry
        return entry

    def _logger(self, key: str) -> logging.Logger:
        # logging.getLogger takes the logging lock at every call; a key always gives the same logger.
        logger = self._loggers.get(key)
        if logger is None:
            if len(self._loggers) >= 1024:
                self._loggers.clear()
            logger = self._loggers[key] = logging.getLogger(f"spindle.activity.{key}")
        return logger

    def execute(self, message: dict[str, Any]) -> dict[str, Any]:
        script = message.get("script", "")
        try:
            code, lines = self._compile(script)
        except SyntaxError as exc:
            linecache.cache[SCRIPT_FILENAME] = (len(script), None, script.splitlines(True), SCRIPT_FILENAME)
            return _error("SYNTAX_ERROR", f"SyntaxError at line {exc.lineno or 1}: {exc.msg}")
        except (ValueError, TypeError) as exc:
            return _error("SYNTAX_ERROR", f"SyntaxError at line 1: {exc}")
        # A copy of the cached list: a script could change linecache's entry, which the next run must not see.
        linecache.cache[SCRIPT_FILENAME] = (lines[0], None, list(lines[2]), SCRIPT_FILENAME)

        inputs = message.get("inputs")
        if not isinstance(inputs, dict):
            inputs = {}
        key = message.get("activity_key", "")
        logger = self._logger(key)
        ctx = ScriptContext(self.channel, message, logger)
        preset: dict[str, Any] = {}
        scope: dict[str, Any] = {
            "__name__": "__spindle_script__",
            "__builtins__": builtins,
            "INPUT": inputs,
            "OUTPUT": preset,
            "SIGNAL": message.get("signal"),
            "ctx": ctx,
            "STREAM": ctx.stream_now,
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
        except MemoryError as exc:
            self._spent = True
            limit = self._memory_limit_mb(message)
            return _error(
                "MEMORY_LIMIT_EXCEEDED",
                f"The script ran out of memory (limit {limit} MiB of address space; settings.memory_mb sets it per "
                f"activity, up to the worker's limit)\n\n{format_script_error(exc)}",
            )
        except CpuLimitExceeded:
            self._spent = True
            return _error("CPU_LIMIT_EXCEEDED", f"The script used more than {self.limits.get('cpu_seconds')} s of CPU time")
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt fail the script too
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

    def _memory_limit_mb(self, message: dict[str, Any]) -> int | None:
        cap = self.limits.get("memory_mb")
        wanted = message.get("memory_mb")
        if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted > 0:
            return min(wanted, cap) if cap else wanted
        return cap

    def _apply_limits(self, message: dict[str, Any]) -> None:
        memory = self._memory_limit_mb(message)
        if memory and memory != self.limits.get("memory_mb"):
            set_soft(resource.RLIMIT_AS, memory * MIB)
        cpu = self.limits.get("cpu_seconds")
        if cpu:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            set_soft(resource.RLIMIT_CPU, int(usage.ru_utime + usage.ru_stime) + cpu + 1)

    def _lift_limits(self) -> None:
        memory = self.limits.get("memory_mb")
        if memory:
            set_soft(resource.RLIMIT_AS, memory * MIB)
        if self.limits.get("cpu_seconds"):
            set_soft(resource.RLIMIT_CPU, resource.RLIM_INFINITY)

    def _reap(self) -> None:
        """Kills every process the script left behind (a fork, a ``setsid`` daemon) and reaps them."""
        if self.sandboxed:
            # Only in a PID namespace of our own: -1 is then the namespace (bwrap's init, pid 1, is spared).
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                pass
        else:
            _reaper.kill_descendants(os.getpid())
        deadline = time.monotonic() + 5.0
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.001)
                if not self.sandboxed:
                    _reaper.kill_descendants(os.getpid())

    def _tidy(self, keep: set[str]) -> None:
        """Removes what the previous script left in the home directory (and in the sandbox's own /tmp), so that one
        script never sees another's files."""
        self._tidy_dir(self.neutral_dir, keep)
        if self.sandboxed:
            self._tidy_dir("/tmp", keep)

    def _tidy_dir(self, directory: str, keep: set[str]) -> None:
        try:
            with os.scandir(directory) as entries:
                leftovers = [e for e in entries if e.path not in keep and e.path not in self.mounts]
        except OSError:
            return
        # A read-only bind of the sandbox (the SDK or Python checked out below /tmp) is skipped above: there is
        # nothing to remove in it, and trying would fail on every file in it at every run.
        for entry in leftovers:
            path = entry.path
            try:
                # From the directory listing (no stat): a symlink is not a directory here.
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                if path in self.mount_holders:
                    # A directory the sandbox made to hold a bind: what a script put next to the bind goes.
                    self._tidy_dir(path, keep)
                else:
                    shutil.rmtree(path, ignore_errors=True)
            else:
                with suppress_oserror():
                    os.unlink(path)

    def run(self, message: dict[str, Any]) -> None:
        saved_environ = _environ_snapshot()
        saved_path = list(sys.path)
        saved_streams = (sys.stdout, sys.stderr)
        self.state.activity_id = message.get("activity_id") or None
        workdir = message.get("cwd")
        self._tidy({p for p in (workdir, self._spare_dir) if p})
        self.state.capture = bytearray()
        self.state.captured_bytes = 0
        # Without a directory from the worker, the run gets its own here: the previous run's if that one left it
        # empty, else a new one (the old one is deleted after the reply is sent, off the worker's loop).
        own_dir = None
        if not workdir:
            own_dir, self._spare_dir = self._spare_dir, None
            if own_dir is None:
                own_dir = tempfile.mkdtemp(prefix="run-", dir=self.neutral_dir)
        try:
            os.chdir(str(workdir or own_dir))
            self._apply_limits(message)
            try:
                reply = self.execute(message)
            finally:
                self._lift_limits()
        finally:
            for stream in (sys.stdout, sys.stderr, *saved_streams):
                try:
                    stream.flush()
                except Exception:  # noqa: BLE001 - a script's replacement stream may be broken
                    pass
            sys.stdout, sys.stderr = saved_streams
            self.state.activity_id = None
            os.chdir(self.neutral_dir)
            # One script must not see what another left behind: environment and import path are restored.
            if os.environ is not _ENVIRON:
                os.environ = _ENVIRON
            if not _environ_unchanged(saved_environ):
                os.environ.clear()
                os.environ.update(_environ_decode(saved_environ))
            sys.path[:] = saved_path
            linecache.cache.pop(SCRIPT_FILENAME, None)
            capture, self.state.capture = self.state.capture, None
            self._reap()
        # A script that left threads running could touch the next script's state: ask to be replaced.
        reply["retire"] = self._spent or threading.active_count() > self._baseline_threads + self.channel.threads
        reply["run_id"] = message.get("run_id")
        if capture:
            reply["log"] = capture.decode("utf-8", errors="replace")
            reply["log_bytes"] = self.state.captured_bytes
        try:
            data = _wire.encode(reply)
            limit = message.get("max_output_bytes")
            if isinstance(limit, int) and len(data) > limit and reply.get("ok"):
                size = len(data)
                del data, reply["output"]
                raise _OutputTooLarge(size, limit)
        except _OutputTooLarge as exc:
            data = _wire.encode({**_error("OUTPUT_TOO_LARGE", str(exc)), "run_id": reply["run_id"], "retire": reply["retire"]})
        except ValueError as exc:
            code, text = ("OUTPUT_TOO_LARGE", str(exc)) if "exceeds" in str(exc) else ("OUTPUT_ERROR", f"OUTPUT_NOT_SERIALIZABLE: {exc}")
            data = _wire.encode({**_error(code, text), "run_id": reply["run_id"], "retire": reply["retire"]})
        try:
            self.channel.send_raw(data)
        finally:
            if own_dir is not None:
                if _is_pristine(own_dir):
                    self._spare_dir = own_dir
                else:
                    shutil.rmtree(own_dir, ignore_errors=True)


class _OutputTooLarge(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"OUTPUT is {size / MIB:.1f} MiB serialised, over the server's limit of {limit / MIB:.1f} MiB for a "
            "result; store large data in a file output or external storage and return a reference"
        )


def _mounts_below(root: str, mountinfo: str = "/proc/self/mountinfo") -> tuple[frozenset[str], frozenset[str]]:
    """The mount points below ``root`` (from ``mountinfo``) and the directories between ``root`` and them."""
    prefix = root.rstrip("/") + "/"
    mounts: set[str] = set()
    try:
        with open(mountinfo, "rb") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4:
                    # Spaces, tabs, newlines and backslashes in a path are written as octal escapes (\040).
                    point = codecs.escape_decode(fields[4])[0].decode("utf-8", "surrogateescape")
                    if point.startswith(prefix):
                        mounts.add(point.rstrip("/"))
    except OSError:
        pass
    holders: set[str] = set()
    for point in mounts:
        parent = os.path.dirname(point)
        while parent.startswith(prefix):
            holders.add(parent)
            parent = os.path.dirname(parent)
    return frozenset(mounts), frozenset(holders - mounts)


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


def _environ_unchanged(snapshot: dict[Any, Any]) -> bool:
    # Compared in place: no second copy.
    return (_ENVIRON_DATA if _ENVIRON_DATA is not None else dict(os.environ)) == snapshot


def _environ_decode(snapshot: dict[Any, Any]) -> dict[str, str]:
    if _ENVIRON_DATA is None:
        return snapshot
    key, value = os.environ.decodekey, os.environ.decodevalue
    return {key(k): value(v) for k, v in snapshot.items()}



def _die_with_parent(sandboxed: bool) -> None:
    # Linux: if the worker dies without closing us, the kernel kills this process instead of leaving an orphan.
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        # In the sandbox our parent is bwrap's init (pid 1), which dies with the worker (--die-with-parent).
        if os.getppid() == 1 and not sandboxed:
            os._exit(0)
    except Exception:  # noqa: BLE001 - not Linux: EOF on stdin still ends the process
        pass


def _preload(names: str) -> None:
    for name in filter(None, names.replace(",", " ").split()):
        try:
            __import__(name)
        except Exception as exc:  # noqa: BLE001 - a missing optional package must not stop the worker
            print(f"py-std: could not preload {name}: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="spindle.py_std.child")
    parser.add_argument("--limits", default="{}", help="JSON: memory_mb, max_processes, file_size_mb, cpu_seconds")
    parser.add_argument("--sandboxed", action="store_true", help="running in a PID namespace of its own (bwrap)")
    parser.add_argument("--dedicated-user", action="store_true", help="scripts have their user to themselves")
    parser.add_argument("--preload", default="", help="modules imported once at start")
    args = parser.parse_args(argv)
    limits = {k: int(v) for k, v in json.loads(args.limits).items() if isinstance(v, int)}
    # os.kill(-1) after each script is safe only inside a PID namespace of our own, where bwrap's init is pid 1 and
    # this interpreter pid 2 (in the host's namespace pid 2 is a kernel thread).
    sandboxed = args.sandboxed and os.getpid() == 2
    _die_with_parent(sandboxed)
    # Orphans of a script (a double fork, a setsid daemon) come back to us, where they are found and killed.
    _reaper.become_subreaper()
    set_limits(limits, dedicated_user=args.dedicated_user or sandboxed)
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
    channel = Channel(in_fd, out_fd)
    _preload(args.preload)
    runner = ScriptRunner(channel, state, neutral_dir, limits, sandboxed)
    channel.send({"type": "ready", "pid": os.getpid()})
    while True:
        message = channel.next_run()
        if message is None:
            break
        if message.get("type") == "run":
            runner.run(message)
    runner._reap()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
