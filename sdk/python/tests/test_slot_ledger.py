"""The worker's slot ledger, above all the long-poll slots that claim-next completions lend to the server.

The server takes lent slots from the poll itself, so the poll's answer and the answers of the completions that offered
it never bring more activities than the poll held; these tests pin that the worker counts the same way whichever
answer arrives first, and releases a slot only once no outstanding answer can still use it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import spindle.worker.runner as runner_module
from spindle.worker import Worker, WorkerConfig
from spindle.worker._slot_ledger import SlotLedger


class Ledger:
    """A :class:`SlotLedger` that records what it releases."""

    def __init__(self) -> None:
        self.released = 0
        self.slots = SlotLedger(8, release=self._release)

    def _release(self, slots: int) -> None:
        self.released += slots


def test_a_poll_nobody_offered_owns_its_activities_and_releases_the_rest_when_it_answers() -> None:
    ledger = Ledger()
    poll = ledger.slots.begin(5)
    assert ledger.slots.held == 5
    assert ledger.slots.end(poll, 2) == 2
    assert ledger.released == 3
    assert ledger.slots.held == 0
    assert ledger.slots.offer() == (None, 0), "answered: nothing left to offer"


def test_completion_answered_before_the_poll_its_activities_take_the_polls_slots() -> None:
    ledger = Ledger()
    poll = ledger.slots.begin(4)
    offered_from, offered = ledger.slots.offer()
    assert offered_from is poll and offered == 4

    assert ledger.slots.settle(poll, 3) == 3  # the server took three of the poll's slots for the completion
    assert (ledger.released, ledger.slots.held) == (0, 1)
    assert ledger.slots.offer() == (poll, 1), "a later completion may offer only what is left"
    assert ledger.slots.settle(poll, 0) == 0
    assert ledger.slots.end(poll, 1) == 1  # the poll could bring at most the one left
    assert (ledger.released, ledger.slots.held) == (0, 0)


def test_poll_answered_while_a_completion_waits_holds_its_leftover_until_the_completion_settles() -> None:
    ledger = Ledger()
    poll = ledger.slots.begin(4)
    offered_from, _ = ledger.slots.offer()
    assert offered_from is poll
    # Answered with one: the completion may still bring up to three, from the slots the poll did not use.
    assert ledger.slots.end(poll, 1) == 1
    assert (ledger.released, ledger.slots.held) == (0, 3)
    assert ledger.slots.offer() == (None, 0), "an answered poll lends nothing new"

    assert ledger.slots.settle(poll, 2) == 2
    assert (ledger.released, ledger.slots.held) == (1, 0), "the slot nobody took goes back"


def test_a_failed_completion_takes_nothing_and_its_slots_go_back_with_the_polls_leftover() -> None:
    ledger = Ledger()
    poll = ledger.slots.begin(3)
    ledger.slots.offer()
    assert ledger.slots.end(poll, 0) == 0
    assert ledger.released == 0
    assert ledger.slots.settle(poll, 0) == 0  # the completion failed: the server gave its slots back
    assert (ledger.released, ledger.slots.held) == (3, 0)


def test_a_failed_completion_before_the_poll_answers_leaves_the_slots_to_the_poll() -> None:
    ledger = Ledger()
    poll = ledger.slots.begin(3)
    ledger.slots.offer()
    assert ledger.slots.settle(poll, 0) == 0
    assert (ledger.released, ledger.slots.held) == (0, 3)
    assert ledger.slots.end(poll, 3) == 3


def test_two_offers_on_one_poll_share_its_slots_and_the_last_to_settle_releases_the_rest() -> None:
    ledger = Ledger()
    poll = ledger.slots.begin(5)
    first, first_offered = ledger.slots.offer()
    second, second_offered = ledger.slots.offer()
    assert first is poll and second is poll
    assert first_offered == second_offered == 5, "each may take all of them; the server hands each slot out once"

    assert ledger.slots.settle(poll, 2) == 2
    assert ledger.slots.end(poll, 1) == 1
    assert (ledger.released, ledger.slots.held) == (0, 2), "the second offer may still use the leftover"
    assert ledger.slots.settle(poll, 1) == 1
    assert (ledger.released, ledger.slots.held) == (1, 0)


def test_two_failed_offers_release_only_after_both_settle() -> None:
    ledger = Ledger()
    poll = ledger.slots.begin(2)
    first = ledger.slots.offer()[0]
    second = ledger.slots.offer()[0]
    assert first is poll and second is poll
    ledger.slots.end(poll, 0)
    assert ledger.slots.settle(poll, 0) == 0
    assert ledger.released == 0, "the second offer is still open"
    assert ledger.slots.settle(poll, 0) == 0
    assert (ledger.released, ledger.slots.held) == (2, 0)


def test_answers_never_hand_out_more_slots_than_the_poll_held() -> None:
    ledger = Ledger()
    poll = ledger.slots.begin(3)
    ledger.slots.offer()
    ledger.slots.offer()
    # Answers that together claim more than the poll held (a server fault): only three activities get a slot.
    assert ledger.slots.settle(poll, 2) == 2
    assert ledger.slots.end(poll, 3) == 1
    assert ledger.slots.settle(poll, 5) == 0
    assert (ledger.released, ledger.slots.held) == (0, 0)


def test_a_poll_that_does_not_lend_is_never_offered() -> None:
    ledger = Ledger()
    poll = ledger.slots.begin(4, lendable=False)
    assert ledger.slots.offer() == (None, 0)
    assert ledger.slots.end(poll, 0) == 0
    assert ledger.released == 4


def test_a_poll_without_slots_left_is_not_offered() -> None:
    ledger = Ledger()
    poll = ledger.slots.begin(1)
    ledger.slots.offer()
    ledger.slots.settle(poll, 1)
    assert ledger.slots.offer() == (None, 0)
    assert ledger.slots.end(poll, 0) == 0


def test_each_poll_has_its_own_id_and_only_the_latest_is_offered() -> None:
    ledger = Ledger()
    first = ledger.slots.begin(2)
    ledger.slots.end(first, 0)
    second = ledger.slots.begin(2)
    assert first.id != second.id
    assert 0 < len(second.id) <= 64
    assert ledger.slots.offer()[0] is second


def test_misuse_is_refused() -> None:
    ledger = Ledger()
    poll = ledger.slots.begin(1)
    with pytest.raises(RuntimeError):
        ledger.slots.settle(poll, 0)  # never offered
    ledger.slots.end(poll, 0)
    with pytest.raises(RuntimeError):
        ledger.slots.end(poll, 0)
    with pytest.raises(ValueError):
        ledger.slots.begin(-1)


def test_claim_next_offers_the_waiting_long_polls_slots_and_takes_no_free_slot_up_front() -> None:
    ledger = Ledger()
    poll = ledger.slots.begin(3)
    claim = ledger.slots.begin_claim_next(4)
    assert (claim.own, claim.from_poll, claim.poll_id, ledger.slots.reserved) == (1, 3, poll.id, 0)
    assert ledger.slots.end_claim_next(claim, 3) == 2  # its own slot, and two the server took from the poll
    assert ledger.slots.end(poll, 1) == 1
    assert (ledger.released, ledger.slots.held, ledger.slots.free()) == (0, 0, 8)


def test_claim_next_without_a_lending_poll_takes_free_slots_up_front_until_its_answer() -> None:
    running = 5
    ledger = SlotLedger(8, running=lambda: running)
    poll = ledger.begin(2, lendable=False)
    assert ledger.free() == 1
    claim = ledger.begin_claim_next(4)
    assert (claim.own, claim.from_poll, claim.poll_id, ledger.reserved, ledger.free()) == (2, 0, None, 1, 0)
    assert ledger.end_claim_next(claim, 2) == 0  # both in its own slots: none from a poll
    assert (ledger.reserved, ledger.free()) == (0, 1)
    ledger.end(poll, 0)
    assert ledger.free() == 3


def test_claim_next_of_a_fan_out_parent_takes_free_slots_for_its_dependents_even_while_a_poll_lends() -> None:
    ledger = SlotLedger(10)
    poll = ledger.begin(4)
    claim = ledger.begin_claim_next(8, dependents=5)
    assert (claim.own, claim.from_poll, claim.poll_id, ledger.reserved, ledger.free()) == (5, 4, poll.id, 4, 2)
    assert ledger.end_claim_next(claim, 5) == 0  # all five in its own slots: none from the poll
    assert ledger.reserved == 0


def test_claim_next_of_a_chain_step_takes_nothing_up_front_even_without_a_lending_poll() -> None:
    ledger = SlotLedger(6)
    claim = ledger.begin_claim_next(4, dependents=1)
    assert (claim.own, claim.from_poll, claim.poll_id, ledger.reserved) == (1, 0, None, 0)
    assert ledger.end_claim_next(claim, 1) == 0


def test_claim_next_with_more_dependents_than_free_slots_takes_what_is_free() -> None:
    running = 6
    ledger = SlotLedger(8, running=lambda: running)
    claim = ledger.begin_claim_next(32, dependents=10)
    assert (claim.own, ledger.reserved, ledger.free()) == (3, 2, 0)
    assert ledger.end_claim_next(claim, 0) == 0
    assert ledger.free() == 2


# -- the runner's use of the ledger, against a stand-in server that answers in a chosen order --------------------------


def _leaf(n: int) -> dict[str, Any]:
    return {
        "activity_id": f"act_{n}",
        "workflow_id": "wf_1",
        "activity_key": f"leaf{n}",
        "activity_name": "leaf" if n else "root",
        "parameters": {},
        "attempt": 1,
        "lease_seconds": 60,
    }


class _LendingApi:
    """A server stand-in for ``root → leaf1…leafN``: polls register as the server's waiting poll, and a completion that
    offers it takes slots from it the way the server does (``claim_next_from_poll``). ``order`` decides which of the
    root's completion and the waiting poll the worker sees answered first."""

    def __init__(self, worker: Worker, order: str, leaves: int) -> None:
        self.worker = worker
        self.order = order
        self.ready = list(range(1, leaves + 1))
        self.leaves = leaves
        self.leased = 0
        self.peak_leased = 0
        self.completed = 0
        self.polls: list[dict[str, Any]] = []
        self.completes: list[dict[str, Any]] = []
        #: The server's latest poll: its id and the activities it may still return.
        self.poll_id: str | None = None
        self.poll_max = 0

    def _lease(self, n: int) -> list[Any]:
        taken, self.ready = self.ready[:n], self.ready[n:]
        self.leased += len(taken)
        self.peak_leased = max(self.peak_leased, self.leased)
        return [_leaf(i) for i in taken]

    async def info(self) -> dict[str, Any]:
        return {"features": ["long-poll", "claim-next"]}

    async def poll(self, max_activities: int, wait_seconds: int, names: Any, *, poll_id: str | None = None) -> list[Any]:
        self.polls.append({"max_activities": max_activities, "wait_seconds": wait_seconds, "poll_id": poll_id})
        if len(self.polls) > 2:
            # On its way to the server: a completion arriving meanwhile still finds the previous poll there.
            await asyncio.sleep(0.005)
        self.poll_id, self.poll_max = poll_id, max_activities
        if len(self.polls) == 1:
            self.poll_max -= 1
            self.leased += 1
            return [_leaf(0)]
        if len(self.polls) == 2:
            # The poll the root's completion finds waiting.
            if self.order == "completion first":
                while self.worker.stats.completed < 1:
                    await asyncio.sleep(0.001)
                return self._answer_poll(self.poll_max)
            # Answers while the root's completion is on its way, with one leaf: as if one was ready when the poll
            # claimed, the rest once the completion commits (from the slots the poll did not use).
            while not self.completes:
                await asyncio.sleep(0.001)
            return self._answer_poll(1)
        await asyncio.sleep(0.01)
        return self._answer_poll(self.poll_max)

    def _answer_poll(self, wanted: int) -> list[Any]:
        answer = self._lease(min(wanted, self.poll_max))
        self.poll_max -= len(answer)
        return answer

    async def complete(
        self,
        activity_id: str,
        output: dict[str, Any],
        *,
        claim_next: int = 0,
        claim_next_from_poll: int = 0,
        poll_id: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        self.completes.append(
            {"activity_id": activity_id, "claim_next": claim_next, "from_poll": claim_next_from_poll, "poll_id": poll_id}
        )
        if activity_id == "act_0" and self.order == "poll first":
            while self.worker.stats.polls < 2:
                await asyncio.sleep(0.001)
        self.leased -= 1
        lendable = min(claim_next_from_poll, self.poll_max) if poll_id is not None and poll_id == self.poll_id else 0
        answer = self._lease(claim_next + lendable) if activity_id == "act_0" else []
        self.poll_max -= max(0, len(answer) - claim_next)
        self.completed += 1
        if self.completed == self.leaves + 1:
            self.worker.request_shutdown()
        return {"acknowledged": True, "activities": answer, "count": len(answer)}


@pytest.mark.parametrize("order", ["completion first", "poll first"])
def test_the_runner_never_runs_more_than_its_concurrency_whichever_answer_comes_first(
    monkeypatch: pytest.MonkeyPatch, order: str
) -> None:
    worker = Worker(config=WorkerConfig(api_url="http://127.0.0.1:9", worker="lend", max_concurrency=4, poll_batch_size=4))
    api = _LendingApi(worker, order, leaves=10)
    monkeypatch.setattr(runner_module, "WorkerApi", lambda transport, config: api)
    running = peak = 0

    @worker.activity("root")
    async def root() -> dict[str, Any]:
        await asyncio.sleep(0.02)  # the worker's next poll is out meanwhile
        return {}

    @worker.activity("leaf")
    async def leaf() -> dict[str, Any]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return {}

    asyncio.run(asyncio.wait_for(worker.run_async(), 10))

    assert api.completed == 11
    assert peak <= 4 and api.peak_leased <= 4
    # The root's completion offered the three slots of the poll waiting when it was sent, naming it.
    second_poll = api.polls[1]
    assert (second_poll["max_activities"], second_poll["wait_seconds"]) == (3, 20)
    assert api.completes[0] == {"activity_id": "act_0", "claim_next": 1, "from_poll": 3, "poll_id": second_poll["poll_id"]}
    # Either way the four slots went to four leaves: three from the poll's slots, one in the root's own.
    assert worker.stats.claimed_from_poll == (3 if order == "completion first" else 2)
    assert worker.stats.claimed_next == (4 if order == "completion first" else 3)
    assert worker.in_flight == 0 and worker._slots.reserved == 0 and worker._slots.held == 0
