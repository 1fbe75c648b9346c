"""Resource limits of a script interpreter (setrlimit). Standard library only: imported at start-up."""

from __future__ import annotations

import contextlib
import resource
import signal
from typing import Any

__all__ = ["MIB", "CpuLimitExceeded", "set_limits", "set_soft", "suppress_oserror"]

MIB = 1024 * 1024


class CpuLimitExceeded(BaseException):
    """Raised in the script by SIGXCPU: its CPU time passed the limit (a BaseException so that ``except Exception``
    in the script does not swallow it)."""


def _on_cpu_limit(signum: int, frame: Any) -> None:
    raise CpuLimitExceeded()


@contextlib.contextmanager
def suppress_oserror() -> Any:
    try:
        yield
    except OSError:
        pass


def set_soft(kind: int, value: int) -> None:
    """Sets a soft limit, never above the hard one (which only the worker's limits set, at start)."""
    try:
        _, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY and (value == resource.RLIM_INFINITY or value > hard):
            value = hard
        resource.setrlimit(kind, (value, hard))
    except (ValueError, OSError):
        pass


def set_limits(limits: dict[str, int], dedicated_user: bool) -> None:
    """The interpreter's hard limits (a script can lower them, never raise them); per script, only soft limits move."""
    memory = limits.get("memory_mb")
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory * MIB, memory * MIB))
    size = limits.get("file_size_mb")
    if size:
        # Past the limit a write fails with EFBIG instead of the process being killed by SIGXFSZ.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size * MIB, size * MIB))
    processes = limits.get("max_processes")
    if processes and dedicated_user:
        # Counted per user: only meaningful when scripts have a user (or user namespace) to themselves.
        with suppress_oserror():
            resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    if limits.get("cpu_seconds"):
        signal.signal(signal.SIGXCPU, _on_cpu_limit)
