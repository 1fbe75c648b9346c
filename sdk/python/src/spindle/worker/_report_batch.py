"""Group commit of reports on the client (docs/worker-protocol.md, "Batched reports").

A result is sent at once through its single route (``complete``/``fail``) when no report is in flight; the results
that finish while one is in flight (or in the same event-loop turn) wait for it and then go together in one
``POST /api/v1/workers/report``. There is no timer: a lone result never waits.

Each caller gets what its single route would have given it (the answer, :class:`LeaseLostError`, an
:class:`ApiError`), so the runner handles answers, claim-next slots included, the same either way. A report whose
batch failed (network, 5xx) or whose own result is a 5xx is repeated alone through its single route, with the usual
retries until its lease ends; a server without the route (404) gets single reports from then on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ApiError

__all__ = ["ReportBatcher", "MAX_REPORTS", "REPORT_PATH"]

log = logging.getLogger("spindle.worker")

#: The server's limit on reports per request.
MAX_REPORTS = 100
REPORT_PATH = "/api/v1/workers/report"
#: Room left in a batch's body for the envelope around the reports.
_ENVELOPE_BYTES = 1024

#: ``(activity_id, action, body, retry_until) -> answer``: the single route (one attempt when retry_until is None).
SendAlone = Callable[[str, str, dict[str, Any], "float | None"], Awaitable[dict[str, Any]]]
#: ``(encoded reports) -> results``: the batched route, one attempt.
SendBatch = Callable[[list[bytes]], Awaitable[list[Any]]]


@dataclass(eq=False)
class _Pending:
    activity_id: str
    action: str
    body: dict[str, Any]
    retry_until: float | None
    future: asyncio.Future[dict[str, Any]]
    encoded: bytes | None = None


@dataclass(eq=False)
class ReportBatcher:
    send_alone: SendAlone
    send_batch: SendBatch
    #: The server's body limit (read each time: the runner learns it from /api/v1/info).
    max_body_bytes: Callable[[], int]
    #: Batches are sent (the server lists ``batch-report`` and the config allows it); off, every report goes alone.
    enabled: bool = False
    #: Batched requests sent, and the reports they carried (diagnostics and tests).
    batches_sent: int = 0
    reports_batched: int = 0
    _queue: list[_Pending] = field(default_factory=list)
    _sending: bool = False
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def report(self, activity_id: str, action: str, body: dict[str, Any], retry_until: float | None) -> dict[str, Any]:
        if not self.enabled:
            return await self.send_alone(activity_id, action, body, retry_until)
        if self._sending:
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._queue.append(_Pending(activity_id, action, body, retry_until, future))
            return await future
        # Nothing in flight: this one goes now, alone; what finishes meanwhile queues for the next round.
        self._sending = True
        try:
            return await self.send_alone(activity_id, action, body, None)
        except ApiError as exc:
            if not exc.is_transient or retry_until is None:
                raise
        finally:
            self._next_round()
        # Its repeats do not hold up the others.
        return await self.send_alone(activity_id, action, body, retry_until)

    def _next_round(self) -> None:
        """Starts sending what queued, or marks that nothing is in flight (synchronous: no report slips between)."""
        self._queue = [p for p in self._queue if not p.future.done()]
        if not self._queue:
            self._sending = False
            return
        task = asyncio.ensure_future(self._send_round(self._take_round()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _take_round(self) -> list[_Pending]:
        """Queued reports in order, up to :data:`MAX_REPORTS` and the server's body limit."""
        room = self.max_body_bytes() - _ENVELOPE_BYTES
        taken: list[_Pending] = []
        for pending in self._queue:
            if len(taken) == MAX_REPORTS:
                break
            if pending.encoded is None:
                try:
                    item = {"activity_id": pending.activity_id, "action": pending.action}
                    item.update((k, v) for k, v in pending.body.items() if k != "worker_id")
                    pending.encoded = json.dumps(item, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
                except ValueError:
                    pending.encoded = b""  # the single route raises the same error to its caller
            size = len(pending.encoded) + 1
            if taken and (size > room or not pending.encoded):
                break
            taken.append(pending)
            room -= size
            if not pending.encoded:
                break
        del self._queue[: len(taken)]
        return taken

    async def _send_round(self, round_: list[_Pending]) -> None:
        try:
            if len(round_) == 1 or not self.enabled or not all(p.encoded for p in round_):
                for pending in round_:
                    await self._once(pending)
                return
            try:
                results = await self.send_batch([p.encoded or b"" for p in round_])
                if len(results) != len(round_):
                    raise ApiError(f"the batched report answered {len(results)} results for {len(round_)} reports")
            except ApiError as exc:
                if exc.status_code in (404, 405):
                    self.enabled = False
                    log.info("The server has no batched report route (%d); reporting each result on its own", exc.status_code)
                else:
                    log.warning("A batched report of %d results failed (%s); reporting each on its own", len(round_), exc)
                for pending in round_:
                    self._alone(pending)
                return
            self.batches_sent += 1
            self.reports_batched += len(round_)
            for pending, result in zip(round_, results, strict=True):
                self._answer(pending, result)
        except Exception as exc:  # noqa: BLE001 - never leave a caller waiting
            for pending in round_:
                if not pending.future.done():
                    pending.future.set_exception(exc)
        finally:
            self._next_round()

    async def _once(self, pending: _Pending) -> None:
        """One call of the single route; a transient failure goes on alone, with retries."""
        try:
            answer = await self.send_alone(pending.activity_id, pending.action, pending.body, None)
        except ApiError as exc:
            if exc.is_transient and pending.retry_until is not None:
                self._alone(pending)
            elif not pending.future.done():
                pending.future.set_exception(exc)
            return
        if not pending.future.done():
            pending.future.set_result(answer)

    def _alone(self, pending: _Pending) -> None:
        async def send() -> None:
            try:
                answer = await self.send_alone(pending.activity_id, pending.action, pending.body, pending.retry_until)
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                if not pending.future.done():
                    pending.future.set_exception(exc)
                return
            if not pending.future.done():
                pending.future.set_result(answer)

        task = asyncio.ensure_future(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _answer(self, pending: _Pending, result: Any) -> None:
        if pending.future.done():
            return
        if not isinstance(result, dict):
            self._alone(pending)
            return
        status = result.get("status")
        if status == 200:
            pending.future.set_result(result)
            return
        if not isinstance(status, int) or status >= 500 or status == 429:
            self._alone(pending)
            return
        from .api import LeaseLostError  # api imports this module

        error = result.get("error") if isinstance(result.get("error"), dict) else {}
        message = f"POST {REPORT_PATH} (activity {pending.activity_id}) failed with {status}"
        if isinstance(error.get("message"), str):
            message += f": {error['message']}"
        kind = LeaseLostError if status == 409 else ApiError
        pending.future.set_exception(
            kind(message, status_code=status, code=error.get("code"), details=error.get("details"), method="POST", path=REPORT_PATH)
        )
