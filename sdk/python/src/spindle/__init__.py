"""Spindle Python SDK: a worker framework, management clients, and the ready-made ``py-std`` worker.

Names are imported lazily so that light users (the script subprocesses of the py-std worker import
``spindle.jsonconv``) do not pay for httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .client import AsyncSpindleClient, SpindleClient
    from .errors import ActivityError, ApiError, AuthenticationError, SpindleError, WorkflowTimeoutError
    from .definitions import load_definition
    from .models import Workflow
    from .worker import ActivityContext, ActivityResult, Usage, Worker, WorkerConfig

__all__ = [
    "__version__",
    "SpindleClient",
    "AsyncSpindleClient",
    "Worker",
    "WorkerConfig",
    "ActivityContext",
    "ActivityResult",
    "Usage",
    "Workflow",
    "SpindleError",
    "ApiError",
    "AuthenticationError",
    "WorkflowTimeoutError",
    "ActivityError",
    "load_definition",
]

_LAZY = {
    "SpindleClient": ".client",
    "AsyncSpindleClient": ".client",
    "Worker": ".worker",
    "WorkerConfig": ".worker",
    "ActivityContext": ".worker",
    "ActivityResult": ".worker",
    "Usage": ".worker",
    "Workflow": ".models",
    "SpindleError": ".errors",
    "ApiError": ".errors",
    "AuthenticationError": ".errors",
    "WorkflowTimeoutError": ".errors",
    "ActivityError": ".errors",
    "load_definition": ".definitions",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'spindle' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
