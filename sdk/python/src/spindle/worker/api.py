"""The worker routes (docs/worker-protocol.md) over an :class:`AsyncTransport`."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import quote

from .._backoff import REPORT_BACKOFF
from .._transport import AsyncTransport, encode_json
from ..errors import ApiError
from ._report_batch import REPORT_PATH, ReportBatcher
from .config import WorkerConfig

__all__ = ["WorkerApi", "LeaseLostError", "PayloadTooLargeError", "DEFAULT_MAX_BODY_BYTES"]

#: The server's request body limit when it does not advertise one (``limits.max_body_bytes`` in /api/v1/info).
DEFAULT_MAX_BODY_BYTES = 50 * 1024 * 1024

log = logging.getLogger("spindle.worker")


class LeaseLostError(ApiError):
    """409 on an activity call: another worker holds the lease, or the result is already recorded. Drop it."""


class PayloadTooLargeError(ApiError):
    """A report larger than the server accepts: found before sending, or answered with 413. Never repeated."""

    def __init__(self, message: str, *, size: int | None, limit: int, method: str = "POST", path: str = "") -> None:
        super().__init__(message, status_code=413, code="PAYLOAD_TOO_LARGE", method=method, path=path)
        self.size = size
        self.limit = limit


def _activity_path(activity_id: str, action: str) -> str:
    return f"/api/v1/activities/{quote(activity_id, safe='')}/{action}"


def _file_path(workflow_id: str, activity_key: str, filename: str) -> str:
    return (
        f"/api/v1/workflows/{quote(workflow_id, safe='')}/activities/{quote(activity_key, safe='')}"
        f"/files/{quote(filename, safe='')}"
    )


class WorkerApi:
    def __init__(self, transport: AsyncTransport, config: WorkerConfig) -> None:
        self.transport = transport
        self.config = config
        #: The largest request body the server accepts (from /api/v1/info when it says, else the default).
        self.max_body_bytes = DEFAULT_MAX_BODY_BYTES
        #: Sends the reports that finish while one is in flight together (``batch-report``; the runner turns it on).
        self.batcher = ReportBatcher(self._report_alone, self._report_batch, lambda: self.max_body_bytes)

    async def info(self) -> dict[str, Any]:
        response = await self.transport.request("GET", "/api/v1/info", authenticated=False)
        body = response.json()
        return body if isinstance(body, dict) else {}

    async def poll(
        self,
        max_activities: int,
        wait_seconds: int,
        activity_names: tuple[str, ...] | None,
        *,
        poll_id: str | None = None,
    ) -> list[Any]:
        """Claims up to ``max_activities``, holding the call up to ``wait_seconds`` (long-poll). ``poll_id`` names a
        long-poll so that this worker's completions can offer its slots while it waits (``claim_next_from_poll``);
        only a long-poll lends them, so it is sent only with ``wait_seconds``."""
        body: dict[str, Any] = {
            "worker": self.config.worker,
            "worker_id": self.config.worker_id,
            "max_activities": max_activities,
        }
        if wait_seconds > 0:
            body["wait_seconds"] = wait_seconds
            if poll_id:
                body["poll_id"] = poll_id
        if activity_names:
            body["activity_names"] = list(activity_names)
        response = await self.transport.request(
            "POST", "/api/v1/workers/poll", json=body, timeout=self.config.request_timeout + wait_seconds
        )
        activities = response.json().get("activities")
        return activities if isinstance(activities, list) else []

    async def heartbeat(self, activity_id: str) -> dict[str, Any]:
        try:
            response = await self.transport.request(
                "POST", _activity_path(activity_id, "heartbeat"), json={"worker_id": self.config.worker_id}
            )
        except ApiError as exc:
            raise self._lease_error(exc) from exc
        body = response.json()
        return body if isinstance(body, dict) else {}

    async def complete(
        self,
        activity_id: str,
        output: dict[str, Any],
        *,
        cost_usd: str | None,
        usage: list[dict[str, Any]] | None,
        retry_until: float | None,
        claim_next: int = 0,
        claim_next_from_poll: int = 0,
        poll_id: str | None = None,
        activity_names: tuple[str, ...] | None = None,
    ) -> dict[str, Any]:
        """Records a result. With ``claim_next`` (the ``claim-next`` extension, 1–100) the server also leases up to
        that many of the workflow's activities that are claimable once the result is recorded, on this worker's
        routing key and ``activity_names``, in the same transaction; they come back as ``activities``, each shaped
        like a poll's. ``claim_next_from_poll`` (0–100) with ``poll_id`` also offers the slots this worker's waiting
        long-poll ``poll_id`` holds: every activity in the answer beyond ``claim_next`` took one of them (the server
        takes them from that poll). A retry after a network error sends the same body: if the first attempt was
        recorded, the server answers the repeat with the activities the first one leased (still on their first
        lease) and claims nothing new."""
        body: dict[str, Any] = {"worker_id": self.config.worker_id, "output": output}
        if cost_usd is not None:
            body["cost_usd"] = cost_usd
        if usage:
            body["usage"] = usage
        if claim_next > 0:
            body["claim_next"] = claim_next
            body["worker"] = self.config.worker
            if claim_next_from_poll > 0 and poll_id:
                # The server's limit; a poll never holds more than poll_batch_size (at most 100) anyway.
                body["claim_next_from_poll"] = min(claim_next_from_poll, 100)
                body["poll_id"] = poll_id
            if activity_names:
                body["activity_names"] = list(activity_names)
        return await self._report(activity_id, "complete", body, retry_until)

    async def fail(
        self,
        activity_id: str,
        *,
        code: str,
        message: str,
        retryable: bool,
        cost_usd: str | None,
        usage: list[dict[str, Any]] | None,
        retry_until: float | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "worker_id": self.config.worker_id,
            "error": {"code": code, "message": message or code, "retryable": retryable},
        }
        if cost_usd is not None:
            body["cost_usd"] = cost_usd
        if usage:
            body["usage"] = usage
        return await self._report(activity_id, "fail", body, retry_until)

    async def upload_file(
        self, workflow_id: str, activity_key: str, filename: str, data: bytes, content_type: str | None
    ) -> dict[str, Any]:
        # The server accepts a file only from the worker holding the activity's lease, named by worker_id.
        response = await self.transport.request(
            "POST",
            _file_path(workflow_id, activity_key, filename),
            params={"worker_id": self.config.worker_id},
            content=data,
            content_type=content_type or "application/octet-stream",
        )
        body = response.json()
        return body if isinstance(body, dict) else {}

    async def publish_stream(self, activity_id: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Posts one frame of an activity's live stream: ``kind`` is ``token``, ``complete`` or ``error``. The body
        names this worker: the server takes frames only from the holder of the activity's lease."""
        response = await self.transport.request(
            "POST", _activity_path(activity_id, f"ws/{kind}"), json={**body, "worker_id": self.config.worker_id}
        )
        answer = response.json()
        return answer if isinstance(answer, dict) else {}

    async def download_file(self, workflow_id: str, activity_key: str, filename: str) -> bytes:
        response = await self.transport.request("GET", _file_path(workflow_id, activity_key, filename))
        return response.content

    async def _report(
        self, activity_id: str, action: str, body: dict[str, Any], retry_until: float | None
    ) -> dict[str, Any]:
        return await self.batcher.report(activity_id, action, body, retry_until)

    async def _report_batch(self, reports: list[bytes]) -> list[Any]:
        """``POST /api/v1/workers/report`` with already encoded reports (one attempt): one result per report."""
        data = b"".join(
            (b'{"worker_id":', json.dumps(self.config.worker_id, ensure_ascii=False).encode(), b',"reports":[', b",".join(reports), b"]}")
        )
        response = await self.transport.request("POST", REPORT_PATH, content=data, content_type="application/json")
        answer = response.json()
        results = answer.get("results") if isinstance(answer, dict) else None
        return results if isinstance(results, list) else []

    async def _report_alone(
        self, activity_id: str, action: str, body: dict[str, Any], retry_until: float | None
    ) -> dict[str, Any]:
        """Repeats a complete/fail after network errors and 5xx until the lease would have expired. A body over
        the server's limit is not sent (:class:`PayloadTooLargeError`), and neither is it repeated after a 413."""
        path = _activity_path(activity_id, action)
        # Encoded once, here: its size is checked before anything is sent, and retries reuse the bytes.
        data = encode_json(body).encode()
        limit = self.max_body_bytes
        if len(data) > limit:
            size = len(data)
            del data
            raise PayloadTooLargeError(
                f"the {action} body is {size} bytes, over the server's limit of {limit} bytes",
                size=size,
                limit=limit,
                path=path,
            )
        attempt = 0
        while True:
            try:
                response = await self.transport.request("POST", path, content=data, content_type="application/json")
                answer = response.json()
                return answer if isinstance(answer, dict) else {}
            except ApiError as exc:
                if exc.status_code == 409:
                    raise self._lease_error(exc) from exc
                if exc.status_code == 413:
                    raise PayloadTooLargeError(
                        f"the server refused the {len(data)}-byte {action} body as too large: {exc.message}",
                        size=len(data),
                        limit=limit,
                        path=path,
                    ) from exc
                if not exc.is_transient or retry_until is None:
                    raise
                delay = REPORT_BACKOFF.delay(attempt)
                if time.monotonic() + delay >= retry_until:
                    raise
                log.warning("%s of activity %s failed (%s); retrying in %.2f s", action, activity_id, exc, delay)
                await asyncio.sleep(delay)
                attempt += 1

    @staticmethod
    def _lease_error(exc: ApiError) -> ApiError:
        if exc.status_code == 409:
            return LeaseLostError(
                exc.message, status_code=409, code=exc.code, details=exc.details, method=exc.method, path=exc.path
            )
        return exc
