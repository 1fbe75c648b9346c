"""Exceptions raised by the Spindle SDK, and the one a handler raises to fail an activity with its own code."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .worker.context import Usage

__all__ = ["SpindleError", "ApiError", "AuthenticationError", "WorkflowTimeoutError", "ActivityError"]


class SpindleError(Exception):
    """Base class of the SDK's exceptions."""


class ApiError(SpindleError):
    """The server answered with an error status (or could not be reached, then ``status_code`` is 0).

    ``code``, ``message`` and ``details`` come from the error envelope (docs/api.md) when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 0,
        code: str | None = None,
        details: Any = None,
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.details = details
        self.method = method
        self.path = path

    @property
    def is_transient(self) -> bool:
        """True for failures worth repeating: no answer at all, 5xx, and 429."""
        return self.status_code == 0 or self.status_code >= 500 or self.status_code == 429

    @property
    def field_errors(self) -> dict[str, list[str]]:
        """``details.field_errors`` of a 422 answer, else empty."""
        if isinstance(self.details, dict) and isinstance(self.details.get("field_errors"), dict):
            return dict(self.details["field_errors"])
        return {}


class AuthenticationError(ApiError):
    """The token endpoint rejected the client credentials, or the server rejected a fresh token."""


class WorkflowTimeoutError(SpindleError, TimeoutError):
    """``wait`` gave up before the workflow reached a terminal status."""

    def __init__(self, workflow_id: str, timeout: float, last_status: str) -> None:
        super().__init__(f"Workflow {workflow_id} is still {last_status} after {timeout:g} s")
        self.workflow_id = workflow_id
        self.timeout = timeout
        self.last_status = last_status


class ActivityError(SpindleError):
    """Raise from a handler to fail the activity with this code (docs/worker-protocol.md).

    The server alone decides whether a ``retryable`` failure runs again. ``cost_usd`` and ``usage`` report what
    the failed attempt spent; it counts toward budgets.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool = False,
        cost_usd: Decimal | float | str | None = None,
        usage: list[Usage] | None = None,
    ) -> None:
        if not code:
            raise ValueError("ActivityError needs a non-empty code")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message or code
        self.retryable = retryable
        self.cost_usd = cost_usd
        self.usage = usage
