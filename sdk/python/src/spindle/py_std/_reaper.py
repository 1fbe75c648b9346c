"""Finding and killing the processes a script left behind. Standard library only: the script interpreter imports it."""

from __future__ import annotations

import contextlib
import os
import signal

__all__ = ["descendants", "kill_descendants", "become_subreaper"]


def become_subreaper() -> bool:
    """PR_SET_CHILD_SUBREAPER: orphans below this process (a double fork, a ``setsid`` daemon) are re-parented to it
    instead of to init, so they can still be found and killed."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except Exception:  # noqa: BLE001 - not Linux
        return False


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, parents before their children (read from ``/proc/<pid>/task/*/children``)."""
    found: list[int] = []
    queue = [pid]
    while queue:
        current = queue.pop(0)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as f:
                    children = [int(c) for c in f.read().split()]
            except (OSError, ValueError):
                continue
            for child in children:
                if child not in found:
                    found.append(child)
                    queue.append(child)
    return found


def kill_descendants(pid: int, rounds: int = 50) -> None:
    """SIGKILLs everything below ``pid`` (which must be a child subreaper, so that the children of a killed process
    come back to it and are found in the next round), until nothing is left or ``rounds`` ran out."""
    for _ in range(rounds):
        found = descendants(pid)
        if not found:
            return
        for child in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
