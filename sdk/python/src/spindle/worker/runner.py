"""The worker runner: poll → execute while heartbeating → complete or fail (docs/worker-protocol.md).

The server owns every decision; the runner only executes and reports, and never retries an activity itself.
With the ``claim-next`` extension a completion also asks for the workflow's next activities, which start at once in
the slot of the completed one (and in slots reserved before asking, or lent by the waiting long-poll), as if a poll
had returned them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import math
import signal
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, overload

from .._backoff import POLL_BACKOFF
from .._transport import AsyncTransport, ClientCredentials
from ..errors import ActivityError, ApiError
from ..jsonconv import NotSerializableError, to_json_value
from ._slot_ledger import SlotLedger
from .api import DEFAULT_MAX_BODY_BYTES, LeaseLostError, PayloadTooLargeError, WorkerApi
from .config import WorkerConfig
from .context import ActivityContext, ActivityResult, format_money, parse_file_ref
from .handlers import ActivityHandler, ActivityRegistry, format_seconds

__all__ = ["Worker", "WorkerStats", "heartbeat_seconds_for_lease", "MAX_ERROR_MESSAGE", "DEFAULT_MAX_BODY_BYTES"]

log = logging.getLogger("spindle.worker")

F = TypeVar("F", bound=Callable[..., Any])
StopReason = Literal["timeout", "cancelled", "shutdown", "lease_lost"]

#: Error messages are cut to their last 32 KiB, keeping the end of a traceback (where the cause is).
MAX_ERROR_MESSAGE = 32 * 1024
#: The lease length when a claim carries neither lease_seconds nor timeout_seconds: the server's default.
DEFAULT_LEASE_SECONDS = 60


def heartbeat_seconds_for_lease(lease_seconds: int) -> int:
    """``max(1, min(30, floor(lease / 2)))``: what the server answers as ``next_heartbeat_seconds``."""
    return max(1, min(30, lease_seconds // 2))


def clip_message(text: str, limit: int = MAX_ERROR_MESSAGE) -> str:
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    return "…" + data[-(limit - 3) :].decode("utf-8", errors="ignore")


def describe_exception(exc: BaseException) -> str:
    """``Type: message``, a blank line, then the traceback."""
    head = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return clip_message(f"{head}\n\n{tb}")


@dataclass
class WorkerStats:
    """Counters of one worker run (diagnostics and tests)."""

    polls: int = 0
    #: Activities started, from polls and from completions (``claim-next``) alike.
    claimed: int = 0
    #: Of those, the activities a completion returned (``claim-next``).
    claimed_next: int = 0
    #: Of those, the activities that took slots the waiting long-poll lent (``claim_next_from_poll``).
    claimed_from_poll: int = 0
    completed: int = 0
    failed: int = 0
    dropped: int = 0
    heartbeats: int = 0


@dataclass(kw_only=True)
class _Outcome:
    kind: Literal["complete", "fail", "drop"]
    output: dict[str, Any] = field(default_factory=dict)
    code: str = ""
    message: str = ""
    retryable: bool = False
    cost_usd: str | None = None
    usage: list[dict[str, Any]] | None = None

    @classmethod
    def fail(cls, code: str, message: str, *, retryable: bool) -> _Outcome:
        return cls(kind="fail", code=code, message=clip_message(message), retryable=retryable)


@dataclass(eq=False)
class _Execution:
    run_id: int
    raw: Any
    activity_id: str = ""
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    lease_expires_at: float = 0.0
    heartbeat_interval: float = 30.0
    ctx: ActivityContext | None = None
    stop: asyncio.Future[StopReason] | None = None
    task: asyncio.Task[None] | None = None
    heartbeat_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: One timer per execution, for whichever is due first: the next periodic heartbeat or the timeout.
    timer: asyncio.TimerHandle | None = None
    timeout_at: float = math.inf
    timed_out: bool = False
    heartbeat_at: float = math.inf
    heartbeat_task: asyncio.Task[None] | None = None
    heartbeat_running: bool = False
    finished: bool = False

    def request_stop(self, reason: StopReason) -> None:
        if self.stop is not None and not self.stop.done():
            self.stop.set_result(reason)
        if self.ctx is not None:
            self.ctx._stopped.set()


class Worker:
    """An asyncio worker for one routing key.

    Options not given here come from ``SPINDLE_*`` variables (:meth:`WorkerConfig.from_env`); pass ``config``
    for full control. Handlers are plain functions registered with :meth:`activity`::

        worker = Worker(worker="payments")

        @worker.activity("charge")
        async def charge(params, ctx):
            return {"charged": params["amount"]}

        worker.run()   # until SIGTERM/SIGINT, then drains
    """

    def __init__(
        self,
        *,
        worker: str | None = None,
        api_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        worker_id: str | None = None,
        max_concurrency: int | None = None,
        poll_batch_size: int | None = None,
        claim_next: bool | None = None,
        config: WorkerConfig | None = None,
        registry: ActivityRegistry | None = None,
    ) -> None:
        overrides: dict[str, Any] = {
            "worker": worker,
            "api_url": api_url,
            "client_id": client_id,
            "client_secret": client_secret,
            "worker_id": worker_id,
            "max_concurrency": max_concurrency,
            "poll_batch_size": poll_batch_size,
            "claim_next": claim_next,
        }
        if config is None:
            config = WorkerConfig.from_env(**overrides)
        else:
            config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
        self.config = config
        self.registry = registry or ActivityRegistry()
        self.stats = WorkerStats()
        self.executor: ThreadPoolExecutor | None = None
        self.api: WorkerApi | None = None
        self._transport: AsyncTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._stopping: asyncio.Event | None = None
        self._force: asyncio.Event | None = None
        self._pending_stop: bool | None = None
        self._slot_freed: asyncio.Event | None = None
        self._executions: dict[int, _Execution] = {}
        #: Every slot: the running executions, the slots each poll holds until its answer (and until the answers of
        #: the completions that offered them), and the slots claim-next completions take up front.
        self._slots = SlotLedger(
            config.max_concurrency, running=lambda: len(self._executions), release=self._slots_released
        )
        self._run_ids = itertools.count(1)
        self._loggers: dict[str, logging.Logger] = {}
        self._started = False
        self._ready = threading.Event()
        self._finished = threading.Event()
        self.wait_seconds = 0
        #: True while the poll loop runs (it ends when shutdown is requested, before the drain).
        self.polling = False
        self._detected = False
        self.features: frozenset[str] = frozenset()

    # -- registration -------------------------------------------------------------------------------------------

    @overload
    def activity(self, name: F) -> F: ...

    @overload
    def activity(self, name: str | None = None) -> Callable[[F], F]: ...

    def activity(self, name: str | F | None = None) -> Callable[[F], F] | F:
        """Decorator registering a function (sync or async) as the handler of ``activity_name`` ``name``
        (default: the function's name). It is called as ``fn(parameters, ctx)``, or ``fn(parameters)`` / ``fn()``
        if it takes fewer positional parameters. A returned dict is the completion output (each key one named
        output); an :class:`ActivityResult` adds a cost; any other value is reported as ``{"result": value}``.
        """
        if callable(name):
            fn = name
            self.registry.register(fn.__name__, fn)
            return fn

        label = name

        def decorate(fn: F) -> F:
            self.registry.register(label or fn.__name__, fn)
            return fn

        return decorate

    def register(self, name: str, handler: ActivityHandler | Callable[..., Any]) -> None:
        self.registry.register(name, handler)

    # -- running ------------------------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._executions)

    @property
    def max_body_bytes(self) -> int:
        """The largest request body the server accepts (it says in /api/v1/info; else 50 MiB)."""
        return self.api.max_body_bytes if self.api is not None else DEFAULT_MAX_BODY_BYTES

    def _slots_released(self, slots: int) -> None:
        # Only a poll's leftover held past its answer (an offer was open) can free slots the poll loop waits for.
        if self._slot_freed is not None:
            self._slot_freed.set()

    @property
    def claims_next(self) -> bool:
        """Whether completions ask for the next activities: enabled, advertised by the server, and not stopping."""
        return (
            self.config.claim_next
            and "claim-next" in self.features
            and not (self._stopping is not None and self._stopping.is_set())
        )

    @property
    def token_fetches(self) -> int:
        return self._transport.token_fetches if self._transport else 0

    def run(self) -> None:
        """Runs until SIGTERM/SIGINT, then drains (a second signal skips the grace period) and returns."""
        asyncio.run(self.run_async(handle_signals=True))

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Blocks until the worker is about to poll (handlers started); for tests and embedding."""
        return self._ready.wait(timeout)

    def wait_finished(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    def request_shutdown(self, *, force: bool = False) -> None:
        """Stops polling and drains; ``force`` stops running activities at once (``WORKER_SHUTDOWN``).
        Safe to call from any thread, and before the worker has started."""
        loop = self._loop
        if loop is None or self._stopping is None:
            self._pending_stop = force or bool(self._pending_stop)
            return
        if threading.get_ident() == self._loop_thread:
            self._set_stop(force)
        else:
            try:
                loop.call_soon_threadsafe(self._set_stop, force)
            except RuntimeError:
                pass  # the loop already closed: nothing left to stop

    def _set_stop(self, force: bool) -> None:
        assert self._stopping is not None and self._force is not None
        if self._stopping.is_set() and not force:
            force = True  # a second request (second Ctrl+C) means: do not wait any longer
        if not self._stopping.is_set():
            log.info("Worker %s: shutdown requested; no new work is claimed", self.config.worker_id)
        self._stopping.set()
        if force:
            self._force.set()
            for execution in list(self._executions.values()):
                execution.request_stop("shutdown")

    async def run_async(self, *, handle_signals: bool = False) -> None:
        """Polls and executes until :meth:`request_shutdown` (or a signal, with ``handle_signals``), then drains:
        running activities get ``shutdown_timeout`` seconds to finish (still heartbeating), the rest are stopped
        and reported as ``WORKER_SHUTDOWN`` (retryable). Returns once every report has been sent."""
        if self._started:
            raise RuntimeError("a Worker runs only once; create a new one")
        self._started = True
        cfg = self.config
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stopping = asyncio.Event()
        self._force = asyncio.Event()
        self._slot_freed = asyncio.Event()
        if self._pending_stop is not None:
            self._set_stop(self._pending_stop)
        credentials = (
            ClientCredentials(client_id=cfg.client_id, client_secret=cfg.client_secret or "", token_url=cfg.token_url)
            if cfg.client_id
            else None
        )
        self._transport = AsyncTransport(
            cfg.api_url,
            credentials=credentials,
            timeout=cfg.request_timeout,
            max_connections=cfg.max_concurrency * 2 + 4,
        )
        self.api = WorkerApi(self._transport, cfg)
        self.executor = ThreadPoolExecutor(max_workers=cfg.max_concurrency, thread_name_prefix="spindle-activity")
        installed: list[signal.Signals] = []
        started_handlers: list[ActivityHandler] = []
        try:
            if handle_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    try:
                        self._loop.add_signal_handler(sig, self.request_shutdown)
                        installed.append(sig)
                    except (NotImplementedError, RuntimeError):
                        pass  # not the main thread, or no signal support: request_shutdown() still works
            for handler in self.registry:
                await handler.startup(self)
                started_handlers.append(handler)
            log.info(
                "Worker %s serving %r at %s (max concurrency %d, activities: %s)",
                cfg.worker_id,
                cfg.worker,
                cfg.api_url,
                cfg.max_concurrency,
                ", ".join(self.registry.names) or "none",
            )
            try:
                await self._detect_features()
            except ApiError as exc:
                log.warning("Server not reachable yet (%s); the poll loop keeps trying", exc)
            self._ready.set()
            await self._poll_loop()
        finally:
            try:
                await self._drain()
            finally:
                for handler in started_handlers:
                    try:
                        await handler.shutdown()
                    except Exception:
                        log.exception("Handler shutdown failed")
                for handled in installed:
                    self._loop.remove_signal_handler(handled)
                # Only now: every WORKER_SHUTDOWN report must be sent before the client closes (§7).
                await self._transport.aclose()
                self.executor.shutdown(wait=False, cancel_futures=True)
                self._ready.set()
                self._finished.set()
                log.info("Worker %s stopped", cfg.worker_id)

    async def _detect_features(self) -> None:
        assert self.api is not None
        try:
            info = await self.api.info()
        except ApiError as exc:
            if exc.status_code in (404, 405):
                info = {}  # an older server without /api/v1/info: no extensions
            else:
                raise
        features = info.get("features")
        self.features = frozenset(f for f in features if isinstance(f, str)) if isinstance(features, list) else frozenset()
        limits = info.get("limits")
        body_limit = limits.get("max_body_bytes") if isinstance(limits, dict) else None
        if isinstance(body_limit, int) and not isinstance(body_limit, bool) and body_limit > 0:
            self.api.max_body_bytes = body_limit
        self.wait_seconds = self.config.poll_wait_seconds if "long-poll" in self.features else 0
        self._detected = True
        mode = f"long-poll {self.wait_seconds} s" if self.wait_seconds else "short polling"
        if self.config.claim_next and "claim-next" in self.features:
            mode += ", claim-next"
        log.info("Worker %s: %s", self.config.worker_id, mode)

    def _activity_filter(self) -> tuple[str, ...] | None:
        if self.config.activity_names:
            return self.config.activity_names
        if "activity-filter" in self.features and len(self.registry):
            return self.registry.names
        return None

    async def _poll_loop(self) -> None:
        assert self._stopping is not None and self._slot_freed is not None and self.api is not None
        cfg = self.config
        stop_waiter = asyncio.ensure_future(self._stopping.wait())
        failures = 0
        self.polling = True
        try:
            while not self._stopping.is_set():
                try:
                    if not self._detected:
                        await self._detect_features()
                    free = self._slots.free()
                    if free <= 0:
                        self._slot_freed.clear()
                        slot_waiter = asyncio.ensure_future(self._slot_freed.wait())
                        await asyncio.wait({slot_waiter, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
                        slot_waiter.cancel()
                        continue
                    asked = min(free, cfg.poll_batch_size)
                    # Held while the poll is out, so that a claim-next completion meanwhile counts them as taken. Only
                    # a named long-poll lends them to completions (a poll that answers at once has none to spare).
                    lends = self.wait_seconds > 0 and self.claims_next
                    reservation = self._slots.begin(asked, lendable=lends)
                    activities: list[Any] = []
                    try:
                        poll = asyncio.ensure_future(
                            self.api.poll(
                                asked,
                                self.wait_seconds,
                                self._activity_filter(),
                                poll_id=reservation.id if lends else None,
                            )
                        )
                        await asyncio.wait({poll, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
                        if not poll.done():
                            # Shutting down: abort the held long-poll (§7).
                            poll.cancel()
                            await asyncio.gather(poll, return_exceptions=True)
                            break
                        activities = poll.result()
                    finally:
                        # No await from here until they start: the slots pass from the poll to its activities.
                        owned = self._slots.end(reservation, len(activities))
                    self.stats.polls += 1
                    failures = 0
                    if len(activities) > owned:
                        # A server fault: completions already took the rest of the poll's slots. Running these would
                        # exceed max_concurrency; their leases run out and they are offered again.
                        log.error(
                            "Poll %s returned %d activities with %d slot(s) left for them; ignoring the surplus",
                            reservation.id,
                            len(activities),
                            owned,
                        )
                        activities = activities[:owned]
                    for raw in activities:
                        self._start(raw)
                    if not activities and self.wait_seconds == 0:
                        await asyncio.wait({stop_waiter}, timeout=cfg.poll_interval)
                except ApiError as exc:
                    delay = POLL_BACKOFF.delay(failures)
                    failures += 1
                    log.warning("Poll failed (%s); retrying in %.2f s", exc, delay)
                    await asyncio.wait({stop_waiter}, timeout=delay)
                except Exception:
                    delay = POLL_BACKOFF.delay(failures)
                    failures += 1
                    log.exception("Poll loop error; retrying in %.2f s", delay)
                    await asyncio.wait({stop_waiter}, timeout=delay)
        finally:
            self.polling = False
            stop_waiter.cancel()

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
            if execution.timer is not None:
                execution.timer.cancel()
                execution.timer = None
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
        reservation = self._slots.begin_claim_next(cfg.poll_batch_size) if self.claims_next else None
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
        """(Re)arms the execution's timer for the earlier of its timeout and its next periodic heartbeat (none while
        one is being sent: it re-arms when done)."""
        if execution.timer is not None:
            execution.timer.cancel()
            execution.timer = None
        due = math.inf if execution.heartbeat_running else execution.heartbeat_at
        if not execution.timed_out and execution.timeout_at < due:
            due = execution.timeout_at
        if due != math.inf:
            execution.timer = asyncio.get_running_loop().call_at(due, self._timer_due, execution)

    def _timer_due(self, execution: _Execution) -> None:
        execution.timer = None
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

    async def _drain(self) -> None:
        assert self._force is not None
        if not self._executions:
            return
        cfg = self.config
        log.info(
            "Worker %s: draining %d running activit%s (up to %s s)",
            cfg.worker_id,
            len(self._executions),
            "y" if len(self._executions) == 1 else "ies",
            format_seconds(cfg.shutdown_timeout),
        )
        deadline = time.monotonic() + cfg.shutdown_timeout
        force_waiter = asyncio.ensure_future(self._force.wait())
        try:
            while True:
                tasks = [e.task for e in self._executions.values() if e.task is not None and not e.task.done()]
                if not tasks:
                    return
                left = deadline - time.monotonic()
                if left <= 0 or self._force.is_set():
                    break
                await asyncio.wait([*tasks, force_waiter], timeout=left, return_when=asyncio.FIRST_COMPLETED)
        finally:
            force_waiter.cancel()
        log.warning("Worker %s: stopping %d activities that did not finish in time", cfg.worker_id, len(self._executions))
        while True:
            # A completion already on its way may still bring claimed activities: they are stopped as well.
            remaining = list(self._executions.values())
            tasks = [e.task for e in remaining if e.task is not None and not e.task.done()]
            if not tasks:
                return
            for execution in remaining:
                execution.request_stop("shutdown")
            await asyncio.gather(*tasks, return_exceptions=True)


async def _first_done(first: asyncio.Future[Any], second: asyncio.Future[Any]) -> None:
    """Waits until either is done: ``asyncio.wait(FIRST_COMPLETED)`` for two, without its sets and bookkeeping."""
    if first.done() or second.done():
        return
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake(_: asyncio.Future[Any]) -> None:
        if not waiter.done():
            waiter.set_result(None)

    first.add_done_callback(wake)
    second.add_done_callback(wake)
    try:
        await waiter
    finally:
        first.remove_done_callback(wake)
        second.remove_done_callback(wake)


def _positive(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value > 0 else None


def _consume(task: asyncio.Task[Any]) -> None:
    # A stopped handler's late failure is expected; retrieving it keeps asyncio from logging it as unhandled.
    if not task.cancelled():
        task.exception()


def _not_serializable_message(exc: NotSerializableError) -> str:
    return f"OUTPUT_NOT_SERIALIZABLE: {exc}"
