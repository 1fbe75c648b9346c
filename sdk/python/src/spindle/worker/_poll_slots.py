"""The slots a worker's long-poll holds while it waits, which claim-next completions may lend to the server.

A completion sent while the worker's long-poll waits may offer that poll's slots (``claim_next_from_poll`` with the
poll's ``poll_id``): the server then leases the work the result unblocked in the completing transaction, taking the
slots from the poll, so the poll can return that many fewer activities. Between them, the poll's answer and the
answers of the completions that offered it never bring more activities than the poll held. Those answers arrive in
any order, so this ledger counts the same way whichever comes first: a slot is handed to an activity only once, and
the slots nobody used go back only when no answer that might still use them is outstanding.

Mirrors ``PollSlots`` of the .NET worker (src/Spindle.Worker/PollSlots.cs). No lock: every call is made on the
worker's event loop, and none of them awaits.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PollReservation", "PollSlots"]

# Process-wide, not per worker: a poll_id then names one poll even if two workers in this process share a worker_id.
_poll_ids = itertools.count(1)


@dataclass(eq=False)
class PollReservation:
    """One poll's slots, from when it is sent until its answer and every offer of its slots have settled."""

    #: The poll's name on the wire (``poll_id``).
    id: str
    #: Whether completions may offer its slots: only a named long-poll lends them on the server.
    lendable: bool
    #: Slots still held for this poll: neither handed to an activity nor released.
    slots: int
    #: Completions that offered the slots and have not had their answer yet.
    open_offers: int = 0
    answered: bool = False


class PollSlots:
    """The ledger: :meth:`begin` when a poll is sent, :meth:`offer` when a claim-next completion is sent while it
    waits, :meth:`settle` when that completion's answer (or failure) arrives, :meth:`end` when the poll answers (or
    fails). Slots handed to activities (the counts :meth:`end` and :meth:`settle` return) leave the ledger; the caller
    starts those activities at once. Slots released go to ``release``."""

    def __init__(self, *, release: Callable[[int], None] | None = None) -> None:
        self._release = release
        self._waiting: PollReservation | None = None
        self._held = 0

    @property
    def held(self) -> int:
        """Slots the ledger holds: a waiting poll's, and an answered poll's leftovers while offers of them are open.
        They are not free: an answer still on its way may hand them to activities."""
        return self._held

    def begin(self, slots: int, *, lendable: bool = True) -> PollReservation:
        """A poll asking for ``slots`` activities is about to be sent; its reservation holds them from now on."""
        if slots < 0:
            raise ValueError("slots must not be negative")
        poll = PollReservation(id=str(next(_poll_ids)), lendable=lendable, slots=slots)
        self._waiting = poll
        self._held += slots
        return poll

    def end(self, poll: PollReservation, activities: int) -> int:
        """The poll answered with ``activities`` activities (0 when it failed or was aborted): how many of them own one
        of its slots. The leftover goes back now, or once the last completion that offered it has its answer (until
        then the server may still lease it to that completion)."""
        if poll.answered:
            raise RuntimeError(f"poll {poll.id} already ended")
        poll.answered = True
        if self._waiting is poll:
            self._waiting = None
        owned = min(max(0, activities), poll.slots)
        self._take(poll, owned)
        if poll.open_offers == 0:
            self._give_back(poll)
        return owned

    def offer(self) -> tuple[PollReservation | None, int]:
        """A claim-next completion is about to be sent: the waiting poll whose slots it may offer (None: no lendable
        poll waits, or it holds no slot) and how many. Every offer returned must be :meth:`settle`-d."""
        poll = self._waiting
        if poll is None or not poll.lendable or poll.slots <= 0:
            return None, 0
        poll.open_offers += 1
        return poll, poll.slots

    def settle(self, poll: PollReservation, taken: int) -> int:
        """The offering completion got its answer: ``taken`` of its activities came beyond its own ``claim_next``, i.e.
        from the poll (0 when it failed). Answers how many of them own one of the poll's slots."""
        if poll.open_offers <= 0:
            raise RuntimeError(f"poll {poll.id} has no open offer to settle")
        poll.open_offers -= 1
        covered = min(max(0, taken), poll.slots)
        self._take(poll, covered)
        if poll.answered and poll.open_offers == 0:
            self._give_back(poll)
        return covered

    def _take(self, poll: PollReservation, slots: int) -> None:
        poll.slots -= slots
        self._held -= slots

    def _give_back(self, poll: PollReservation) -> None:
        leftover = poll.slots
        if leftover > 0:
            self._take(poll, leftover)
            if self._release is not None:
                self._release(leftover)
