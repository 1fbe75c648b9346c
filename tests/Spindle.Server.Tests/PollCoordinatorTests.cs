using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;
using Spindle.Server.Wakeups;
using Spindle.Storage;
using Spindle.Storage.Sqlite;

namespace Spindle.Server.Tests;

public sealed class PollCoordinatorTests : IAsyncLifetime, IDisposable
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("spindle-polls-").FullName;
    private IWorkflowStore _store = null!;

    public async Task InitializeAsync()
    {
        _store = new SqliteWorkflowStore(Path.Combine(_dir, "spindle.db"), new EngineDefaults());
        await _store.MigrateAsync(CancellationToken.None);
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Lend_LongPollWaiting_ReservesUpToItsFreeSlotsAndItsClaimAsksForTheRest()
    {
        var polls = new PollCoordinator();
        using var poll = polls.Register("w1", "q", "p1", null, 5, waits: true);
        Assert.Equal(5, poll.BeginClaim());
        poll.EndClaim(0, answering: false);

        var (from, taken) = polls.Lend("w1", "p1", 3);
        Assert.Same(poll, from);
        Assert.Equal(3, taken);
        Assert.Equal(2, poll.BeginClaim());
        poll.EndClaim(0, answering: false);

        from!.GiveBack(3, used: 2); // the completion's transaction leased two beyond its own claim_next
        Assert.Equal(3, poll.BeginClaim());
        Assert.False(poll.AnswerNow.IsCancellationRequested);
    }

    [Fact]
    public void Lend_NotThatWorkersNamedLongPoll_ReservesNothing()
    {
        var polls = new PollCoordinator();
        using var immediate = polls.Register("w1", "q", "p1", null, 5, waits: false);
        using var unnamed = polls.Register("w2", "q", null, null, 5, waits: true);
        using var named = polls.Register("w3", "q", "p7", null, 5, waits: true);
        Assert.Equal((null, 0), polls.Lend("w1", "p1", 3));
        Assert.Equal((null, 0), polls.Lend("w2", "p1", 3));
        Assert.Equal((null, 0), polls.Lend("w3", "p6", 3)); // an older poll of w3
        Assert.Equal((null, 0), polls.Lend("w4", "p7", 3));
    }

    [Fact]
    public void Lend_PollInItsClaim_ReservesNothingWithoutWaitingAndTheClaimKeepsItsSlots()
    {
        var polls = new PollCoordinator();
        using var poll = polls.Register("w1", "q", "p1", null, 4, waits: true);
        Assert.Equal(4, poll.BeginClaim());
        Assert.Equal((null, 0), polls.Lend("w1", "p1", 10)); // the claim statement may still use every slot

        poll.EndClaim(0, answering: false); // it found nothing and waits again
        var (from, taken) = polls.Lend("w1", "p1", 10);
        Assert.Equal(4, taken);
        Assert.False(poll.AnswerNow.IsCancellationRequested); // not before the completion used them
        from!.GiveBack(4, used: 4);
        Assert.True(poll.AnswerNow.IsCancellationRequested); // nothing left: the poll answers instead of waiting
        Assert.Equal(0, poll.BeginClaim());
    }

    [Fact]
    public void GiveBack_AnotherCompletionStillHoldsSlots_ThePollWaitsForItsOutcome()
    {
        var polls = new PollCoordinator();
        using var poll = WaitingPoll(polls, 3);
        var (first, two) = polls.Lend("w1", "p1", 2);
        var (second, one) = polls.Lend("w1", "p1", 2);
        Assert.Equal((2, 1), (two, one));

        first!.GiveBack(2, used: 2);
        Assert.False(poll.AnswerNow.IsCancellationRequested); // the other completion may give its slot back
        second!.GiveBack(1, used: 0);
        Assert.False(poll.AnswerNow.IsCancellationRequested);
        Assert.Equal(1, poll.BeginClaim());
    }

    [Fact]
    public void BeginClaim_ToldToAnswerThenGivenSlotsBack_StillAnswers()
    {
        var polls = new PollCoordinator();
        using var poll = WaitingPoll(polls, 3);
        Assert.Equal(1, poll.TakeForHandOver(1));
        var (from, taken) = polls.Lend("w1", "p1", 3);
        from!.GiveBack(taken, used: taken);
        Assert.True(poll.AnswerNow.IsCancellationRequested);

        poll.EndHandOver([], unused: 1); // the submit did not commit
        // Its wait is cancelled for good: claiming again would find nothing, not wait, and claim again at once.
        Assert.Equal(0, poll.BeginClaim());
    }

    [Fact]
    public void Lend_PollAnsweredWithPartOfItsSlots_TheRestStayLendableUntilTheNextPoll()
    {
        var polls = new PollCoordinator();
        var poll = polls.Register("w1", "q", "p1", null, 4, waits: true);
        poll.BeginClaim();
        poll.EndClaim(1, answering: true); // its claim found one activity
        poll.Dispose();
        Assert.Equal(3, polls.Lend("w1", "p1", 10).Slots); // sent by the worker before it saw the answer

        using var next = polls.Register("w1", "q", "p2", null, 2, waits: true);
        Assert.Equal((null, 0), polls.Lend("w1", "p1", 1));
        Assert.Equal(2, polls.Lend("w1", "p2", 5).Slots);
    }

    private static ClaimedActivity Activity(string key) =>
        new("act-" + key, "wf", key, "q", "echo", [], [], null, 1, 0, 60);

    /// <summary>A long-poll that claimed once, found nothing and waits: the state in which submits hand it work.</summary>
    private static PollCoordinator.Poll WaitingPoll(PollCoordinator polls, int max, string workerId = "w1", string routingKey = "q")
    {
        var poll = polls.Register(workerId, routingKey, "p1", null, max, waits: true);
        Assert.Equal(max, poll.BeginClaim());
        poll.EndClaim(0, answering: false);
        return poll;
    }

    [Fact]
    public async Task TakeForHandOver_PollWaitingAfterAnEmptyClaim_AnswersWithTheHandOverOnceItCommits()
    {
        var polls = new PollCoordinator();
        using var poll = WaitingPoll(polls, 4);
        Assert.Same(poll, polls.WaitingFor("q"));
        Assert.Null(polls.WaitingFor("other"));

        Assert.Equal(2, poll.TakeForHandOver(2));
        Assert.False(poll.AnswerNow.IsCancellationRequested); // not before the transaction commits

        poll.EndHandOver([Activity("a")], unused: 1);
        Assert.True(poll.AnswerNow.IsCancellationRequested);
        Assert.Equal(0, poll.BeginClaim()); // it answers with what it was handed instead of claiming again
        var answer = await poll.AnswerAsync(0);
        Assert.Equal(["a"], answer.Select(a => a.ActivityKey));
        Assert.Null(polls.WaitingFor("q")); // answered: no more hand-overs
        Assert.Equal(0, poll.TakeForHandOver(1));
    }

    [Fact]
    public async Task AnswerAsync_HandOverStillOpen_WaitsForItsOutcome()
    {
        var polls = new PollCoordinator();
        using var poll = WaitingPoll(polls, 4);
        Assert.Equal(1, poll.TakeForHandOver(1));

        var answer = poll.AnswerAsync(0); // e.g. the poll's own wait ran out while the submit commits
        Assert.False(answer.IsCompleted);
        poll.EndHandOver([Activity("a")], unused: 0);
        Assert.Equal(["a"], (await answer.WaitAsync(Long)).Select(a => a.ActivityKey));
    }

    [Fact]
    public async Task EndHandOver_NotCommitted_GivesTheSlotsBackAndThePollWaitsOn()
    {
        var polls = new PollCoordinator();
        using var poll = WaitingPoll(polls, 3);
        Assert.Equal(3, poll.TakeForHandOver(5));
        Assert.False(poll.AnswerNow.IsCancellationRequested); // its last slot went to the hand-over, which may not commit

        poll.EndHandOver([], unused: 3);
        Assert.False(poll.AnswerNow.IsCancellationRequested);
        Assert.Equal(3, poll.BeginClaim());
        poll.EndClaim(0, answering: false);
        Assert.Empty(await poll.AnswerAsync(0));
    }

    [Fact]
    public void TakeForHandOver_PollNotWaitingAfterAnEmptyClaim_TakesNothing()
    {
        var polls = new PollCoordinator();
        using var fresh = polls.Register("w1", "q1", null, null, 4, waits: true);
        Assert.Equal(0, fresh.TakeForHandOver(1)); // has not claimed yet: older work may be waiting for it

        using var claiming = WaitingPoll(polls, 4, "w2", "q2");
        claiming.BeginClaim();
        Assert.Equal(0, claiming.TakeForHandOver(1));
        claiming.EndClaim(0, answering: false);
        Assert.Equal(1, claiming.TakeForHandOver(1));

        var answered = WaitingPoll(polls, 4, "w3", "q3");
        answered.Dispose();
        Assert.Equal(0, answered.TakeForHandOver(1));
        Assert.Null(polls.WaitingFor("q3"));

        using var immediate = polls.Register("w4", "q4", null, null, 4, waits: false);
        Assert.Null(polls.WaitingFor("q4")); // a poll that answers at once takes no hand-overs
    }

    private async Task<WorkflowDefinition> DeployAsync(string yaml)
    {
        var parsed = DefinitionParser.Parse(yaml);
        Assert.True(parsed.IsValid);
        await _store.DeployAsync(parsed.Definition!, CancellationToken.None);
        return parsed.Definition!;
    }

    private const string FanOut = """
        name: fan
        activities:
          - {key: start, activity_name: echo, dependency_of: [p0, p1, p2, p3, p4, p5]}
          - {key: p0, activity_name: echo}
          - {key: p1, activity_name: echo}
          - {key: p2, activity_name: echo}
          - {key: p3, activity_name: echo}
          - {key: p4, activity_name: echo}
          - {key: p5, activity_name: echo}
        """;

    [Fact]
    public async Task CompleteAsync_OnSqliteWhileThePollsClaimRuns_CommitsWithoutWaitingAndTheClaimWritesToo()
    {
        // The poll's claim statement needs SQLite's single writer lock. A completion that waited for the claim while
        // its own write transaction was open would stall every write; now it lends nothing from a claiming poll and
        // does not wait at all: it commits while the claim is still open, and the claim then writes as well.
        var polls = new PollCoordinator();
        await DeployAsync(FanOut);
        await _store.SubmitAsync(new SubmitCommand("fan", null, [], null), CancellationToken.None);
        var start = Assert.Single(await _store.ClaimAsync(new ClaimCommand("std", "w1", 10, null), CancellationToken.None));
        using var poll = polls.Register("w1", "std", "p1", null, 4, waits: true);
        Assert.Equal(4, poll.BeginClaim()); // its claim statement is under way and stays so until the end of the test

        var completion = polls.CompleteAsync(_store, start.ActivityId, "w1", [], CostReport.Of(0), new ClaimNext(null, 1, null),
            "p1", fromPoll: 4, CancellationToken.None);
        var claim = _store.ClaimAsync(new ClaimCommand("std", "w1", 4, null), CancellationToken.None);
        var outcome = await completion.WaitAsync(Long);
        Assert.Equal(StoreStatus.Ok, outcome.Status);
        Assert.Single(outcome.Claimed!); // its own slot: the claiming poll lent none
        var polled = await claim.WaitAsync(Long);
        poll.EndClaim(polled.Count, answering: true);
        var rest = await _store.ClaimAsync(new ClaimCommand("std", "w2", 10, null), CancellationToken.None);
        Assert.Equal(6, 1 + polled.Count + rest.Count); // every branch leased exactly once
    }

    [Fact]
    public async Task CompleteAsync_PollWaiting_LeasesTheFanOutInTheCompletionAndGivesBackWhatItDidNotUse()
    {
        var polls = new PollCoordinator();
        await DeployAsync(FanOut);
        await _store.SubmitAsync(new SubmitCommand("fan", null, [], null), CancellationToken.None);
        var start = Assert.Single(await _store.ClaimAsync(new ClaimCommand("std", "w1", 10, null), CancellationToken.None));
        using var poll = WaitingPoll(polls, 8, routingKey: "std");

        var outcome = await polls.CompleteAsync(_store, start.ActivityId, "w1", [], CostReport.Of(0), new ClaimNext(null, 1, null),
            "p1", fromPoll: 8, CancellationToken.None);
        Assert.Equal(6, outcome.Claimed!.Count); // one in its own slot, five in the poll's
        Assert.False(poll.AnswerNow.IsCancellationRequested);
        Assert.Equal(3, poll.BeginClaim()); // the poll's other three came back after the commit
    }

    [Fact]
    public async Task CompleteAsync_FanOutWiderThanTheWorkersSlots_TheRestGoToThePollsAlreadyWaiting()
    {
        // No wake-up reaches the polls here (the store has no notifier): whatever they answer with, the completion
        // handed to them, right after its commit, without any of them polling again.
        var polls = new PollCoordinator();
        await DeployAsync(FanOut);
        await _store.SubmitAsync(new SubmitCommand("fan", null, [], null), CancellationToken.None);
        var start = Assert.Single(await _store.ClaimAsync(new ClaimCommand("std", "w0", 10, null), CancellationToken.None));
        var waiting = Enumerable.Range(1, 5).Select(i => WaitingPoll(polls, 1, "w" + i, "std")).ToList();

        var outcome = await polls.CompleteAsync(_store, start.ActivityId, "w0", [], CostReport.Of(0), new ClaimNext(null, 1, null),
            null, 0, CancellationToken.None);
        Assert.Single(outcome.Claimed!); // the completing worker's one slot
        Assert.Equal(5, outcome.Unclaimed);
        var answers = await Task.WhenAll(waiting.Select(p => p.AnswerAsync(0))).WaitAsync(Long);
        Assert.All(answers, a => Assert.Single(a));
        var branches = outcome.Claimed!.Concat(answers.SelectMany(a => a)).Select(a => a.ActivityKey).Order().ToList();
        Assert.Equal(["p0", "p1", "p2", "p3", "p4", "p5"], branches); // every branch leased once, none left to poll for
        Assert.Empty(await _store.ClaimAsync(new ClaimCommand("std", "w9", 10, null), CancellationToken.None));
        waiting.ForEach(p => p.Dispose());
    }

    [Fact]
    public async Task CompleteAsync_WaitingPollsSlotsAllLentToAnotherCompletion_ThatCompletionClaimsForItWhenItGivesThemBack()
    {
        var polls = new PollCoordinator();
        await DeployAsync(FanOut);
        await _store.SubmitAsync(new SubmitCommand("fan", null, [], null), CancellationToken.None);
        var start = Assert.Single(await _store.ClaimAsync(new ClaimCommand("std", "w1", 10, null), CancellationToken.None));
        using var poll = WaitingPoll(polls, 8, routingKey: "std");
        var (other, held) = polls.Lend("w1", "p1", 8); // another completion of w1 is in flight with every free slot
        Assert.Equal(8, held);

        var outcome = await polls.CompleteAsync(_store, start.ActivityId, "w1", [], CostReport.Of(0), new ClaimNext(null, 1, null),
            "p1", fromPoll: 8, CancellationToken.None);
        Assert.Single(outcome.Claimed!); // the poll had nothing left to lend
        Assert.Equal(0, poll.BeginClaim(out var lentOut)); // woken now, it must not answer empty: it waits for its slots
        Assert.True(lentOut);
        poll.EndClaim(0, answering: false);
        Assert.False(poll.AnswerNow.IsCancellationRequested);

        polls.GiveBack(_store, other!, held, used: 0); // that completion unblocked nothing
        var answer = await poll.AnswerAsync(0).WaitAsync(Long);
        Assert.Equal(5, answer.Count); // the rest of the fan-out, without a new poll
        Assert.All(answer, a => Assert.Equal("std", a.RoutingKey));
    }

    [Fact]
    public async Task SubmitAsync_PollWaitingForTheRoots_HandsThemOverOnCommitAndGivesTheRestBack()
    {
        var polls = new PollCoordinator();
        await DeployAsync("""
            name: roots
            activities:
              - {key: r0, activity_name: echo}
              - {key: r1, activity_name: echo}
              - {key: other, worker: elsewhere, activity_name: echo}
            """);
        using var poll = WaitingPoll(polls, 5, routingKey: "std");

        var outcome = await polls.SubmitAsync(_store, new SubmitCommand("roots", null, [], "k1"), CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, outcome.Status);
        Assert.True(poll.AnswerNow.IsCancellationRequested);
        Assert.Equal(["r0", "r1"], (await poll.AnswerAsync(0)).Select(a => a.ActivityKey).Order());

        // A submit that does not commit (its unique key is taken) gives the next poll all its slots back.
        using var next = WaitingPoll(polls, 5, routingKey: "std");
        var taken = await polls.SubmitAsync(_store, new SubmitCommand("roots", null, [], "k1"), CancellationToken.None);
        Assert.Equal(StoreStatus.Conflict, taken.Status);
        Assert.False(next.AnswerNow.IsCancellationRequested);
        Assert.Equal(5, next.BeginClaim());
    }
}
