using Spindle.Server.Wakeups;

namespace Spindle.Server.Tests;

public sealed class WaitingPollsTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task TakeAsync_LongPollWaiting_TakesUpToItsSlotsAndItsClaimAsksForTheRest()
    {
        var polls = new WaitingPolls();
        using var poll = polls.Register("w1", "p1", 5, waits: true);
        Assert.Equal(5, poll.BeginClaim());
        poll.EndClaim(0, answering: false);

        var (from, taken) = await polls.TakeAsync("w1", "p1", 3, CancellationToken.None);
        Assert.Same(poll, from);
        Assert.Equal(3, taken);
        Assert.Equal(2, poll.BeginClaim());
        poll.EndClaim(0, answering: false);

        from!.GiveBack(1);
        Assert.Equal(3, poll.BeginClaim());
    }

    [Fact]
    public async Task TakeAsync_NotThatWorkersNamedLongPoll_TakesNothing()
    {
        var polls = new WaitingPolls();
        using var immediate = polls.Register("w1", "p1", 5, waits: false);
        using var unnamed = polls.Register("w2", null, 5, waits: true);
        using var named = polls.Register("w3", "p7", 5, waits: true);
        Assert.Equal((null, 0), await polls.TakeAsync("w1", "p1", 3, CancellationToken.None));
        Assert.Equal((null, 0), await polls.TakeAsync("w2", "p1", 3, CancellationToken.None));
        Assert.Equal((null, 0), await polls.TakeAsync("w3", "p6", 3, CancellationToken.None)); // an older poll of w3
        Assert.Equal((null, 0), await polls.TakeAsync("w4", "p7", 3, CancellationToken.None));
    }

    [Fact]
    public async Task TakeAsync_PollInItsClaim_WaitsForTheClaimThenTakesWhatItLeft()
    {
        var polls = new WaitingPolls(claimWait: Long);
        using var poll = polls.Register("w1", "p1", 4, waits: true);
        Assert.Equal(4, poll.BeginClaim());
        var take = polls.TakeAsync("w1", "p1", 10, CancellationToken.None);
        Assert.False(take.IsCompleted); // the claim statement may still use every slot

        poll.EndClaim(0, answering: false); // it found nothing and waits again
        Assert.Equal(4, (await take).Slots);
        Assert.True(poll.Exhausted.IsCancellationRequested); // nothing left: the poll answers instead of waiting
        Assert.Equal(0, poll.BeginClaim());
    }

    [Fact]
    public async Task TakeAsync_PollAnsweredWithPartOfItsSlots_TheRestStayLendableUntilTheNextPoll()
    {
        var polls = new WaitingPolls(claimWait: Long);
        var poll = polls.Register("w1", "p1", 4, waits: true);
        poll.BeginClaim();
        var take = polls.TakeAsync("w1", "p1", 10, CancellationToken.None);
        poll.EndClaim(1, answering: true); // its claim found one activity
        poll.Dispose();
        Assert.Equal(3, (await take).Slots); // sent by the worker before it saw the answer

        using var next = polls.Register("w1", "p2", 2, waits: true);
        Assert.Equal((null, 0), await polls.TakeAsync("w1", "p1", 1, CancellationToken.None));
        Assert.Equal(2, (await polls.TakeAsync("w1", "p2", 5, CancellationToken.None)).Slots);
    }

    [Fact]
    public async Task TakeAsync_ClaimOutlastsTheWait_GoesOnWithoutSlots()
    {
        var polls = new WaitingPolls(claimWait: TimeSpan.FromMilliseconds(10));
        using var poll = polls.Register("w1", "p1", 4, waits: true);
        poll.BeginClaim();
        Assert.Equal(0, (await polls.TakeAsync("w1", "p1", 2, CancellationToken.None)).Slots);
        poll.EndClaim(0, answering: false);
        Assert.Equal(4, poll.BeginClaim());
    }
}
