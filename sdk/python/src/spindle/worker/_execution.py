"""One claimed activity's execution: its bookkeeping, its outcome, and the small helpers around them (used by the
runner, :mod:`spindle.worker.runner`)."""

from __future__ import annotations

import asyncio
import math
import traceback
from dataclasses import dataclass, field
from typing import Any, Literal

from ..jsonconv import NotSerializableError
from .context import ActivityContext

__all__ = [
    "StopReason",
    "MAX_ERROR_MESSAGE",
    "DEFAULT_LEASE_SECONDS",
    "heartbeat_seconds_for_lease",
    "clip_message",
    "describe_exception",
    "WorkerStats",
]


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
    #: The claim's ``dependents`` (activities that wait on this one), or None when the server did not send it.
    dependents: int | None = None
    lease_expires_at: float = 0.0
    heartbeat_interval: float = 30.0
    ctx: ActivityContext | None = None
    stop: asyncio.Future[StopReason] | None = None
    task: asyncio.Task[None] | None = None
    heartbeat_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: When the earlier of its next periodic heartbeat and its timeout is due (loop time; the worker's one timer
    #: for all executions, :meth:`~spindle.worker._executing._Executing._arm_timer`, looks at it).
    due: float = math.inf
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
