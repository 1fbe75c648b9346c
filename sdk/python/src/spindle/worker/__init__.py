"""The worker framework: register plain functions as activities and serve them with :class:`Worker`."""

from ..errors import ActivityError
from .config import WorkerConfig, new_worker_id
from .context import ActivityContext, ActivityResult, Usage
from .handlers import ActivityHandler, ActivityRegistry, FunctionHandler
from .runner import Worker, WorkerStats

__all__ = [
    "Worker",
    "WorkerConfig",
    "WorkerStats",
    "ActivityContext",
    "ActivityResult",
    "ActivityError",
    "ActivityHandler",
    "ActivityRegistry",
    "FunctionHandler",
    "Usage",
    "new_worker_id",
]
