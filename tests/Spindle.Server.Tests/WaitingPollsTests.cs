using Spindle.Server.Wakeups;
using Spindle.Storage;

namespace Spindle.Server.Tests;

public sealed class WaitingPollsTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task TakeAsync_LongPollWaiting_TakesUpToItsSlotsAndItsClaimAsksForTheRest()
    {
        var polls = new WaitingPolls();
        using var poll = polls.Register("w1", "q", "p1", null, 5, waits: true);
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
        using var immediate = polls.Register("w1", "q", "p1", null, 5, waits: false);
        using var unnamed = polls.Register("w2", "q", null, null, 5, waits: true);
        using var named = polls.Register("w3", "q", "p7", null, 5, waits: true);
        Assert.Equal((null, 0), await polls.TakeAsync("w1", "p1", 3, CancellationToken.None));
        Assert.Equal((null, 0), await polls.TakeAsync("w2", "p1", 3, CancellationToken.None));
        Assert.Equal((null, 0), await polls.TakeAsync("w3", "p6", 3, CancellationToken.None)); // an older poll of w3
        Assert.Equal((null, 0), await polls.TakeAsync("w4", "p7", 3, CancellationToken.None));
    }

    [Fact]
    public async Task TakeAsync_PollInItsClaim_WaitsForTheClaimThenTakesWhatItLeft()
    {
        var polls = new WaitingPolls(claimWait: Long);
        using var poll = polls.Register("w1", "q", "p1", null, 4, waits: true);
        Assert.Equal(4, poll.BeginClaim());
        var take = polls.TakeAsync("w1", "p1", 10, CancellationToken.None);
        Assert.False(take.IsCompleted); // the claim statement may still use every slot

        poll.EndClaim(0, answering: false); // it found nothing and waits again
        Assert.Equal(4, (await take).Slots);
        Assert.True(poll.AnswerNow.IsCancellationRequested); // nothing left: the poll answers instead of waiting
        Assert.Equal(0, poll.BeginClaim());
    }

    [Fact]
    public async Task BeginClaim_ToldToAnswerThenGivenSlotsBack_StillAnswers()
    {
        var polls = new WaitingPolls(claimWait: Long);
        using var poll = polls.Register("w1", "q", "p1", null, 3, waits: true);
        poll.BeginClaim();
        poll.EndClaim(0, answering: false);
        var (from, taken) = await polls.TakeAsync("w1", "p1", 3, CancellationToken.None);
        Assert.Equal(3, taken);
        Assert.True(poll.AnswerNow.IsCancellationRequested);

        from!.GiveBack(2); // the completion's transaction leased fewer than it borrowed
        // Its wait is cancelled for good: claiming again would find nothing, not wait, and claim again at once.
        Assert.Equal(0, poll.BeginClaim());
    }

    [Fact]
    public async Task TakeAsync_PollAnsweredWithPartOfItsSlots_TheRestStayLendableUntilTheNextPoll()
    {
        var polls = new WaitingPolls(claimWait: Long);
        var poll = polls.Register("w1", "q", "p1", null, 4, waits: true);
        poll.BeginClaim();
        var take = polls.TakeAsync("w1", "p1", 10, CancellationToken.None);
        poll.EndClaim(1, answering: true); // its claim found one activity
        poll.Dispose();
        Assert.Equal(3, (await take).Slots); // sent by the worker before it saw the answer

        using var next = polls.Register("w1", "q", "p2", null, 2, waits: true);
        Assert.Equal((null, 0), await polls.TakeAsync("w1", "p1", 1, CancellationToken.None));
        Assert.Equal(2, (await polls.TakeAsync("w1", "p2", 5, CancellationToken.None)).Slots);
    }

    [Fact]
    public async Task TakeAsync_ClaimOutlastsTheWait_GoesOnWithoutSlots()
    {
        var polls = new WaitingPolls(claimWait: TimeSpan.FromMilliseconds(10));
        using var poll = polls.Register("w1", "q", "p1", null, 4, waits: true);
        poll.BeginClaim();
        Assert.Equal(0, (await polls.TakeAsync("w1", "p1", 2, CancellationToken.None)).Slots);
        poll.EndClaim(0, answering: false);
        Assert.Equal(4, poll.BeginClaim());
    }

    private static ClaimedActivity Activity(string key) =>
        new("act-" + key, "wf", key, "q", "echo", [], [], null, 1, 0, 60);

    /// <summary>A long-poll that claimed once, found nothing and waits: the state in which submits hand it work.</summary>
    private static WaitingPolls.Poll WaitingPoll(WaitingPolls polls, int max, string workerId = "w1", string routingKey = "q")
    {
        var poll = polls.Register(workerId, routingKey, "p1", null, max, waits: true);
        Assert.Equal(max, poll.BeginClaim());
        poll.EndClaim(0, answering: false);
        return poll;
    }

    [Fact]
    public async Task TakeSlots_PollWaitingAfterAnEmptyClaim_AnswersWithTheHandOverOnceItCommits()
    {
        var polls = new WaitingPolls();
        using var poll = WaitingPoll(polls, 4);
        Assert.Same(poll, polls.WaitingFor("q"));
        Assert.Null(polls.WaitingFor("other"));

        Assert.Equal(2, poll.TakeSlots(2));
        Assert.False(poll.AnswerNow.IsCancellationRequested); // not before the transaction commits

        poll.EndHandOver([Activity("a")], unused: 1);
        Assert.True(poll.AnswerNow.IsCancellationRequested);
        Assert.Equal(0, poll.BeginClaim()); // it answers with what it was handed instead of claiming again
        var answer = await poll.AnswerAsync(0);
        Assert.Equal(["a"], answer.Select(a => a.ActivityKey));
        Assert.Null(polls.WaitingFor("q")); // answered: no more hand-overs
        Assert.Equal(0, poll.TakeSlots(1));
    }

    [Fact]
    public async Task AnswerAsync_HandOverStillOpen_WaitsForItsOutcome()
    {
        var polls = new WaitingPolls();
        using var poll = WaitingPoll(polls, 4);
        Assert.Equal(1, poll.TakeSlots(1));

        var answer = poll.AnswerAsync(0); // e.g. the poll's own wait ran out while the submit commits
        Assert.False(answer.IsCompleted);
        poll.EndHandOver([Activity("a")], unused: 0);
        Assert.Equal(["a"], (await answer.WaitAsync(Long)).Select(a => a.ActivityKey));
    }

    [Fact]
    public async Task EndHandOver_NotCommitted_GivesTheSlotsBackAndThePollWaitsOn()
    {
        var polls = new WaitingPolls();
        using var poll = WaitingPoll(polls, 3);
        Assert.Equal(3, poll.TakeSlots(5));
        Assert.False(poll.AnswerNow.IsCancellationRequested); // its last slot went to the hand-over, which may not commit

        poll.EndHandOver([], unused: 3);
        Assert.False(poll.AnswerNow.IsCancellationRequested);
        Assert.Equal(3, poll.BeginClaim());
        poll.EndClaim(0, answering: false);
        Assert.Empty(await poll.AnswerAsync(0));
    }

    [Fact]
    public void TakeSlots_PollNotWaitingAfterAnEmptyClaim_TakesNothing()
    {
        var polls = new WaitingPolls();
        using var fresh = polls.Register("w1", "q1", null, null, 4, waits: true);
        Assert.Equal(0, fresh.TakeSlots(1)); // has not claimed yet: older work may be waiting for it

        using var claiming = WaitingPoll(polls, 4, "w2", "q2");
        claiming.BeginClaim();
        Assert.Equal(0, claiming.TakeSlots(1));
        claiming.EndClaim(0, answering: false);
        Assert.Equal(1, claiming.TakeSlots(1));

        var answered = WaitingPoll(polls, 4, "w3", "q3");
        answered.Dispose();
        Assert.Equal(0, answered.TakeSlots(1));
        Assert.Null(polls.WaitingFor("q3"));

        using var immediate = polls.Register("w4", "q4", null, null, 4, waits: false);
        Assert.Null(polls.WaitingFor("q4")); // a poll that answers at once takes no hand-overs
    }
}
