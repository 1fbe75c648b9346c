"""Framing between the py-std worker and its script processes: a 4-byte big-endian length, then UTF-8 JSON.

Standard library only: the script processes import it at start-up.
"""

from __future__ import annotations

import json
import struct
from typing import Any

HEADER = struct.Struct(">I")
#: Upper bound of one message; the server accepts request bodies up to 50 MiB, so nothing larger could be sent on.
MAX_MESSAGE = 64 * 1024 * 1024

# One encoder for every message: json.dumps with options builds a new JSONEncoder at each call, which costs more
# than encoding a small message.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def encode(message: dict[str, Any]) -> bytes:
    data = _ENCODE(message).encode("utf-8")
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"message of {len(data)} bytes exceeds the {MAX_MESSAGE}-byte limit")
    return HEADER.pack(len(data)) + data


def decode(payload: bytes) -> dict[str, Any]:
    message = json.loads(payload.decode("utf-8"))
    if not isinstance(message, dict):
        raise ValueError("a wire message must be a JSON object")
    return message
