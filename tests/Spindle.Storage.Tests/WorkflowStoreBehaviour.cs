using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using Spindle.Core.Orchestration;
using static Spindle.Storage.Tests.StoreTestHelpers;

namespace Spindle.Storage.Tests;

/// <summary>
/// The behaviour every store must have, run against each backend on a real database: the queue rules
/// (exclusive claims, lease expiry, late results) and the orchestration rules as they commit.
/// </summary>
public abstract partial class WorkflowStoreBehaviour : IAsyncLifetime
{
    private const string Chain = """
        name: chain
        activities:
          - {key: a, activity_name: echo, parameters: {n: "{{INPUT.n}}"}}
          - {key: b, activity_name: echo, parameters: {prev: "{{a.echo.n}}"}, depends_on: [a]}
          - {key: c, activity_name: echo, depends_on: [b]}
        """;

    protected IWorkflowStore Store { get; private set; } = null!;

    protected abstract Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults);

    protected virtual EngineDefaults Defaults => new() { ActivityTimeoutSeconds = 60, WorkflowTimeoutSeconds = 300, MaxRetries = 3 };

    public async Task InitializeAsync()
    {
        Store = await CreateStoreAsync(Defaults);
        await Store.MigrateAsync(CancellationToken.None);
    }

    public async Task DisposeAsync() => await Store.DisposeAsync();

    [Fact]
    public async Task Migrate_RunTwice_IsIdempotent()
    {
        await Store.MigrateAsync(CancellationToken.None);
        Assert.Empty(await Store.ListDefinitionsAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Deploy_SameContentTwice_ReturnsExistingVersionUnchanged()
    {
        var first = await Store.DeployAsync(Parse(Chain), CancellationToken.None);
        var second = await Store.DeployAsync(Parse(Chain), CancellationToken.None);
        Assert.False(first.Unchanged);
        Assert.True(second.Unchanged);
        Assert.Equal(first.Version, second.Version);
        var changed = await Store.DeployAsync(Parse(Chain.Replace("key: c", "key: d", StringComparison.Ordinal)), CancellationToken.None);
        Assert.False(changed.Unchanged);
        Assert.True(string.CompareOrdinal(changed.Version, first.Version) > 0);
    }

    [Fact]
    public async Task Submit_Chain_QueuesOnlyTheRootWithResolvedParameters()
    {
        var id = await DeployAndSubmitAsync(Store, Chain, new JsonObject { ["n"] = 7 });
        var claimed = await ClaimAsync(Store, "w1");
        var a = Assert.Single(claimed);
        Assert.Equal("a", a.ActivityKey);
        Assert.Equal(id, a.WorkflowId);
        Assert.Equal(7, a.Parameters["n"]!.GetValue<long>());
        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Running, wf!.Status);
        Assert.Equal(ActivityStatus.Running, wf.Activities["a"].Status);
        Assert.Equal(ActivityStatus.NotScheduled, wf.Activities["b"].Status);
    }

    [Fact]
    public async Task Complete_Chain_RunsToCompletionPassingOutputs()
    {
        var id = await DeployAndSubmitAsync(Store, Chain, new JsonObject { ["n"] = 3 });
        foreach (var key in new[] { "a", "b", "c" })
        {
            var claimed = await ClaimOneAsync(Store, key);
            if (key == "b")
            {
                Assert.Equal(3, claimed.Parameters["prev"]!.GetValue<long>());
            }
            Assert.Equal(StoreStatus.Ok, (await CompleteAsync(Store, claimed)).Status);
        }
        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Completed, wf!.Status);
        Assert.All(wf.Activities.Values, a => Assert.Equal(ActivityStatus.Completed, a.Status));
    }

    [Fact]
    public async Task Claim_TwoWorkersConcurrently_NeverReceiveTheSameActivity()
    {
        const string fanOut = """
            name: wide
            activities:
              - {key: root, activity_name: echo}
            """;
        for (var i = 0; i < 60; i++)
        {
            await DeployAndSubmitAsync(Store, fanOut);
        }
        var seen = new ConcurrentDictionary<string, string>();
        var duplicates = 0;
        async Task Worker(string workerId)
        {
            while (true)
            {
                var claimed = await ClaimAsync(Store, workerId, 3);
                if (claimed.Count == 0)
                {
                    return;
                }
                foreach (var c in claimed)
                {
                    if (!seen.TryAdd(c.ActivityId, workerId))
                    {
                        Interlocked.Increment(ref duplicates);
                    }
                }
            }
        }
        await Task.WhenAll(Enumerable.Range(0, 4).Select(i => Task.Run(() => Worker("w" + i))));
        Assert.Equal(0, duplicates);
        Assert.Equal(60, seen.Count);
    }

    [Fact]
    public async Task Complete_LostLease_IsRejectedAndFirstResultStands()
    {
        var id = await DeployAndSubmitAsync(Store, Chain, new JsonObject { ["n"] = 1 });
        var a = await ClaimOneAsync(Store, "a", "w1");
        var late = await Store.CompleteAsync(a.ActivityId, "intruder", new JsonObject { ["x"] = 1 }, 0, CancellationToken.None);
        Assert.Equal(StoreStatus.Conflict, late.Status);
        Assert.Equal(StoreStatus.Ok, (await CompleteAsync(Store, a, workerId: "w1")).Status);
        // Repeating the same report is idempotent; a different worker after completion is rejected.
        Assert.Equal(StoreStatus.Ok, (await CompleteAsync(Store, a, workerId: "w1")).Status);
        Assert.Equal(StoreStatus.Conflict, (await Store.CompleteAsync(a.ActivityId, "w2", new JsonObject(), 0, CancellationToken.None)).Status);
        var events = await Store.GetEventsAsync(id, null, 1000, new HashSet<string> { EventTypes.ActivityCompleted }, CancellationToken.None);
        Assert.Single(events!.Events, e => e.ActivityKey == "a");
    }

    [Fact]
    public async Task Submit_WithAWaitingPoll_LeasesTheFirstStepsToItInTheSubmitTransaction()
    {
        var definition = Parse("""
            name: roots
            activities:
              - {key: r0, activity_name: echo}
              - {key: r1, activity_name: echo}
              - {key: r2, activity_name: echo}
              - {key: other, activity_name: other}
            """);
        await Store.DeployAsync(definition, CancellationToken.None);
        var grants = new[] { new SlotGrant("std", "w1", ["echo"], 2), new SlotGrant("elsewhere", "w9", null, 5) };
        var outcome = await Store.SubmitAsync(new SubmitCommand("roots", null, [], null, grants), CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, outcome.Status);

        // Four roots: three named echo, of which the poll's two slots took two; the filter left 'other' alone, and
        // no root runs on the other grant's routing key.
        var handed = outcome.HandedOver;
        Assert.Equal(2, handed.Count);
        Assert.All(handed, a => Assert.Equal(("echo", outcome.Workflow!.Id, 1), (a.ActivityName, a.WorkflowId, a.Attempt)));
        var polled = await ClaimAsync(Store, "w2", 100);
        Assert.Equal(["echo", "other"], polled.Select(a => a.ActivityName).Order().ToArray());
        Assert.Empty(handed.Select(a => a.ActivityKey).Intersect(polled.Select(a => a.ActivityKey)));

        var events = (await Store.GetEventsAsync(outcome.Workflow!.Id, null, 1000,
            new HashSet<string> { EventTypes.WorkflowCreated, EventTypes.ActivityStarted }, CancellationToken.None))!.Events;
        var created = events.Single(e => e.EventType == EventTypes.WorkflowCreated).Timestamp;
        foreach (var a in handed)
        {
            var started = events.Single(e => e.EventType == EventTypes.ActivityStarted && e.ActivityKey == a.ActivityKey);
            Assert.Equal(created, started.Timestamp); // leased by the submitting transaction
            Assert.Equal("w1", started.Payload["worker_id"]!.GetValue<string>());
        }
        var completed = await CompleteAsync(Store, handed[0], workerId: "w1");
        Assert.Equal(StoreStatus.Ok, completed.Status); // the poll's worker holds the lease
    }

    [Fact]
    public async Task Submit_PollTakesNoSlots_LeavesTheFirstStepsClaimable()
    {
        await Store.DeployAsync(Parse(Chain), CancellationToken.None);
        var outcome = await Store.SubmitAsync(new SubmitCommand("chain", null, new JsonObject { ["n"] = 1 }, null,
            [new SlotGrant("std", "w1", null, 0)]), CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, outcome.Status);
        Assert.Empty(outcome.HandedOver);
        Assert.Equal("a", Assert.Single(await ClaimAsync(Store, "w2")).ActivityKey);
    }

    [Fact]
    public async Task Submit_TransactionDoesNotCommit_LeasesNothing()
    {
        await Store.DeployAsync(Parse(Chain), CancellationToken.None);
        using var abort = new CancellationTokenSource();
        await abort.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Store.SubmitAsync(
            new SubmitCommand("chain", null, new JsonObject { ["n"] = 1 }, null, [new SlotGrant("std", "w1", null, 3)]), abort.Token));
        Assert.Empty(await ClaimAsync(Store, "w2"));
    }

    [Fact]
    public async Task Complete_WithClaimNext_LeasesNextStepInTheSameTransaction()
    {
        var id = await DeployAndSubmitAsync(Store, Chain, new JsonObject { ["n"] = 3 });
        var a = await ClaimOneAsync(Store, "a", "w1");
        var afterA = await CompleteClaimingNextAsync(a, "w1", 5);
        var b = Assert.Single(afterA.Claimed!);
        Assert.Equal(("b", 1, 0, "echo", "std"), (b.ActivityKey, b.Attempt, b.Iteration, b.ActivityName, b.RoutingKey));
        Assert.Equal(3, b.Parameters["prev"]!.GetValue<long>());
        Assert.Equal(60, b.LeaseSeconds);
        Assert.Empty(await ClaimAsync(Store, "w2")); // already leased to w1
        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal((ActivityStatus.Running, "w1"), (wf!.Activities["b"].Status, wf.Activities["b"].LeaseOwner));

        var c = Assert.Single((await CompleteClaimingNextAsync(b, "w1", 5)).Claimed!);
        Assert.Equal("c", c.ActivityKey);
        Assert.Empty((await CompleteClaimingNextAsync(c, "w1", 5)).Claimed!);
        Assert.Equal(WorkflowStatus.Completed, await Store.GetWorkflowStatusAsync(id, CancellationToken.None));

        // The next step's ActivityStarted is written by the completion of its dependency, at the same instant.
        var events = (await Store.GetEventsAsync(id, null, 1000,
            new HashSet<string> { EventTypes.ActivityStarted, EventTypes.ActivityCompleted }, CancellationToken.None))!.Events;
        Assert.Equal(events.Single(e => e.EventType == EventTypes.ActivityCompleted && e.ActivityKey == "a").Timestamp,
            events.Single(e => e.EventType == EventTypes.ActivityStarted && e.ActivityKey == "b").Timestamp);
        Assert.Equal("w1", events.Single(e => e.EventType == EventTypes.ActivityStarted && e.ActivityKey == "c").Payload["worker_id"]!.GetValue<string>());
    }

    [Fact]
    public async Task Complete_WithClaimNextSmallerThanFanOut_LeasesThatManyAndLeavesTheRestClaimable()
    {
        const string fanOut = """
            name: fan_out
            activities:
              - {key: start, activity_name: echo, dependency_of: [p0, p1, p2, p3, p4]}
              - {key: p0, activity_name: echo}
              - {key: p1, activity_name: echo}
              - {key: p2, activity_name: echo}
              - {key: p3, activity_name: echo}
              - {key: p4, activity_name: echo}
            """;
        await DeployAndSubmitAsync(Store, fanOut);
        var start = await ClaimOneAsync(Store, "start", "w1");
        var eager = (await CompleteClaimingNextAsync(start, "w1", 2)).Claimed!;
        Assert.Equal(2, eager.Count);
        var polled = await ClaimAsync(Store, "w2", 100);
        Assert.Equal(3, polled.Count);
        Assert.Empty(eager.Select(e => e.ActivityKey).Intersect(polled.Select(p => p.ActivityKey)));
    }

    [Fact]
    public async Task Complete_WithClaimNext_LeavesWhatWasAlreadyClaimableToThePollers()
    {
        await DeployAndSubmitAsync(Store, FanOutYaml("fan_out_wide", 4, join: false));
        var start = await ClaimOneAsync(Store, "start", "w1");
        var p0 = Assert.Single((await CompleteClaimingNextAsync(start, "w1", 1)).Claimed!);

        // p1-p3 were claimable before p0's report: pollers may be claiming them right now (their claim statements
        // do not take the workflow's lock), so p0's report must not lease them too.
        Assert.Empty((await CompleteClaimingNextAsync(p0, "w1", 5)).Claimed!);
        Assert.Equal(3, (await ClaimAsync(Store, "w2", 100)).Count);
    }

    [Fact]
    public async Task Complete_WithClaimNextForAnotherRoutingKeyOrName_ClaimsNothing()
    {
        const string mixed = """
            name: mixed
            activities:
              - {key: a, activity_name: echo, dependency_of: [py, other]}
              - {key: py, worker: py-std, activity_name: script, parameters: {script: "OUTPUT = INPUT"}}
              - {key: other, activity_name: http_request, parameters: {url: "http://127.0.0.1:9/"}}
            """;
        await DeployAndSubmitAsync(Store, mixed);
        var a = await ClaimOneAsync(Store, "a", "w1");
        var outcome = await Store.CompleteAsync(a.ActivityId, "w1", new JsonObject(), CostReport.Of(0),
            new ClaimNext("std", 10, ["echo"]), CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, outcome.Status);
        Assert.Empty(outcome.Claimed!);
        Assert.Equal("other", Assert.Single(await ClaimAsync(Store, "w2")).ActivityKey);
        Assert.Equal("py", Assert.Single(await ClaimAsync(Store, "w3", routingKey: "py-std")).ActivityKey);
    }

    [Fact]
    public async Task Complete_RepeatedWithClaimNext_HandsOutWhatTheFirstCompletionLeasedWithoutNewClaims()
    {
        var id = await DeployAndSubmitAsync(Store, Chain, new JsonObject { ["n"] = 1 });
        var a = await ClaimOneAsync(Store, "a", "w1");
        var b = Assert.Single((await CompleteClaimingNextAsync(a, "w1", 1)).Claimed!);
        var again = await CompleteClaimingNextAsync(a, "w1", 1);
        Assert.Equal(StoreStatus.Ok, again.Status);
        var same = Assert.Single(again.Claimed!);
        Assert.Equal((b.ActivityId, b.Attempt), (same.ActivityId, same.Attempt));
        Assert.Equal(StoreStatus.Conflict, (await CompleteClaimingNextAsync(a, "w2", 1)).Status);
        var started = await Store.GetEventsAsync(id, null, 1000, new HashSet<string> { EventTypes.ActivityStarted }, CancellationToken.None);
        Assert.Single(started!.Events, e => e.ActivityKey == "b");

        // Once b has been reported, repeating a's report hands out nothing.
        Assert.Equal("c", Assert.Single((await CompleteClaimingNextAsync(b, "w1", 1)).Claimed!).ActivityKey);
        Assert.DoesNotContain((await CompleteClaimingNextAsync(a, "w1", 1)).Claimed!, c => c.ActivityKey == "b");
    }

    private static readonly string FanOutFanIn = FanOutYaml("fan_in", 10, join: true);

    [Fact]
    public async Task Complete_FanInReportsArrivingTogether_RecordsEachOnceAndLeasesTheJoinToOneReporter()
    {
        var id = await DeployAndSubmitAsync(Store, FanOutFanIn);
        var start = await ClaimOneAsync(Store, "start", "w1");
        Assert.Equal(StoreStatus.Ok, (await Store.CompleteAsync(start.ActivityId, "w1", new JsonObject(), 0, CancellationToken.None)).Status);
        var branches = await ClaimAsync(Store, "w1", 100);
        Assert.Equal(10, branches.Count);

        // All ten reports at once (they queue on the workflow and may share transactions), plus a report from a
        // worker that holds no lease and a repeat of one report: each is answered as if it had come alone.
        var reports = branches.Select(b => CompleteClaimingNextAsync(b, "w1", 1)).ToList();
        var stranger = Store.CompleteAsync(branches[3].ActivityId, "w2", new JsonObject(), 0, CancellationToken.None);
        var repeat = CompleteClaimingNextAsync(branches[5], "w1", 1);
        var outcomes = await Task.WhenAll(reports);

        Assert.All(outcomes, o => Assert.Equal(StoreStatus.Ok, o.Status));
        Assert.Equal(StoreStatus.Conflict, (await stranger).Status);
        Assert.Equal(StoreStatus.Ok, (await repeat).Status);
        var join = Assert.Single(outcomes.Concat([await repeat]).SelectMany(o => o.Claimed!).DistinctBy(c => c.ActivityId));
        Assert.Equal("end", join.ActivityKey);
        var completed = (await Store.GetEventsAsync(id, null, 1000, new HashSet<string> { EventTypes.ActivityCompleted }, CancellationToken.None))!.Events;
        Assert.Equal(11, completed.Count);
        Assert.Equal(11, completed.Select(e => e.ActivityKey).Distinct().Count());

        Assert.Empty((await CompleteClaimingNextAsync(join, "w1", 1)).Claimed!);
        Assert.Equal(WorkflowStatus.Completed, await Store.GetWorkflowStatusAsync(id, CancellationToken.None));
    }

    [Fact]
    public async Task Complete_WithClaimNextBelowTheFanOut_LeasesThatManyAndLeavesTheRestClaimable()
    {
        // The server adds the slots it reserved from the worker's waiting poll to claim_next before the transaction.
        await DeployAndSubmitAsync(Store, FanOutFanIn);
        var start = await ClaimOneAsync(Store, "start", "w1");
        var outcome = await Store.CompleteAsync(start.ActivityId, "w1", new JsonObject(), CostReport.Of(0),
            new ClaimNext(null, 5, null), CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, outcome.Status);
        Assert.Equal(5, outcome.Claimed!.Count); // ten became claimable
        Assert.Equal(5, (await ClaimAsync(Store, "w2", 100)).Count);
    }

    private Task<CompleteOutcome> CompleteClaimingNextAsync(ClaimedActivity a, string workerId, int max) =>
        Store.CompleteAsync(a.ActivityId, workerId, new JsonObject { ["echo"] = a.Parameters.DeepClone() }, CostReport.Of(0),
            new ClaimNext(null, max, null), CancellationToken.None);

    [Fact]
    public async Task Complete_UnknownActivity_IsNotFound()
    {
        var outcome = await Store.CompleteAsync(Guid.NewGuid().ToString(), "w1", new JsonObject(), 0, CancellationToken.None);
        Assert.Equal(StoreStatus.NotFound, outcome.Status);
    }
}
