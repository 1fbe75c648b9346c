"""The protocol pipes of a script interpreter (its side). Standard library only: imported at start-up."""

from __future__ import annotations

import os
import queue
import threading
import traceback
from typing import TYPE_CHECKING, Any

from spindle.py_std import _wire

if TYPE_CHECKING:
    import asyncio

__all__ = ["Channel"]


class Channel:
    """The protocol pipes: messages out (any thread) and messages in.

    Between runs the main thread reads the next run itself. A reader thread, which also takes the replies to ``ctx``
    calls, starts with the first call and from then on reads everything, handing runs over through a queue."""

    def __init__(self, in_fd: int, out_fd: int) -> None:
        self._in_fd = in_fd
        self._pending = bytearray()
        self._out_fd = out_fd
        self._write_lock = threading.Lock()
        self.runs: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._calls: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = {}
        self._calls_lock = threading.Lock()
        self._next_call = 0
        self._reader_thread: threading.Thread | None = None
        #: True while the main thread waits for a run on the pipe itself (no script runs then).
        self._direct = False

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(_wire.encode(message))

    def send_raw(self, data: bytes) -> None:
        with self._write_lock:
            view = memoryview(data)
            while view:
                written = os.write(self._out_fd, view)
                view = view[written:]

    def _read_message(self) -> dict[str, Any] | None:
        """The next message, or None at EOF; one thread at a time."""
        pending = self._pending
        size = _wire.HEADER.size
        while True:
            if len(pending) >= size:
                end = size + _wire.HEADER.unpack_from(pending)[0]
                if len(pending) >= end:
                    payload = bytes(pending[size:end])
                    del pending[:end]
                    return _wire.decode(payload)
            chunk = os.read(self._in_fd, 1 << 16)
            if not chunk:
                return None
            pending += chunk

    def next_run(self) -> dict[str, Any] | None:
        """The next message for the main thread (None once the worker closed the pipe)."""
        with self._calls_lock:
            self._direct = self._reader_thread is None
        if not self._direct:
            return self.runs.get()
        try:
            while True:
                message = self._read_message()
                if message is None or message.get("type") != "reply":
                    return message
                self._resolve(message)
        except Exception:  # noqa: BLE001 - a broken pipe or message ends the process, as EOF does
            traceback.print_exc()
            return None
        finally:
            with self._calls_lock:
                self._direct = False

    @property
    def threads(self) -> int:
        """The threads of the channel itself: 0 or 1 (the reader)."""
        return 0 if self._reader_thread is None else 1

    def _start_reader(self) -> None:
        # Called with _calls_lock held, during a run: the main thread is not reading.
        if self._reader_thread is None:
            self._reader_thread = threading.Thread(target=self.reader, name="spindle-channel", daemon=True)
            self._reader_thread.start()

    def reader(self) -> None:
        try:
            while True:
                message = self._read_message()
                if message is None:
                    break
                if message.get("type") == "reply":
                    self._resolve(message)
                else:
                    self.runs.put(message)
        finally:
            self.runs.put(None)  # the worker closed the pipe: finish the current run, then exit

    def _resolve(self, message: dict[str, Any]) -> None:
        with self._calls_lock:
            entry = self._calls.pop(int(message.get("call_id", -1)), None)
        if entry is None:
            return
        loop, future = entry

        def settle() -> None:
            if future.done():
                return
            if message.get("ok"):
                future.set_result(message.get("value"))
            else:
                future.set_exception(RuntimeError(str(message.get("error") or "ctx call failed")))

        try:
            loop.call_soon_threadsafe(settle)
        except RuntimeError:
            pass  # the script's loop is gone; nobody waits for this reply any more

    async def call(self, method: str, args: dict[str, Any]) -> Any:
        import asyncio

        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._calls_lock:
            if self._direct:
                raise RuntimeError("no script is running")
            self._start_reader()
            self._next_call += 1
            call_id = self._next_call
            self._calls[call_id] = (loop, future)
        self.send({"type": "call", "call_id": call_id, "method": method, "args": args})
        try:
            return await future
        finally:
            with self._calls_lock:
                self._calls.pop(call_id, None)
