"""The ``script`` activity (docs/worker-protocol.md): user Python run in a warm subprocess."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _env
from ..errors import ActivityError
from ..worker.api import DEFAULT_MAX_BODY_BYTES
from ..worker.context import ActivityContext, ActivityResult
from ..worker.handlers import ActivityHandler, format_seconds
from .pool import ProcessDied, ProcessPool, ScriptProcess
from .sandbox import Limits, Sandbox, resolve_sandbox

if TYPE_CHECKING:
    from ..worker.runner import Worker

__all__ = ["ScriptActivity"]

log = logging.getLogger("spindle.py_std")

#: How long a stopped script gets between SIGTERM and SIGKILL.
TERMINATE_GRACE_SECONDS = 5.0
#: How much of what a failed script printed is added to its error message.
ERROR_LOG_TAIL_CHARS = 4000


class ScriptActivity(ActivityHandler):
    """Runs ``parameters.script`` with ``INPUT`` = ``parameters.inputs`` and completes with ``{"result": OUTPUT}``.

    Args:
        warm_processes: interpreters started up front and kept; default ``SPINDLE_PY_STD_WARM_PROCESSES``, else
            ``min(max_concurrency, 4)``.
        max_processes: the cap on interpreters; default ``SPINDLE_PY_STD_MAX_PROCESSES``, else the worker's
            ``max_concurrency``. Beyond the warm ones, a process is started only for a script that waited
            ``spawn_grace`` for an idle one, so fast scripts share a few processes whatever the concurrency.
        spawn_grace: seconds a script waits for a busy process to come back before one is started for it
            (default 0.02).
        max_runs_per_process: a process is replaced after this many scripts (default 10000) to bound leaks; starting
            one costs as much CPU as several hundred trivial scripts.
        python: interpreter for scripts; default the worker's own (``sys.executable``).
        isolation: ``auto`` (default, ``SPINDLE_PY_STD_ISOLATION``), ``bwrap`` or ``none``; see
            :mod:`~spindle.py_std.sandbox`.
        limits: per-script resource limits; default :meth:`Limits.from_env`.
    """

    def __init__(
        self,
        *,
        warm_processes: int | None = None,
        max_processes: int | None = None,
        max_runs_per_process: int = 10_000,
        spawn_grace: float = 0.02,
        python: str | None = None,
        isolation: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        if max_processes is not None and max_processes < 1:
            raise ValueError(f"max_processes must be at least 1, got {max_processes}")
        self.warm_processes = warm_processes
        self.max_processes = max_processes
        self.spawn_grace = spawn_grace
        self.max_runs_per_process = max_runs_per_process
        self.python = python
        self.isolation = isolation
        self.limits = limits
        self.pool: ProcessPool | None = None
        self.sandbox: Sandbox | None = None
        self._scratch: str | None = None
        self._worker: Worker | None = None

    async def startup(self, worker: Worker) -> None:
        concurrency = worker.config.max_concurrency
        warm = self.warm_processes
        if warm is None:
            warm = _env.read_int("PY_STD_WARM_PROCESSES")
        if warm is None:
            warm = min(concurrency, 4)
        max_processes = self.max_processes
        if max_processes is None:
            max_processes = _env.read_int("PY_STD_MAX_PROCESSES")
            if max_processes is not None and max_processes < 1:
                raise ValueError(f"SPINDLE_PY_STD_MAX_PROCESSES must be at least 1, got {max_processes}")
        if max_processes is None:
            # As many as scripts can run at once: bounded as before for those who never set it, and since processes
            # now start only for scripts that waited, fast scripts still use about the warm ones.
            max_processes = concurrency
        self._worker = worker
        self._scratch = tempfile.mkdtemp(prefix="spindle-py-std-")
        # Interpreters running as another user (nobody) reach their own directories below, but cannot list it.
        os.chmod(self._scratch, 0o711)
        loop = asyncio.get_running_loop()
        self.sandbox = await loop.run_in_executor(
            None, lambda: resolve_sandbox(self.isolation, scratch=self._scratch or "", python=self.python, limits=self.limits)
        )
        log.info("py-std: %s", self.sandbox.describe())
        self.pool = ProcessPool(
            warm=min(warm, concurrency, max_processes),
            max_processes=max_processes,
            max_runs=self.max_runs_per_process,
            spawn_grace=self.spawn_grace,
            cwd=self._scratch,
            python=self.python,
            sandbox=self.sandbox,
            preload=_env.read("PY_STD_PRELOAD") or "",
        )
        await self.pool.start()

    async def shutdown(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def timeout_message(self, seconds: float) -> str:
        return f"Script exceeded timeout of {format_seconds(seconds)} s"

    async def run(self, ctx: ActivityContext) -> Any:
        if self.pool is None:
            raise RuntimeError("ScriptActivity.startup() was not called")
        params = ctx.parameters
        script = params.get("script")
        if not isinstance(script, str) or not script.strip():
            raise ActivityError(
                "MISSING_SCRIPT", "parameters.script must be a non-empty string of Python code", retryable=False
            )
        inputs = params.get("inputs")
        if inputs is None:
            inputs = {}
        if not isinstance(inputs, dict):
            raise ActivityError(
                "INVALID_PARAMETERS",
                f"parameters.inputs must be a JSON object, got {type(inputs).__name__}",
                retryable=False,
            )
        # A run that declares file outputs gets its directory from here (in the interpreter's home, once one is
        # acquired), so that the files can be uploaded after the script ended; other runs make (and delete) their
        # own in the script process, off this event loop.
        wants_files = any(isinstance(d, dict) and d.get("type") == "file" for d in ctx.output_definitions)
        workdir: str | None = None
        settings = ctx.settings or {}
        memory_mb = settings.get("memory_mb")
        message = {
            "type": "run",
            "run_id": ctx.activity_id,
            "script": script,
            "inputs": inputs,
            "signal": ctx.signal,
            "workflow_id": ctx.workflow_id,
            "activity_id": ctx.activity_id,
            "activity_key": ctx.activity_key,
            "attempt": ctx.attempt,
            "iteration": ctx.iteration,
            "cwd": None,
            "memory_mb": memory_mb if isinstance(memory_mb, int) and not isinstance(memory_mb, bool) else None,
            "max_output_bytes": self._max_output_bytes(),
        }
        process: ScriptProcess | None = None
        reusable = False
        try:
            process = await self.pool.acquire()
            if wants_files:
                workdir = tempfile.mkdtemp(prefix="run-", dir=process.home or self._scratch)
                if self.sandbox is not None and self.sandbox.ids is not None:
                    os.chown(workdir, *self.sandbox.ids)
                message["cwd"] = process.to_inner(workdir)
            running = process
            try:
                reply = await process.run(message, lambda method, args: self._relay(ctx, running, method, args))
            except asyncio.CancelledError:
                # Timeout, cancel request or shutdown: really stop the script, whatever it is doing.
                stopping, process = process, None
                await asyncio.shield(self.pool.discard(stopping, grace=TERMINATE_GRACE_SECONDS))
                raise
            except ProcessDied as died:
                raise ActivityError(
                    "SCRIPT_CRASHED",
                    f"{died}; the script was stopped before it finished{_tail(process.log_tail.decode('utf-8', 'replace'))}",
                    retryable=True,
                ) from None
            reusable = not reply.get("retire")
            printed = reply.pop("log", None)
            if not reply.get("ok"):
                code = str(reply.get("code") or "SCRIPT_ERROR")
                raise ActivityError(
                    code, str(reply.get("message") or "") + _tail(printed), retryable=False
                )
            if printed and log.isEnabledFor(logging.DEBUG):
                log.debug("Script %s printed %s bytes; the last: %s", ctx.activity_id, reply.get("log_bytes"), printed[-2000:])
            if workdir is not None:
                await self._upload_declared_files(ctx, workdir)
            result = ActivityResult(output={"result": reply.get("output")}, cost_usd=reply.get("cost_usd"))
            # Already converted to JSON by the script process: the runner need not walk it again.
            result._json_ready = True  # type: ignore[attr-defined]
            return result
        finally:
            if process is not None:
                self.pool.release(process, reusable=reusable)
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)

    def _max_output_bytes(self) -> int:
        limit = getattr(self._worker, "max_body_bytes", None)
        # Room for the rest of the completion body around the output.
        return (limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_BODY_BYTES) - 4096

    async def _relay(self, ctx: ActivityContext, process: ScriptProcess, method: str, args: dict[str, Any]) -> Any:
        """Executes a script's ``ctx`` call in the worker, which holds the credentials. Paths are the script's: they
        must lie in its own directory (the worker would otherwise read or write any file it can on its behalf)."""
        if method == "heartbeat":
            return await ctx.heartbeat()
        if method == "download_file":
            dest = process.to_host(str(args["dest"]))
            await ctx.download_file(str(args["ref"]), dest)
            if self.sandbox is not None and self.sandbox.ids is not None:
                os.chown(dest, *self.sandbox.ids)
            return str(args["dest"])
        if method == "upload_file":
            return await ctx.upload_file(process.to_host(str(args["path"])), str(args.get("filename") or "") or None)
        if method == "stream":
            return await ctx.stream(args.get("chunk"))
        raise ValueError(f"unknown ctx call {method!r}")

    async def _upload_declared_files(self, ctx: ActivityContext, workdir: str) -> None:
        """Files named like a declared ``type: file`` output and left in the working directory are uploaded."""
        for definition in ctx.output_definitions:
            if not isinstance(definition, dict) or definition.get("type") != "file":
                continue
            name = definition.get("name")
            if not isinstance(name, str) or not name or os.sep in name:
                continue
            candidate = Path(workdir) / name
            if candidate.is_file():
                await ctx.upload_file(candidate, name)


def _tail(printed: str | None) -> str:
    """The end of what a failed script printed, to append to its error message."""
    if not printed:
        return ""
    text = printed.rstrip("\n")
    if len(text) > ERROR_LOG_TAIL_CHARS:
        text = "…" + text[-ERROR_LOG_TAIL_CHARS:]
    return f"\n\nLast output of the script:\n{text}"
