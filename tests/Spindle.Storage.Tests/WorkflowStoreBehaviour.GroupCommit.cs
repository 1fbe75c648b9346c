using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using Spindle.Core.Orchestration;
using static Spindle.Storage.Tests.StoreTestHelpers;

namespace Spindle.Storage.Tests;

/// <summary>Group commit: reports of several workflows recorded in one transaction, each answered as if alone.</summary>
public abstract partial class WorkflowStoreBehaviour
{
    private TransactionalWorkflowStore Transactional => (TransactionalWorkflowStore)Store;

    private async Task<(List<string> Ids, Dictionary<string, ClaimedActivity> Roots)> ChainsWithRootsClaimedAsync(int count)
    {
        var ids = new List<string>();
        for (var i = 0; i < count; i++)
        {
            ids.Add(await DeployAndSubmitAsync(Store, Chain, new JsonObject { ["n"] = i }));
        }
        var roots = (await ClaimAsync(Store, "w1", 10)).ToDictionary(c => c.WorkflowId);
        Assert.Equal(count, roots.Count);
        return (ids, roots);
    }

    private static CompleteCommand Report(ClaimedActivity a, string workerId = "w1", ClaimNext? next = null) =>
        new(a.ActivityId, workerId, new JsonObject { ["echo"] = a.Parameters.DeepClone() }, CostReport.Of(0), next);

    private async Task<int> CompletedEventsAsync(string workflowId, string key) =>
        (await Store.GetEventsAsync(workflowId, null, 1000, new HashSet<string> { EventTypes.ActivityCompleted }, CancellationToken.None))!
        .Events.Count(e => e.ActivityKey == key);

    [Fact]
    public async Task CompleteMany_ReportsOfSeveralWorkflows_OneTransactionEachAnsweredAsAlone()
    {
        var (ids, roots) = await ChainsWithRootsClaimedAsync(3);
        var before = Transactional.CompletionGroups;

        var answers = await Transactional.CompleteManyAsync([
            Report(roots[ids[0]], next: new ClaimNext(null, 1, null)),
            Report(roots[ids[1]], workerId: "w2"), // not its lease
            Report(roots[ids[2]]),
            new CompleteCommand("no-such-activity", "w1", new JsonObject(), CostReport.Of(0)),
        ]);
        var outcomes = await Task.WhenAll(answers);

        // The three reports this store leased shared one transaction; the unknown one went alone.
        var after = Transactional.CompletionGroups;
        Assert.Equal(1, after.Transactions - before.Transactions);
        Assert.Equal(3, after.Reports - before.Reports);

        Assert.Equal((StoreStatus.Ok, (string?)null), (outcomes[0].Status, outcomes[0].Message));
        var next = Assert.Single(outcomes[0].Claimed!);
        Assert.Equal(("b", ids[0]), (next.ActivityKey, next.WorkflowId));
        Assert.Equal(0, next.Parameters["prev"]!.GetValue<long>());
        Assert.Equal(StoreStatus.Conflict, outcomes[1].Status);
        Assert.Equal((StoreStatus.Ok, (string?)null), (outcomes[2].Status, outcomes[2].Message));
        Assert.Empty(outcomes[2].Claimed ?? []);
        Assert.Equal(StoreStatus.NotFound, outcomes[3].Status);

        // What each result unblocked was queued in that transaction: workflow 2's b is claimable, workflow 0's is leased.
        var queued = Assert.Single(await ClaimAsync(Store, "w3", 10));
        Assert.Equal(("b", ids[2]), (queued.ActivityKey, queued.WorkflowId));
        Assert.Equal((1, 0, 1), (await CompletedEventsAsync(ids[0], "a"), await CompletedEventsAsync(ids[1], "a"),
            await CompletedEventsAsync(ids[2], "a")));
        var refused = await Store.GetWorkflowAsync(ids[1], CancellationToken.None);
        Assert.Equal((ActivityStatus.Running, "w1"), (refused!.Activities["a"].Status, refused.Activities["a"].LeaseOwner));

        // The lease holder's own report still counts; a repeat of a recorded one is answered as a repeat.
        Assert.Equal(StoreStatus.Ok, (await CompleteAsync(Store, roots[ids[1]])).Status);
        var repeat = await Store.CompleteAsync(Report(roots[ids[0]], next: new ClaimNext(null, 1, null)), CancellationToken.None);
        Assert.Equal((StoreStatus.Ok, "already completed"), (repeat.Status, repeat.Message));
        Assert.Equal(next.ActivityId, Assert.Single(repeat.Claimed!).ActivityId);
    }

    [Fact]
    public async Task CompleteMany_OneReportFailsAfterOthersWereWritten_OnlyItFailsAndTheOthersCommitOnce()
    {
        var (ids, roots) = await ChainsWithRootsClaimedAsync(3);
        // Workflows are decided in id order, so the last one's failure comes after the others were written in the
        // shared transaction: rolling it back must not lose them, nor record them twice when they run again.
        var bad = ids.Max(StringComparer.Ordinal)!;
        Transactional.DecidingCompletion = c =>
        {
            if (c.ActivityId == roots[bad].ActivityId)
            {
                throw new InvalidOperationException("cannot record this one");
            }
        };
        var before = Transactional.CompletionGroups;

        var answers = await Transactional.CompleteManyAsync([.. ids.Select(id => Report(roots[id]))]);

        for (var i = 0; i < ids.Count; i++)
        {
            if (ids[i] == bad)
            {
                Assert.Equal("cannot record this one", (await Assert.ThrowsAsync<InvalidOperationException>(() => answers[i])).Message);
                Assert.Equal(0, await CompletedEventsAsync(ids[i], "a"));
            }
            else
            {
                var outcome = await answers[i];
                Assert.Equal((StoreStatus.Ok, (string?)null), (outcome.Status, outcome.Message));
                Assert.Equal(1, await CompletedEventsAsync(ids[i], "a"));
            }
        }
        // The group rolled back and was split: the two good workflows committed on their own.
        var after = Transactional.CompletionGroups;
        Assert.Equal((2L, 2L), (after.Transactions - before.Transactions, after.Reports - before.Reports));
        var queued = await ClaimAsync(Store, "w3", 10);
        Assert.Equal(ids.Where(id => id != bad).Order(StringComparer.Ordinal), queued.Select(q => q.WorkflowId).Order(StringComparer.Ordinal));
        Assert.All(queued, q => Assert.Equal("b", q.ActivityKey));

        // The failed report lost nothing: its lease still holds and it records once the fault is gone.
        Transactional.DecidingCompletion = null;
        Assert.Equal(StoreStatus.Ok, (await CompleteAsync(Store, roots[bad])).Status);
        Assert.Equal(1, await CompletedEventsAsync(bad, "a"));
    }
}
