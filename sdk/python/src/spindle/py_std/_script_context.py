"""``ctx`` inside a script, and the event loop a run gets when it awaits something (part of
:mod:`spindle.py_std.child`; asyncio is imported only when needed, for a fast start)."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from spindle.py_std._channel import Channel

if TYPE_CHECKING:
    import asyncio

__all__ = ["ScriptContext"]


class ScriptContext:
    """``ctx`` inside a script (docs/worker-protocol.md). The awaitables are relayed through the worker, which
    holds the credentials."""

    def __init__(self, channel: Channel, message: dict[str, Any], logger: logging.Logger) -> None:
        self._channel = channel
        self.workflow_id: str = message.get("workflow_id", "")
        self.activity_id: str = message.get("activity_id", "")
        self.activity_key: str = message.get("activity_key", "")
        self.attempt: int = int(message.get("attempt") or 1)
        self.iteration: int = int(message.get("iteration") or 0)
        self.signal: Any = message.get("signal")
        self.logger = logger

    def __repr__(self) -> str:
        return f"<ctx {self.activity_key} of workflow {self.workflow_id} (attempt {self.attempt})>"

    async def heartbeat(self) -> bool:
        """Sends a heartbeat now; True when the workflow asked to stop (the worker then ends this process)."""
        return bool(await self._channel.call("heartbeat", {}))

    async def download_file(self, ref: str) -> str:
        """Downloads a stored file into the working directory; returns its local path."""
        dest = os.path.abspath(os.path.basename(ref.rstrip("/")) or "download")
        return str(await self._channel.call("download_file", {"ref": ref, "dest": dest}))

    async def upload_file(self, local_path: str, filename: str | None = None) -> str:
        """Uploads a local file as an output file of this activity; returns its reference."""
        path = os.path.abspath(local_path)
        return str(await self._channel.call("upload_file", {"path": path, "filename": filename or os.path.basename(path)}))

    async def stream(self, chunk: Any) -> int:
        """Publishes one chunk of this activity's live stream (a string, or JSON); returns the subscriber count."""
        return int(await self._channel.call("stream", {"chunk": chunk}) or 0)

    def stream_now(self, chunk: Any) -> Any:
        """``STREAM(chunk)`` in a script: publishes at once from synchronous code; in async code it returns the
        awaitable (``await STREAM(chunk)``)."""
        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.stream(chunk))
        return self.stream(chunk)


class _LoopRunner:
    """One event loop per run, created only when the script awaits something."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    def run(self, awaitable: Awaitable[Any]) -> Any:
        import asyncio

        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
        return self.loop.run_until_complete(_as_coroutine(awaitable))

    def close(self) -> None:
        loop = self.loop
        if loop is None:
            return
        import asyncio

        self.loop = None
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
