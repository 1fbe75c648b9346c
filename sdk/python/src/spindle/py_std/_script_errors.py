"""A failed script's message: its traceback without the worker's frames, cut to a bound (part of
:mod:`spindle.py_std.child`; standard library only)."""

from __future__ import annotations

import os
import traceback
from typing import Any

__all__ = ["SCRIPT_FILENAME", "MAX_MESSAGE_CHARS", "format_script_error"]

SCRIPT_FILENAME = "<script>"
MAX_MESSAGE_CHARS = 32 * 1024
#: The spindle package: frames from its files are the worker's machinery, not the script's.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _clip(text: str) -> str:
    if len(text) <= MAX_MESSAGE_CHARS and len(text.encode("utf-8", errors="replace")) <= MAX_MESSAGE_CHARS:
        return text
    data = text.encode("utf-8", errors="replace")[-(MAX_MESSAGE_CHARS - 3) :]
    return "…" + data.decode("utf-8", errors="ignore")


def _is_internal(filename: str) -> bool:
    return filename != SCRIPT_FILENAME and os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep)


def _filter(te: traceback.TracebackException, seen: set[int]) -> None:
    if id(te) in seen:
        return
    seen.add(id(te))
    frames = list(te.stack)
    first = next((i for i, f in enumerate(frames) if f.filename == SCRIPT_FILENAME), None)
    if first is not None:
        # Everything above the script's first frame is the worker's machinery (eval, the event loop).
        frames = frames[first:]
    te.stack = traceback.StackSummary.from_list([f for f in frames if not _is_internal(f.filename)])
    for linked in (te.__cause__, te.__context__):
        if linked is not None:
            _filter(linked, seen)


def format_script_error(exc: BaseException) -> str:
    """``<Type>: <message>``, a blank line, then the traceback without worker frames, cut to its last 32 KiB."""
    text = str(exc)
    head = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    _filter(te, set())
    return _clip(f"{head}\n\n{''.join(te.format())}".rstrip("\n"))


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "result", "ok": False, "code": code, "message": _clip(message)}
