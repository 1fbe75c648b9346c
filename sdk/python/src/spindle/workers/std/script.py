"""The ``script`` activity (worker-protocol.md §9): user Python run in a warm subprocess."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import _env
from ...errors import ActivityError
from ...worker.context import ActivityContext, ActivityResult
from ...worker.handlers import ActivityHandler, format_seconds
from .pool import ProcessDied, ProcessPool, ScriptProcess

if TYPE_CHECKING:
    from ...worker.runner import Worker

__all__ = ["ScriptActivity"]

#: How long a stopped script gets between SIGTERM and SIGKILL.
TERMINATE_GRACE_SECONDS = 5.0


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
        max_runs_per_process: a process is replaced after this many scripts (default 1000) to bound leaks.
        python: interpreter for scripts; default the worker's own (``sys.executable``).
    """

    def __init__(
        self,
        *,
        warm_processes: int | None = None,
        max_processes: int | None = None,
        max_runs_per_process: int = 1000,
        spawn_grace: float = 0.02,
        python: str | None = None,
    ) -> None:
        if max_processes is not None and max_processes < 1:
            raise ValueError(f"max_processes must be at least 1, got {max_processes}")
        self.warm_processes = warm_processes
        self.max_processes = max_processes
        self.spawn_grace = spawn_grace
        self.max_runs_per_process = max_runs_per_process
        self.python = python
        self.pool: ProcessPool | None = None
        self._scratch: str | None = None

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
        self._scratch = tempfile.mkdtemp(prefix="spindle-py-std-")
        self.pool = ProcessPool(
            warm=min(warm, concurrency, max_processes),
            max_processes=max_processes,
            max_runs=self.max_runs_per_process,
            spawn_grace=self.spawn_grace,
            cwd=self._scratch,
            python=self.python,
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
        # A run that declares file outputs gets its directory from here, so that the files can be uploaded after the
        # script ended; other runs make (and delete) their own in the script process, off this event loop.
        wants_files = any(isinstance(d, dict) and d.get("type") == "file" for d in ctx.output_definitions)
        workdir = tempfile.mkdtemp(prefix="run-", dir=self._scratch) if wants_files else None
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
            "cwd": workdir,
        }
        process: ScriptProcess | None = None
        reusable = False
        try:
            process = await self.pool.acquire()
            try:
                reply = await process.run(message, lambda method, args: self._relay(ctx, method, args))
            except asyncio.CancelledError:
                # Timeout, cancel request or shutdown: really stop the script, whatever it is doing.
                stopping, process = process, None
                await asyncio.shield(self.pool.discard(stopping, grace=TERMINATE_GRACE_SECONDS))
                raise
            except ProcessDied as died:
                raise ActivityError(
                    "SCRIPT_CRASHED", f"{died}; the script was stopped before it finished", retryable=True
                ) from None
            reusable = not reply.get("retire")
            if not reply.get("ok"):
                raise ActivityError(
                    str(reply.get("code") or "SCRIPT_ERROR"), str(reply.get("message") or ""), retryable=False
                )
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

    async def _relay(self, ctx: ActivityContext, method: str, args: dict[str, Any]) -> Any:
        """Executes a script's ``ctx`` call in the worker, which holds the credentials."""
        if method == "heartbeat":
            return await ctx.heartbeat()
        if method == "download_file":
            return str(await ctx.download_file(str(args["ref"]), str(args["dest"])))
        if method == "upload_file":
            return await ctx.upload_file(str(args["path"]), str(args.get("filename") or "") or None)
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
