from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import _env
from .._transport import normalise_base_url

__all__ = ["WorkerConfig", "new_worker_id"]


def new_worker_id() -> str:
    """``worker_<12 hex>``, the default lease owner name."""
    return "worker_" + secrets.token_hex(6)


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    """Settings of one worker process (docs/worker-protocol.md). Times are in seconds.

    Build it directly, or with :meth:`from_env`, which reads ``SPINDLE_*`` variables (``KRUXIAFLOW_*`` accepted)
    and then applies keyword overrides.
    """

    #: Server base URL (``SPINDLE_API_URL``). Required.
    api_url: str
    #: Routing key served (``SPINDLE_WORKER``). Required.
    worker: str
    #: Lease owner name, unique per process (``SPINDLE_WORKER_ID``).
    worker_id: str = field(default_factory=new_worker_id)
    #: OAuth client credentials (``SPINDLE_CLIENT_ID`` / ``SPINDLE_CLIENT_SECRET``). Without an id no token is
    #: fetched or sent, which only an insecure-dev server accepts.
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    #: Token endpoint; default ``<api_url>/api/v1/oauth/token``.
    token_url: str | None = None
    #: Activities run at the same time (``SPINDLE_WORKER_MAX_ACTIVITIES``).
    max_concurrency: int = 16
    #: Most activities claimed by one poll (``SPINDLE_WORKER_POLL_MAX_ACTIVITIES``, 1–100).
    poll_batch_size: int = 10
    #: Long-poll wait, 0–30 (``SPINDLE_WORKER_POLL_WAIT_SECONDS``); used only when the server lists ``long-poll``.
    poll_wait_seconds: int = 20
    #: Pause after an empty poll when not long-polling (``SPINDLE_WORKER_POLL_INTERVAL``).
    poll_interval: float = 0.1
    #: Execution limit when the activity has no ``timeout_seconds`` (``SPINDLE_WORKER_ACTIVITY_TIMEOUT``).
    activity_timeout: float = 300.0
    #: Longest heartbeat interval; the server's ``next_heartbeat_seconds`` (half the lease) caps it
    #: (``SPINDLE_WORKER_HEARTBEAT_INTERVAL``).
    heartbeat_interval: float = 30.0
    #: How long running activities may finish after SIGTERM/SIGINT (``SPINDLE_WORKER_SHUTDOWN_TIMEOUT``).
    shutdown_timeout: float = 30.0
    #: HTTP timeout of one call other than a poll (a poll adds its wait).
    request_timeout: float = 30.0
    #: Claim only these activity names. ``None`` means the registered names when the server supports the
    #: ``activity-filter`` extension, so a worker never claims work it has no handler for.
    activity_names: tuple[str, ...] | None = None
    #: Ask for the next activities with each completion when the server lists ``claim-next``
    #: (``SPINDLE_WORKER_CLAIM_NEXT``, default on): the server leases the workflow's next steps to this worker in
    #: the transaction that records the result, saving a poll: into the completing activity's slot and the slots of
    #: the worker's waiting long-poll (the server takes only what the result unblocked), or, when no long-poll lends,
    #: up to ``min(free slots, poll_batch_size)``.
    claim_next: bool = True
    #: Send the results that finish while a report is in flight together, in one ``POST /api/v1/workers/report``,
    #: when the server lists ``batch-report`` (``SPINDLE_WORKER_BATCH_REPORTS``, default off: measured slower than
    #: single reports, see docs/performance-notes.md). A lone result is still sent at once.
    batch_reports: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_url", normalise_base_url(self.api_url))
        if not self.worker or not self.worker.strip():
            raise ValueError("worker (the routing key) must not be empty")
        if not self.worker_id or len(self.worker_id) > 255:
            raise ValueError("worker_id must be 1-255 characters")
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if not 1 <= self.poll_batch_size <= 100:
            raise ValueError("poll_batch_size must be within 1-100")
        if not 0 <= self.poll_wait_seconds <= 30:
            raise ValueError("poll_wait_seconds must be within 0-30")
        for name in ("activity_timeout", "heartbeat_interval", "request_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.shutdown_timeout < 0 or self.poll_interval < 0:
            raise ValueError("shutdown_timeout and poll_interval must not be negative")
        if self.activity_names is not None:
            if isinstance(self.activity_names, str):
                raise ValueError("activity_names must be a sequence of names, not a string")
            object.__setattr__(self, "activity_names", tuple(self.activity_names))
            if not self.activity_names:
                raise ValueError("activity_names must be None or non-empty")

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        default_worker: str | None = None,
        read_worker_type: bool = False,
        **overrides: Any,
    ) -> WorkerConfig:
        """Reads the environment, then applies ``overrides`` (keyword names of the fields; ``None`` is ignored).

        ``default_worker`` is the routing key when neither an override nor ``SPINDLE_WORKER`` gives one;
        ``read_worker_type`` also accepts ``SPINDLE_WORKER_TYPE``, as the py-std worker does.
        """
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"unknown worker option(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        api_url = _env.read("API_URL", env)
        if api_url:
            values["api_url"] = api_url
        worker = _env.read("WORKER", env) or (_env.read("WORKER_TYPE", env) if read_worker_type else None)
        if worker or default_worker:
            values["worker"] = worker or default_worker
        for name, key in (("worker_id", "WORKER_ID"), ("client_id", "CLIENT_ID"), ("client_secret", "CLIENT_SECRET")):
            value = _env.read(key, env)
            if value:
                values[name] = value
        for name, key in (
            ("max_concurrency", "WORKER_MAX_ACTIVITIES"),
            ("poll_batch_size", "WORKER_POLL_MAX_ACTIVITIES"),
            ("poll_wait_seconds", "WORKER_POLL_WAIT_SECONDS"),
        ):
            number = _env.read_int(key, env)
            if number is not None:
                values[name] = number
        for name, key in (
            ("poll_interval", "WORKER_POLL_INTERVAL"),
            ("activity_timeout", "WORKER_ACTIVITY_TIMEOUT"),
            ("heartbeat_interval", "WORKER_HEARTBEAT_INTERVAL"),
            ("shutdown_timeout", "WORKER_SHUTDOWN_TIMEOUT"),
        ):
            seconds = _env.read_seconds(key, env)
            if seconds is not None:
                values[name] = seconds
        claim_next = _env.read_bool("WORKER_CLAIM_NEXT", env)
        if claim_next is not None:
            values["claim_next"] = claim_next
        batch_reports = _env.read_bool("WORKER_BATCH_REPORTS", env)
        if batch_reports is not None:
            values["batch_reports"] = batch_reports
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "api_url" not in values:
            raise ValueError("The Spindle API URL is required: pass api_url=… or set SPINDLE_API_URL")
        if "worker" not in values:
            raise ValueError("The routing key is required: pass worker=… or set SPINDLE_WORKER")
        return cls(**values)
