from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from .context import ActivityContext

if TYPE_CHECKING:
    from .runner import Worker

__all__ = ["ActivityHandler", "FunctionHandler", "ActivityRegistry", "format_seconds"]


def format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


class ActivityHandler(ABC):
    """An activity implementation. Plain functions are wrapped in :class:`FunctionHandler`; subclass this for
    handlers that own resources (the py-std script pool) or stop work in their own way."""

    async def startup(self, worker: Worker) -> None:
        """Called once before the worker polls."""

    async def shutdown(self) -> None:
        """Called once after the last activity was reported."""

    @abstractmethod
    async def run(self, ctx: ActivityContext) -> Any:
        """Executes one activity. Cancellation of this coroutine means: stop now (timeout, cancel, shutdown)."""

    def timeout_message(self, seconds: float) -> str:
        return f"Activity exceeded timeout of {format_seconds(seconds)} s"


class FunctionHandler(ActivityHandler):
    """A plain function, sync or async, called as ``fn()``, ``fn(parameters)`` or ``fn(parameters, ctx)``
    depending on how many positional parameters it takes. Sync functions run on the worker's thread pool."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))
        self.arity = _positional_arity(fn)
        self._executor: Executor | None = None

    async def startup(self, worker: Worker) -> None:
        self._executor = worker.executor

    def _args(self, ctx: ActivityContext) -> tuple[Any, ...]:
        return (ctx.parameters, ctx)[: self.arity]

    async def run(self, ctx: ActivityContext) -> Any:
        args = self._args(ctx)
        if self.is_async:
            return await self.fn(*args)
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, self.fn, *args)
        result = await loop.run_in_executor(self._executor, call)
        if inspect.isawaitable(result):
            # A sync wrapper around an async implementation (e.g. a decorated function) still works.
            return await result
        return result


def _positional_arity(fn: Callable[..., Any]) -> int:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return 2
    count = 0
    for p in signature.parameters.values():
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            return 2
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return min(count, 2)


class ActivityRegistry:
    """Maps ``activity_name`` to handlers."""

    def __init__(self) -> None:
        self._handlers: dict[str, ActivityHandler] = {}

    def register(self, name: str, handler: ActivityHandler | Callable[..., Any]) -> ActivityHandler:
        if not name:
            raise ValueError("activity name must not be empty")
        if name in self._handlers:
            raise ValueError(f"activity {name!r} is already registered")
        wrapped = handler if isinstance(handler, ActivityHandler) else FunctionHandler(handler)
        self._handlers[name] = wrapped
        return wrapped

    def get(self, name: str) -> ActivityHandler | None:
        return self._handlers.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._handlers)

    def __iter__(self) -> Iterator[ActivityHandler]:
        return iter(list(self._handlers.values()))

    def __len__(self) -> int:
        return len(self._handlers)
