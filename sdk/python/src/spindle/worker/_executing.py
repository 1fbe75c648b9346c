"""Running claimed activities: building each one's context, running its handler under its timeout while
heartbeating, and reporting the outcome (``claim-next`` completions hand back the next activities). A mixin of
:class:`spindle.worker.runner.Worker`, which owns the poll loop and the worker's lifecycle."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ActivityError, ApiError
from ..jsonconv import NotSerializableError, to_json_value
from ._execution import (
    DEFAULT_LEASE_SECONDS,
    StopReason,
    WorkerStats,
    _consume,
    _Execution,
    _first_done,
    _not_serializable_message,
    _Outcome,
    _positive,
    describe_exception,
    heartbeat_seconds_for_lease,
)
from ._slot_ledger import SlotLedger
from .api import LeaseLostError, PayloadTooLargeError, WorkerApi
from .config import WorkerConfig
from .context import ActivityContext, ActivityResult, format_money, parse_file_ref
from .handlers import ActivityRegistry, format_seconds

__all__: list[str] = []

log = logging.getLogger("spindle.worker")


class _Executing:
    """The execution half of :class:`~spindle.worker.runner.Worker` (the attributes below are set by its
    ``__init__`` and ``run_async``)."""

    config: WorkerConfig
    registry: ActivityRegistry
    stats: WorkerStats
    api: WorkerApi | None
    _force: asyncio.Event | None
    _slot_freed: asyncio.Event | None
    _executions: dict[int, _Execution]
    _slots: SlotLedger
    _run_ids: itertools.count[int]
    _loggers: dict[str, logging.Logger]
    #: The one timer of the executions (_arm_timer) and when it is due.
    _tick: asyncio.TimerHandle | None
    _tick_due: float

    if TYPE_CHECKING:

        @property
        def claims_next(self) -> bool: ...

        def _activity_filter(self) -> tuple[str, ...] | None: ...


    def _start(self, raw: Any) -> None:
        execution = _Execution(run_id=next(self._run_ids), raw=raw)
        self.stats.claimed += 1
        self._executions[execution.run_id] = execution
        execution.task = asyncio.ensure_future(self._execute(execution))

    async def _execute(self, execution: _Execution) -> None:
        claimed: list[Any] = []
        try:
            try:
                outcome = await self._run_handler(execution)
            except Exception as exc:
                outcome = _Outcome.fail("EXECUTION_ERROR", describe_exception(exc), retryable=True)
            if execution.ctx is not None and execution.ctx.streamed > 0:
                await self._end_stream(execution.activity_id, outcome)
            if execution.activity_id:
                claimed = await self._report(execution, outcome)
            else:
                log.error("Claimed activity without an activity_id cannot be reported: %r", execution.raw)
        finally:
            # No await between _report's return and here: the completed activity's slot passes to the first claimed
            # activity and the slots _report reserved (and released) to the others, without anyone taking them first.
            self._executions.pop(execution.run_id, None)
            # The context's heartbeat refers to the execution: without this, each activity would leave a reference
            # cycle (execution, context, tasks, parameters) for the cyclic GC instead of being freed at once.
            execution.ctx = None
            for raw in claimed:
                self.stats.claimed_next += 1
                self._start(raw)
            if self._slot_freed is not None:
                self._slot_freed.set()

    def _activity_logger(self, key: str) -> logging.Logger:
        # logging.getLogger takes the logging lock on every call; the same key always gives the same logger.
        logger = self._loggers.get(key)
        if logger is None:
            if len(self._loggers) >= 1024:
                self._loggers.clear()
            logger = self._loggers[key] = logging.getLogger(f"spindle.activity.{key}")
        return logger

    def _build_context(self, execution: _Execution) -> ActivityContext | _Outcome:
        raw = execution.raw
        if not isinstance(raw, (dict, Mapping)) or not isinstance(raw.get("activity_id"), str) or not raw["activity_id"]:
            return _Outcome.fail("INVALID_PARAMETERS", "The claimed activity has no activity_id", retryable=False)
        execution.activity_id = raw["activity_id"]
        cfg = self.config
        settings = raw.get("settings")
        if not isinstance(settings, dict):
            settings = None
        own_timeout = _positive(raw.get("timeout_seconds"))
        timeout = own_timeout or (_positive(settings.get("timeout_seconds")) if settings else None)
        lease = _positive(raw.get("lease_seconds")) or own_timeout or DEFAULT_LEASE_SECONDS
        execution.lease_seconds = max(1, int(lease))
        execution.lease_expires_at = time.monotonic() + execution.lease_seconds
        execution.heartbeat_interval = min(cfg.heartbeat_interval, heartbeat_seconds_for_lease(execution.lease_seconds))
        dependents = raw.get("dependents")
        if isinstance(dependents, int) and not isinstance(dependents, bool) and dependents >= 0:
            execution.dependents = dependents
        parameters = raw.get("parameters")
        if parameters is None:
            parameters = {}
        problems = []
        if not isinstance(parameters, dict):
            problems.append(f"parameters must be a JSON object, got {type(parameters).__name__}")
        for name in ("workflow_id", "activity_key", "activity_name"):
            if not isinstance(raw.get(name), str):
                problems.append(f"{name} is missing")
        if problems:
            return _Outcome.fail("INVALID_PARAMETERS", "Cannot read the claimed activity: " + "; ".join(problems), retryable=False)
        key = raw["activity_key"]
        output_definitions = raw.get("output_definitions")
        ctx = ActivityContext(
            activity_id=execution.activity_id,
            workflow_id=raw["workflow_id"],
            activity_key=key,
            activity_name=raw["activity_name"],
            worker=cfg.worker,
            worker_id=cfg.worker_id,
            attempt=int(raw.get("attempt") or 1),
            iteration=int(raw.get("iteration") or 0),
            parameters=parameters,
            settings=settings,
            timeout_seconds=float(timeout or cfg.activity_timeout),
            lease_seconds=execution.lease_seconds,
            output_definitions=list(output_definitions) if isinstance(output_definitions, list) else [],
            signal=raw.get("signal_data"),
            logger=self._activity_logger(key),
            raw=dict(raw),
        )
        ctx._heartbeat = lambda: self._heartbeat(execution)
        ctx._download = self._download
        activity_id = execution.activity_id
        ctx._stream = lambda text, index: self._publish_chunk(activity_id, text, index)
        workflow_id = ctx.workflow_id
        # Not through ctx itself: a context that referred to itself would live until the cyclic GC ran.
        ctx._upload = lambda filename, data, content_type: self._upload(workflow_id, key, filename, data, content_type)
        return ctx

    async def _run_handler(self, execution: _Execution) -> _Outcome:
        built = self._build_context(execution)
        if isinstance(built, _Outcome):
            return built
        ctx = built
        execution.ctx = ctx
        handler = self.registry.get(ctx.activity_name)
        if handler is None:
            return _Outcome.fail(
                "EXECUTION_ERROR",
                f"No handler registered for activity '{ctx.activity_name}' on worker '{self.config.worker}'",
                retryable=True,
            )
        loop = asyncio.get_running_loop()
        execution.stop = loop.create_future()
        if self._force is not None and self._force.is_set():
            execution.request_stop("shutdown")
        now = loop.time()
        execution.timeout_at = now + ctx.timeout_seconds
        execution.heartbeat_at = now + execution.heartbeat_interval
        # A timer, not a task per activity: most activities finish long before their first heartbeat is due.
        self._arm_timer(execution)
        task = asyncio.ensure_future(handler.run(ctx))
        try:
            await _first_done(task, execution.stop)
            lease_lost = execution.stop.done() and execution.stop.result() == "lease_lost"
            if task.done() and not lease_lost:
                return self._outcome_of(task)
            reason: StopReason = execution.stop.result()
            task.cancel()
            # A script process gets SIGTERM and then, after 5 s, SIGKILL: wait for that, not forever.
            await asyncio.wait({task}, timeout=15)
            task.add_done_callback(_consume)
            seconds = format_seconds(ctx.timeout_seconds)
            if reason == "timeout":
                return _Outcome.fail("TIMEOUT", handler.timeout_message(ctx.timeout_seconds), retryable=True)
            if reason == "cancelled":
                return _Outcome.fail(
                    "CANCELLED", "Activity cancelled: the workflow was cancelled or passed its deadline", retryable=False
                )
            if reason == "shutdown":
                return _Outcome.fail(
                    "WORKER_SHUTDOWN",
                    f"Worker {self.config.worker_id} shut down before the activity finished (limit {seconds} s)",
                    retryable=True,
                )
            return _Outcome(kind="drop")
        finally:
            execution.finished = True
            execution.due = math.inf
            if execution.heartbeat_task is not None:
                execution.heartbeat_task.cancel()
                await asyncio.gather(execution.heartbeat_task, return_exceptions=True)

    def _outcome_of(self, task: asyncio.Task[Any]) -> _Outcome:
        if task.cancelled():
            return _Outcome.fail("EXECUTION_ERROR", "The handler was cancelled", retryable=True)
        exc = task.exception()
        if exc is None:
            return self._completion(task.result())
        if isinstance(exc, ActivityError):
            outcome = _Outcome.fail(exc.code, exc.message, retryable=exc.retryable)
            try:
                outcome.cost_usd = format_money(exc.cost_usd)
                outcome.usage = [u.to_json() for u in exc.usage] if exc.usage else None
            except ValueError as bad:
                log.warning("Ignoring the cost of a failed activity: %s", bad)
            return outcome
        if isinstance(exc, NotSerializableError):
            return _Outcome.fail("OUTPUT_ERROR", _not_serializable_message(exc), retryable=False)
        return _Outcome.fail("EXECUTION_ERROR", describe_exception(exc), retryable=True)

    def _completion(self, result: Any) -> _Outcome:
        cost: Any = None
        usage: list[Any] = []
        if isinstance(result, ActivityResult):
            output: Any = result.output
            cost, usage = result.cost_usd, result.usage
        elif result is None:
            output = {}
        elif isinstance(result, (dict, Mapping)):
            output = result
        else:
            output = {"result": result}
        try:
            if getattr(result, "_json_ready", False):
                converted = dict(output)
            else:
                converted = to_json_value(dict(output), "output")
        except NotSerializableError as exc:
            return _Outcome.fail("OUTPUT_ERROR", _not_serializable_message(exc), retryable=False)
        try:
            cost_text = format_money(cost)
            usage_lines = [u.to_json() for u in usage] or None
        except ValueError as exc:
            return _Outcome.fail("OUTPUT_ERROR", str(exc), retryable=False)
        return _Outcome(kind="complete", output=converted, cost_usd=cost_text, usage=usage_lines)

    async def _report(self, execution: _Execution, outcome: _Outcome) -> list[Any]:
        """Reports the outcome; returns the activities a completion claimed (``claim-next``) for the caller to start
        at once: the first in the completed activity's slot, the others in slots reserved here before asking."""
        assert self.api is not None
        aid = execution.activity_id
        try:
            if outcome.kind == "complete":
                try:
                    return await self._complete(execution, outcome)
                except PayloadTooLargeError as exc:
                    # The output cannot be recorded: the activity fails clearly instead (and the output is let go now,
                    # not when the report ends).
                    outcome.output = {}
                    outcome.kind = "fail"
                    outcome.code = "OUTPUT_TOO_LARGE"
                    outcome.message = (
                        f"The activity's output is too large to record: {exc.message}. Store large data in a file "
                        "output or external storage and return a reference."
                    )
                    outcome.retryable = False
            if outcome.kind == "fail":
                answer = await self.api.fail(
                    aid,
                    code=outcome.code,
                    message=outcome.message,
                    retryable=outcome.retryable,
                    cost_usd=outcome.cost_usd,
                    usage=outcome.usage,
                    retry_until=execution.lease_expires_at,
                )
                self.stats.failed += 1
                log.info(
                    "Activity %s failed with %s (retryable=%s, will_retry=%s): %s",
                    aid,
                    outcome.code,
                    outcome.retryable,
                    answer.get("will_retry"),
                    outcome.message.split("\n", 1)[0],
                )
            else:
                self.stats.dropped += 1
                log.warning("Activity %s: lease lost; the execution was stopped and is not reported", aid)
        except LeaseLostError as exc:
            self.stats.dropped += 1
            log.warning("Activity %s: result dropped, another worker holds it or it is already recorded (%s)", aid, exc)
        except ApiError as exc:
            self.stats.dropped += 1
            log.error("Activity %s: could not report %s: %s", aid, outcome.kind, exc)
        return []

    async def _complete(self, execution: _Execution, outcome: _Outcome) -> list[Any]:
        assert self.api is not None
        cfg = self.config
        reservation = self._slots.begin_claim_next(cfg.poll_batch_size, execution.dependents) if self.claims_next else None
        claim = reservation.own if reservation is not None else 0
        claimed: list[Any] = []
        try:
            answer = await self.api.complete(
                execution.activity_id,
                outcome.output,
                cost_usd=outcome.cost_usd,
                usage=outcome.usage,
                retry_until=execution.lease_expires_at,
                claim_next=claim,
                claim_next_from_poll=reservation.from_poll if reservation is not None else 0,
                poll_id=reservation.poll_id if reservation is not None else None,
                activity_names=self._activity_filter() if claim else None,
            )
            activities = answer.get("activities") if claim else None
            claimed = activities if isinstance(activities, list) else []
        finally:
            # No await from here until they start: the slots pass to the activities.
            covered = self._slots.end_claim_next(reservation, len(claimed)) if reservation is not None else 0
        self.stats.completed += 1
        self.stats.claimed_from_poll += covered
        if len(claimed) > claim + covered:
            # A server fault: leases this worker has no slot for run out and are offered again.
            log.error(
                "Activity %s: the completion returned %d activities for claim_next=%d and %d slot(s) of poll %s; "
                "ignoring the surplus",
                execution.activity_id,
                len(claimed),
                claim,
                covered,
                reservation.poll_id if reservation is not None and reservation.poll_id else "-",
            )
            claimed = claimed[: claim + covered]
        if log.isEnabledFor(logging.DEBUG):
            log.debug("Activity %s completed%s", execution.activity_id, f"; claimed {len(claimed)} next" if claimed else "")
        return claimed

    def _arm_timer(self, execution: _Execution) -> None:
        """Sets when the execution is due next: the earlier of its timeout and its next periodic heartbeat (none while
        one is being sent: it re-arms when done). One timer serves every execution, due at the earliest of them:
        most activities finish long before anything is due, and a timer each (a handle, a heap push, a cancel) cost
        more than the rest of their bookkeeping."""
        due = math.inf if execution.heartbeat_running else execution.heartbeat_at
        if not execution.timed_out and execution.timeout_at < due:
            due = execution.timeout_at
        execution.due = due
        if due < self._tick_due:
            if self._tick is not None:
                self._tick.cancel()
            self._tick_due = due
            self._tick = asyncio.get_running_loop().call_at(due, self._tick_fired)

    def _tick_fired(self) -> None:
        self._tick, self._tick_due = None, math.inf
        # The loop may run a timer up to its clock resolution early.
        now = asyncio.get_running_loop().time() + 0.001
        for execution in list(self._executions.values()):
            if execution.due <= now and not execution.finished:
                execution.due = math.inf
                self._timer_due(execution)
        following = min((e.due for e in self._executions.values() if not e.finished), default=math.inf)
        if following < self._tick_due:
            if self._tick is not None:
                self._tick.cancel()
            self._tick_due = following
            self._tick = asyncio.get_running_loop().call_at(following, self._tick_fired)

    def _timer_due(self, execution: _Execution) -> None:
        if execution.finished:
            return
        # The loop may run a timer up to its clock resolution early.
        now = asyncio.get_running_loop().time() + 0.001
        if not execution.timed_out and now >= execution.timeout_at:
            execution.timed_out = True
            execution.request_stop("timeout")
        if not execution.heartbeat_running and now >= execution.heartbeat_at:
            execution.heartbeat_running = True
            execution.heartbeat_task = asyncio.ensure_future(self._periodic_heartbeat(execution))
        self._arm_timer(execution)

    async def _periodic_heartbeat(self, execution: _Execution) -> None:
        try:
            await self._heartbeat(execution)
        finally:
            execution.heartbeat_running = False
        # Heartbeats go on while a stopped handler winds down (a script gets up to 5 s after SIGTERM), so that the
        # lease still holds when the outcome is reported; only a lost lease ends them.
        lost = execution.stop is not None and execution.stop.done() and execution.stop.result() == "lease_lost"
        if lost:
            execution.heartbeat_at = math.inf
        else:
            execution.heartbeat_at = asyncio.get_running_loop().time() + execution.heartbeat_interval
        if not execution.finished:
            self._arm_timer(execution)

    async def _heartbeat(self, execution: _Execution) -> bool:
        assert self.api is not None
        async with execution.heartbeat_lock:
            try:
                answer = await self.api.heartbeat(execution.activity_id)
            except LeaseLostError:
                execution.request_stop("lease_lost")
                return False
            except ApiError as exc:
                if exc.status_code == 404:
                    # The server no longer knows the activity: nobody will accept its result.
                    execution.request_stop("lease_lost")
                else:
                    log.warning("Heartbeat for activity %s failed (%s); retrying at the next interval", execution.activity_id, exc)
                return False
            self.stats.heartbeats += 1
            execution.lease_expires_at = time.monotonic() + execution.lease_seconds
            following = _positive(answer.get("next_heartbeat_seconds"))
            if following:
                execution.heartbeat_interval = min(self.config.heartbeat_interval, following)
            if answer.get("cancel_requested") is True:
                log.info("Activity %s: cancellation requested by the server", execution.activity_id)
                execution.request_stop("cancelled")
                return True
            return False

    async def _publish_chunk(self, activity_id: str, text: str, index: int) -> int:
        assert self.api is not None
        answer = await self.api.publish_stream(activity_id, "token", {"text": text, "index": index})
        return int(answer.get("subscribers") or 0)

    async def _end_stream(self, activity_id: str, outcome: _Outcome) -> None:
        """Ends the live stream of an activity that published chunks; best effort (the result is reported anyway)."""
        assert self.api is not None
        try:
            if outcome.kind == "complete":
                await self.api.publish_stream(activity_id, "complete", {"result": outcome.output})
            else:
                await self.api.publish_stream(activity_id, "error", {"error": outcome.message or outcome.code or "stopped"})
        except Exception as exc:  # noqa: BLE001 - a stream is a courtesy; the completion must still be reported
            log.warning("Activity %s: could not end its live stream: %s", activity_id, exc)

    async def _download(self, ref: str) -> bytes:
        assert self.api is not None
        workflow_id, key, filename = parse_file_ref(ref)
        return await self.api.download_file(workflow_id, key, filename)

    async def _upload(
        self, workflow_id: str, activity_key: str, filename: str, data: bytes, content_type: str | None
    ) -> str:
        assert self.api is not None
        await self.api.upload_file(workflow_id, activity_key, filename, data, content_type)
        return f"postgres://{workflow_id}/{activity_key}/{filename}"
