namespace Spindle.Worker.Tests;

public sealed class SlotLedgerTests
{
    /// <summary>How many slots are free: taken without waiting by a claim-next completion while no poll lends.</summary>
    private static int Free(SlotLedger ledger, int batch = 100)
    {
        var claim = ledger.BeginClaimNext(batch);
        Assert.Null(claim.PollId);
        ledger.EndClaimNext(claim, 0);
        return claim.Own - 1;
    }

    [Fact]
    public async Task EndPoll_NoCompletionOffered_ActivitiesOwnSlotsAndTheRestGoBackAtOnce()
    {
        var ledger = new SlotLedger(5);
        var poll = await ledger.BeginPollAsync(5, lends: true, CancellationToken.None);
        Assert.Equal(5, poll.Asked);
        Assert.Equal(2, ledger.EndPoll(poll, 2));
        Assert.Equal(3, Free(ledger)); // answered: nothing left to offer, and its three unused slots are free
    }

    [Fact]
    public async Task BeginClaimNext_ShortPollInFlight_OffersNothingAndTakesFreeSlotsUpFront()
    {
        var ledger = new SlotLedger(6);
        var poll = await ledger.BeginPollAsync(4, lends: false, CancellationToken.None);
        // The server lends no slots of a poll that answers at once: offering them would only keep the completion
        // from taking free slots up front.
        var claim = ledger.BeginClaimNext(10);
        Assert.Equal((3, 0, null), (claim.Own, claim.FromPoll, claim.PollId)); // its own slot and the two free ones
        Assert.Equal(2, ledger.EndClaimNext(claim, 2));
        Assert.Equal(1, ledger.EndPoll(poll, 1));
        Assert.Equal(4, Free(ledger)); // one free slot taken up front went unused, three of the poll's
    }

    [Fact]
    public async Task BeginClaimNext_FanOutParentWhileAPollLends_TakesFreeSlotsForItsDependentsAndOffersThePolls()
    {
        var ledger = new SlotLedger(10);
        var poll = await ledger.BeginPollAsync(4, lends: true, CancellationToken.None);
        // Six free slots; the completed activity has five dependents: its own slot and four taken up front.
        var claim = ledger.BeginClaimNext(8, dependents: 5);
        Assert.Equal((5, 4, poll.Id), (claim.Own, claim.FromPoll, claim.PollId));

        Assert.Equal(5, ledger.EndClaimNext(claim, 5)); // all in its own slots: none from the poll
        Assert.Equal(0, ledger.EndPoll(poll, 0));
        Assert.Equal(6, Free(ledger)); // four branches run in the slots taken up front (the fifth in the completed one's)
    }

    [Fact]
    public async Task BeginClaimNext_ChainStepOrBranch_TakesNothingUpFrontWithOrWithoutALendingPoll()
    {
        var ledger = new SlotLedger(6);
        var alone = ledger.BeginClaimNext(4, dependents: 1);
        Assert.Equal((1, 0, null), (alone.Own, alone.FromPoll, alone.PollId)); // one dependent: its own slot is enough
        Assert.Equal(1, ledger.EndClaimNext(alone, 1));

        var poll = await ledger.BeginPollAsync(2, lends: true, CancellationToken.None);
        var last = ledger.BeginClaimNext(4, dependents: 0);
        Assert.Equal((1, 2), (last.Own, last.FromPoll));
        Assert.Equal(0, ledger.EndClaimNext(last, 0));
        Assert.Equal(0, ledger.EndPoll(poll, 0));
        Assert.Equal(6, Free(ledger)); // the chain's next steps ran in the completed activities' own slots
    }

    [Fact]
    public async Task BeginClaimNext_MoreDependentsThanFreeSlots_TakesWhatIsFreeUpToTheBatch()
    {
        var ledger = new SlotLedger(4);
        var poll = await ledger.BeginPollAsync(1, lends: true, CancellationToken.None);
        var claim = ledger.BeginClaimNext(10, dependents: 10);
        Assert.Equal((4, 1), (claim.Own, claim.FromPoll)); // its own and the three free; the poll's one is offered
        Assert.Equal(5, ledger.EndClaimNext(claim, 5)); // the fifth took the poll's slot
        Assert.Equal(0, ledger.EndPoll(poll, 0));
    }

    [Fact]
    public async Task EndClaimNext_CompletionAnsweredBeforeThePoll_ItsActivitiesTakeThePollsSlots()
    {
        var ledger = new SlotLedger(4);
        var poll = await ledger.BeginPollAsync(4, lends: true, CancellationToken.None);
        var claim = ledger.BeginClaimNext(4);
        Assert.Equal((1, 4, poll.Id), (claim.Own, claim.FromPoll, claim.PollId));

        Assert.Equal(4, ledger.EndClaimNext(claim, 4)); // its own slot, and three the server took from the poll
        Assert.Equal(1, ledger.BeginClaimNext(4).FromPoll); // the poll still holds one
        Assert.Equal(1, ledger.EndPoll(poll, 1)); // the poll could bring at most the one left
    }

    [Fact]
    public async Task EndPoll_PollAnsweredWhileACompletionWaits_LeftoverIsHeldUntilTheCompletionSettles()
    {
        var ledger = new SlotLedger(4);
        var poll = await ledger.BeginPollAsync(4, lends: true, CancellationToken.None);
        var claim = ledger.BeginClaimNext(4);
        Assert.Equal(0, ledger.EndPoll(poll, 0)); // answered empty: its slots were taken, but which ones is not known yet
        Assert.Equal(0, Free(ledger));

        Assert.Equal(4, ledger.EndClaimNext(claim, 4));
        Assert.Equal(1, Free(ledger)); // the slot nobody took
    }

    [Fact]
    public async Task EndClaimNext_CompletionFailed_HandsNothingAndReleasesOnceThePollHasAnswered()
    {
        var ledger = new SlotLedger(2);
        var poll = await ledger.BeginPollAsync(2, lends: true, CancellationToken.None);
        var first = ledger.BeginClaimNext(2);
        var second = ledger.BeginClaimNext(2);
        ledger.EndPoll(poll, 0);
        Assert.Equal(0, ledger.EndClaimNext(first, 0));
        Assert.Equal(0, Free(ledger)); // the second offer is still open
        Assert.Equal(0, ledger.EndClaimNext(second, 0));
        Assert.Equal(2, Free(ledger));
    }

    [Fact]
    public async Task BeginPollAsync_NoFreeSlot_WaitsForARelease()
    {
        var ledger = new SlotLedger(1);
        var first = await ledger.BeginPollAsync(3, lends: false, CancellationToken.None);
        Assert.Equal(1, ledger.EndPoll(first, 1)); // its activity runs in the only slot
        var second = ledger.BeginPollAsync(3, lends: false, CancellationToken.None);
        Assert.False(second.IsCompleted);
        ledger.Release();
        Assert.Equal(1, (await second.WaitAsync(TimeSpan.FromSeconds(30))).Asked);
    }
}
