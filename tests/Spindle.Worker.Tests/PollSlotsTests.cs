namespace Spindle.Worker.Tests;

public sealed class PollSlotsTests
{
    private int _released;

    private PollSlots Ledger() => new(n => _released += n);

    [Fact]
    public void End_NoCompletionOffered_ActivitiesOwnSlotsAndTheRestGoBackAtOnce()
    {
        var ledger = Ledger();
        var poll = ledger.Begin(5, lends: true);
        Assert.Equal(2, ledger.End(poll, 2));
        Assert.Equal(3, _released);
        Assert.Equal((null, 0), ledger.Offer()); // answered: nothing left to offer
    }

    [Fact]
    public void Offer_ShortPollInFlight_OffersNothing()
    {
        var ledger = Ledger();
        var poll = ledger.Begin(4, lends: false);
        // The server lends no slots of a poll that answers at once: offering them would only keep the completion
        // from taking free slots up front.
        Assert.Equal((null, 0), ledger.Offer());
        Assert.Equal(1, ledger.End(poll, 1));
        Assert.Equal(3, _released);
    }

    [Fact]
    public void Settle_CompletionAnsweredBeforeThePoll_ItsActivitiesTakeThePollsSlots()
    {
        var ledger = Ledger();
        var poll = ledger.Begin(4, lends: true);
        var (offeredFrom, offered) = ledger.Offer();
        Assert.Same(poll, offeredFrom);
        Assert.Equal(4, offered);

        Assert.Equal(3, ledger.Settle(poll, 3)); // the server took three of the poll's slots for the completion
        Assert.Equal(0, _released);
        Assert.Equal(1, ledger.End(poll, 1)); // the poll could bring at most the one left
        Assert.Equal(0, _released);
    }

    [Fact]
    public void End_PollAnsweredWhileACompletionWaits_LeftoverIsHeldUntilTheCompletionSettles()
    {
        var ledger = Ledger();
        var poll = ledger.Begin(4, lends: true);
        var (offeredFrom, _) = ledger.Offer();
        Assert.Equal(0, ledger.End(poll, 0)); // answered empty: its slots were taken, but which ones is not known yet
        Assert.Equal(0, _released);

        Assert.Equal(3, ledger.Settle(offeredFrom!, 3));
        Assert.Equal(1, _released); // the slot nobody took
    }

    [Fact]
    public void Settle_CompletionFailed_HandsNothingAndReleasesOnceThePollHasAnswered()
    {
        var ledger = Ledger();
        var poll = ledger.Begin(2, lends: true);
        var first = ledger.Offer().Poll!;
        var second = ledger.Offer().Poll!;
        ledger.End(poll, 0);
        Assert.Equal(0, ledger.Settle(first, 0));
        Assert.Equal(0, _released); // the second offer is still open
        Assert.Equal(0, ledger.Settle(second, 0));
        Assert.Equal(2, _released);
    }
}
