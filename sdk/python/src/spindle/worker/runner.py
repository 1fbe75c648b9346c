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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, overload

from .._backoff import POLL_BACKOFF
from .._transport import AsyncTransport, ClientCredentials
from ..errors import ApiError
from ._executing import _Executing

# The execution half moved to _executing and _execution; its names stay importable from here.
from ._execution import (  # noqa: F401
    DEFAULT_LEASE_SECONDS,
    MAX_ERROR_MESSAGE,
    StopReason,
    WorkerStats,
    _Execution,
    _Outcome,
    clip_message,
    describe_exception,
    heartbeat_seconds_for_lease,
)
from ._slot_ledger import SlotLedger
from .api import DEFAULT_MAX_BODY_BYTES, WorkerApi
from .config import WorkerConfig
from .handlers import ActivityHandler, ActivityRegistry, format_seconds

__all__ = ["Worker", "WorkerStats", "heartbeat_seconds_for_lease", "MAX_ERROR_MESSAGE", "DEFAULT_MAX_BODY_BYTES"]

log = logging.getLogger("spindle.worker")

F = TypeVar("F", bound=Callable[..., Any])


class Worker(_Executing):
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
        self._tick: asyncio.TimerHandle | None = None
        self._tick_due = math.inf
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
                if self._tick is not None:
                    self._tick.cancel()
                    self._tick, self._tick_due = None, math.inf
                # Only now: every WORKER_SHUTDOWN report must be sent before the client closes (docs/worker-protocol.md).
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
        batcher = getattr(self.api, "batcher", None)  # tests may stand in their own api
        if batcher is not None:
            batcher.enabled = self.config.batch_reports and "batch-report" in self.features
            if batcher.enabled:
                mode += ", batched reports"
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
                            # Shutting down: abort the held long-poll (docs/worker-protocol.md, Shutdown).
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
