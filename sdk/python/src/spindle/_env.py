"""Reading ``SPINDLE_*`` settings, with the ``KRUXIAFLOW_*`` names as a fallback (docs/worker-protocol.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping

PREFIXES = ("SPINDLE_", "KRUXIAFLOW_")


def read(name: str, env: Mapping[str, str] | None = None) -> str | None:
    source = os.environ if env is None else env
    for prefix in PREFIXES:
        value = source.get(prefix + name)
        if value is not None and value.strip():
            return value.strip()
    return None


def read_int(name: str, env: Mapping[str, str] | None = None) -> int | None:
    value = read(name, env)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"SPINDLE_{name} must be an integer, got {value!r}") from None


def read_seconds(name: str, env: Mapping[str, str] | None = None) -> float | None:
    """Seconds as a number, optionally suffixed ``s`` (``"0.5"``, ``"30s"``)."""
    value = read(name, env)
    if value is None:
        return None
    text = value[:-1].rstrip() if value.endswith("s") else value
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"SPINDLE_{name} must be a number of seconds, got {value!r}") from None
    if seconds < 0:
        raise ValueError(f"SPINDLE_{name} must not be negative, got {value!r}")
    return seconds


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def read_bool(name: str, env: Mapping[str, str] | None = None) -> bool | None:
    """``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off`` (any case)."""
    value = read(name, env)
    if value is None:
        return None
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"SPINDLE_{name} must be true or false (1/0, yes/no, on/off), got {value!r}")
