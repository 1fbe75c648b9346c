"""Where a script's prints go in a script process: during a run into the run's bounded capture, between runs to the
worker's log pipe (part of :mod:`spindle.py_std.child`; standard library only, for a fast start)."""

from __future__ import annotations

import io
import os
import threading

__all__ = ["CAPTURE_BYTES"]

#: What a script printed is kept up to this many bytes (its end).
CAPTURE_BYTES = 64 * 1024


class _PrefixedStream(io.TextIOBase):
    """During a run, keeps what is written in the run's bounded capture; between runs, writes whole lines to a file
    descriptor (the worker's log pipe), each prefixed with the running activity's id."""

    def __init__(self, fd: int, state: _State) -> None:
        self._fd = fd
        self._state = state
        self._buffer = ""
        self._lock = threading.Lock()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "replace"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self._lock:
            self._buffer += text
            if "\n" in self._buffer:
                *lines, self._buffer = self._buffer.split("\n")
                self._emit(lines)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._buffer:
                lines, self._buffer = [self._buffer], ""
                self._emit(lines)

    def _emit(self, lines: list[str]) -> None:
        capture = self._state.capture
        if capture is not None:
            self._state.captured(("\n".join(lines) + "\n").encode("utf-8", errors="replace"))
            return
        prefix = f"[{self._state.activity_id}] " if self._state.activity_id else ""
        data = "".join(f"{prefix}{line}\n" for line in lines).encode("utf-8", errors="replace")
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            pass  # the log pipe is gone; the run itself must not fail because of that


class _State:
    activity_id: str | None = None
    #: The running script's output (its last CAPTURE_BYTES), or None between runs.
    capture: bytearray | None = None
    captured_bytes = 0

    def captured(self, data: bytes) -> None:
        capture = self.capture
        if capture is None:
            return
        self.captured_bytes += len(data)
        capture += data[-CAPTURE_BYTES:]
        if len(capture) > CAPTURE_BYTES:
            del capture[: len(capture) - CAPTURE_BYTES]
