from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """Capped exponential backoff with jitter.

    Retry ``n`` (from 0) waits ``min(max_seconds, initial_seconds * factor**n)`` scaled by a random factor in
    ``[1 - jitter, 1]``, so that many workers restarting together do not hit the server in lockstep.
    """

    initial_seconds: float = 0.2
    max_seconds: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5

    def capped(self, attempt: int) -> float:
        attempt = max(0, min(attempt, 64))
        return min(self.max_seconds, self.initial_seconds * self.factor**attempt)

    def delay(self, attempt: int, sample: float | None = None) -> float:
        s = random.random() if sample is None else min(1.0, max(0.0, sample))
        return self.capped(attempt) * (1.0 - self.jitter + self.jitter * s)


#: A failing poll loop (server down, 5xx, rejected credentials).
POLL_BACKOFF = Backoff(initial_seconds=0.2, max_seconds=30.0)
#: Repeating a complete/fail report until the lease would have expired.
REPORT_BACKOFF = Backoff(initial_seconds=0.1, max_seconds=5.0)
#: The management client's retries of calls that are safe to repeat.
CLIENT_BACKOFF = Backoff(initial_seconds=0.2, max_seconds=2.0)
