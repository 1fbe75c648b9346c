"""The worker's slots and who holds them: running executions, polls, and claim-next completions in flight.

A worker never asks for more activities than it can start at once: a poll asks for ``min(free, batch)`` and holds
those slots until its answer; a claim-next completion holds the completed activity's own slot and, when no long-poll
lends, free slots taken up front until its answer.

A completion sent while the worker's long-poll waits may offer that poll's slots (``claim_next_from_poll`` with the
poll's ``poll_id``): the server then leases the work the result unblocked in the completing transaction, taking the
slots from the poll, so the poll can return that many fewer activities. Between them, the poll's answer and the
answers of the completions that offered it never bring more activities than the poll held. Those answers arrive in
any order, so this ledger counts the same way whichever comes first: a slot is handed to an activity only once, and
the slots nobody used go back only when no answer that might still use them is outstanding.

Mirrors ``SlotLedger`` of the .NET worker (src/Spindle.Worker/SlotLedger.cs). No lock: every call is made on the
worker's event loop, and none of them awaits.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ClaimNextReservation", "PollReservation", "SlotLedger"]

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


@dataclass(eq=False)
class ClaimNextReservation:
    """What a claim-next completion asks for, and the slots it holds until its answer."""

    #: ``claim_next``: the completed activity's own slot and the free slots taken up front.
    own: int
    #: ``claim_next_from_poll``: slots of the waiting long-poll :attr:`poll` offered as well.
    from_poll: int = 0
    poll: PollReservation | None = None
    #: Free slots taken up front (only when no long-poll lends).
    extra: int = 0

    @property
    def poll_id(self) -> str | None:
        return self.poll.id if self.poll is not None else None


class SlotLedger:
    """The ledger: :meth:`begin` when a poll is sent and :meth:`end` when it answers (or fails);
    :meth:`begin_claim_next` when a claim-next completion is sent and :meth:`end_claim_next` when its answer (or
    failure) arrives (built on :meth:`offer` and :meth:`settle` of the waiting poll's slots). Slots handed to
    activities (the counts :meth:`end` and :meth:`end_claim_next` return) leave the ledger; the caller starts those
    activities at once, and they count as ``running`` from then on. Slots released go to ``release``."""

    def __init__(
        self,
        capacity: int,
        *,
        running: Callable[[], int] | None = None,
        release: Callable[[int], None] | None = None,
    ) -> None:
        self._capacity = capacity
        self._running = running
        self._release = release
        self._waiting: PollReservation | None = None
        self._held = 0
        self._reserved = 0

    def free(self) -> int:
        """Slots nobody holds: not running an activity, not held by a poll, not taken up front by a completion."""
        running = self._running() if self._running is not None else 0
        return self._capacity - running - self._reserved - self._held

    @property
    def reserved(self) -> int:
        """Free slots taken up front by claim-next completions in flight."""
        return self._reserved

    def begin_claim_next(self, batch: int, dependents: int | None = None) -> ClaimNextReservation:
        """A claim-next completion is about to be sent. The waiting long-poll's slots: a fan-out the result unblocks is
        then leased right there, instead of one wake-up and one claim later by the poll, which would fill those slots
        with it anyway; the server takes only as many as the result unblocked. Free slots are taken up front (and held
        until the answer whether used or not) only when no poll lends: taken by every completion in flight, they
        would starve the poll and the fan-outs of other workflows, while most completions (a chain's step, a branch
        before its join) unblock one activity or none. With ``dependents`` (the claim's count of activities that wait
        on this one) free slots are taken for those only, whether a poll lends or not: the poll lends only while it is
        idle, which under load it rarely is. Every reservation must be :meth:`end_claim_next`-ed."""
        poll, lent = self.offer()
        if dependents is not None:
            wanted = min(batch, max(1, dependents))
        else:
            wanted = batch if poll is None else 1
        extra = max(0, min(wanted - 1, self.free()))
        self._reserved += extra
        return ClaimNextReservation(own=1 + extra, from_poll=lent, poll=poll, extra=extra)

    def end_claim_next(self, claim: ClaimNextReservation, activities: int) -> int:
        """The completion's answer brought ``activities`` activities (0 when it failed): how many of those beyond its
        own ``claim_next`` own one of the poll's slots (the server took every one beyond it from the poll, and so does
        the worker). The free slots taken up front go back to the free count."""
        self._reserved -= claim.extra
        if claim.poll is None:
            return 0
        return self.settle(claim.poll, max(0, activities - claim.own))

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
