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
public abstract class WorkflowStoreBehaviour : IAsyncLifetime
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
        Assert.Equal(("b", 1, 0, "echo", "std"), (b.ActivityKey, b.Attempt, b.Iteration, b.ActivityName, b.Worker));
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
        Assert.Equal("py", Assert.Single(await ClaimAsync(Store, "w3", worker: "py-std")).ActivityKey);
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

    [Fact]
    public async Task RunTimers_ExpiredLease_ReclaimedByAnotherWorkerAndLateResultRejected()
    {
        const string shortLease = """
            name: short_lease
            activities:
              - {key: slow, activity_name: echo, settings: {timeout_seconds: 1}}
            """;
        var id = await DeployAndSubmitAsync(Store, shortLease);
        var first = await ClaimOneAsync(Store, "slow", "w1");
        Assert.Equal(1, first.Attempt);
        await Task.Delay(1200);
        await Store.RunTimersAsync(CancellationToken.None);
        var second = await ClaimOneAsync(Store, "slow", "w2");
        Assert.Equal(first.ActivityId, second.ActivityId);
        Assert.Equal(2, second.Attempt);
        Assert.Equal(StoreStatus.Conflict, (await CompleteAsync(Store, first, workerId: "w1")).Status);
        Assert.Equal(StoreStatus.Ok, (await CompleteAsync(Store, second, workerId: "w2")).Status);
        Assert.Equal(WorkflowStatus.Completed, await Store.GetWorkflowStatusAsync(id, CancellationToken.None));
    }

    [Fact]
    public async Task RunTimers_ExpiredLeaseWithoutRetries_FailsWithActivityTimeout()
    {
        const string noRetry = """
            name: no_retry
            activities:
              - {key: slow, activity_name: echo, settings: {timeout_seconds: 1, retry: {max_attempts: 1}}}
            """;
        var id = await DeployAndSubmitAsync(Store, noRetry);
        await ClaimOneAsync(Store, "slow");
        await Task.Delay(1200);
        await Store.RunTimersAsync(CancellationToken.None);
        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Failed, wf!.Status);
        Assert.Equal(EngineErrorCodes.ActivityTimeout, wf.Activities["slow"].ErrorCode);
        Assert.Contains("timed out after 0 retries (max_retries=0)", wf.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fail_Retryable_RequeuedAfterBackoffWithNextAttempt()
    {
        const string flaky = """
            name: flaky
            activities:
              - {key: f, activity_name: echo, settings: {retry: {max_attempts: 3, strategy: fixed, base_seconds: 0.3}}}
            """;
        var id = await DeployAndSubmitAsync(Store, flaky);
        var first = await ClaimOneAsync(Store, "f");
        var fail = await Store.FailAsync(first.ActivityId, "w1", new ActivityError("BOOM", "transient", true), 0, CancellationToken.None);
        Assert.True(fail.WillRetry);
        Assert.Empty(await ClaimAsync(Store, "w1")); // backoff not over yet
        await Task.Delay(400);
        var second = await ClaimOneAsync(Store, "f");
        Assert.Equal(2, second.Attempt);
        var fail2 = await Store.FailAsync(second.ActivityId, "w1", new ActivityError("BOOM", "permanent", false), 0, CancellationToken.None);
        Assert.False(fail2.WillRetry);
        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Failed, wf!.Status);
        Assert.Equal("permanent", wf.ErrorMessage);
    }

    [Fact]
    public async Task Complete_FanInSiblingsConcurrently_SchedulesJoinExactlyOnce()
    {
        const string fanIn = """
            name: fan_in
            activities:
              - {key: start, activity_name: echo, dependency_of: [p0, p1, p2, p3, p4, p5]}
              - {key: p0, activity_name: echo}
              - {key: p1, activity_name: echo}
              - {key: p2, activity_name: echo}
              - {key: p3, activity_name: echo}
              - {key: p4, activity_name: echo}
              - {key: p5, activity_name: echo}
              - {key: end, activity_name: echo, depends_on: [p0, p1, p2, p3, p4, p5]}
            """;
        var id = await DeployAndSubmitAsync(Store, fanIn);
        await CompleteAsync(Store, await ClaimOneAsync(Store, "start"));
        var parallel = await ClaimAsync(Store, "w1", 100);
        Assert.Equal(6, parallel.Count);
        await Task.WhenAll(parallel.Select(p => Task.Run(() => CompleteAsync(Store, p))));
        var end = await ClaimAsync(Store, "w1", 100);
        Assert.Equal("end", Assert.Single(end).ActivityKey);
        await CompleteAsync(Store, end[0]);
        var events = await Store.GetEventsAsync(id, null, 1000, new HashSet<string> { EventTypes.ActivityScheduled }, CancellationToken.None);
        Assert.Single(events!.Events, e => e.ActivityKey == "end");
        Assert.Equal(WorkflowStatus.Completed, await Store.GetWorkflowStatusAsync(id, CancellationToken.None));
    }

    [Fact]
    public async Task Submit_UniqueKeyHeld_ConflictsUntilReleasedByCancel()
    {
        var definition = Parse(Chain);
        await Store.DeployAsync(definition, CancellationToken.None);
        var first = await Store.SubmitAsync(new SubmitCommand("chain", null, new JsonObject { ["n"] = 1 }, "order-1"), CancellationToken.None);
        var dup = await Store.SubmitAsync(new SubmitCommand("chain", null, new JsonObject { ["n"] = 1 }, "order-1"), CancellationToken.None);
        Assert.Equal(StoreStatus.Conflict, dup.Status);
        Assert.Equal(StoreStatus.Ok, (await Store.CancelAsync(first.Workflow!.Id, "test", CancellationToken.None)).Status);
        var again = await Store.SubmitAsync(new SubmitCommand("chain", null, new JsonObject { ["n"] = 1 }, "order-1"), CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, again.Status);
    }

    [Fact]
    public async Task Cancel_RunningWorkflow_WithdrawsQueuedAndFlagsRunning()
    {
        const string two = """
            name: two_roots
            activities:
              - {key: a, activity_name: echo}
              - {key: b, activity_name: echo}
              - {key: c, activity_name: echo, depends_on: [a, b]}
            """;
        var id = await DeployAndSubmitAsync(Store, two);
        var claimed = await ClaimAsync(Store, "w1", 1);
        var running = Assert.Single(claimed);
        var cancel = await Store.CancelAsync(id, "no longer needed", CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, cancel.Status);
        Assert.Empty(await ClaimAsync(Store, "w2"));
        var heartbeat = await Store.HeartbeatAsync(running.ActivityId, "w1", CancellationToken.None);
        Assert.True(heartbeat.CancelRequested);
        var fail = await Store.FailAsync(running.ActivityId, "w1", new ActivityError("CANCELLED", "stopped", false), 0, CancellationToken.None);
        Assert.False(fail.WillRetry);
        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Cancelled, wf!.Status);
        Assert.Equal("Cancelled: no longer needed", wf.ErrorMessage);
        Assert.All(wf.Activities.Values, a => Assert.Equal(ActivityStatus.Cancelled, a.Status));
        Assert.Equal(StoreStatus.Ok, (await Store.CancelAsync(id, null, CancellationToken.None)).Status);
    }

    [Fact]
    public async Task Retry_FailedWorkflow_RerunsFailedAndSkippedKeepingCompleted()
    {
        var id = await DeployAndSubmitAsync(Store, Chain, new JsonObject { ["n"] = 1 });
        await CompleteAsync(Store, await ClaimOneAsync(Store, "a"));
        var b = await ClaimOneAsync(Store, "b");
        await Store.FailAsync(b.ActivityId, "w1", new ActivityError("BAD", "bad input", false), 0, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Failed, await Store.GetWorkflowStatusAsync(id, CancellationToken.None));
        var retry = await Store.RetryAsync(id, CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, retry.Status);
        Assert.Equal(["b", "c"], retry.RetriedActivities);
        var b2 = await ClaimOneAsync(Store, "b");
        Assert.Equal(b.ActivityId, b2.ActivityId);
        Assert.Equal(2, b2.Attempt);
        await CompleteAsync(Store, b2);
        await CompleteAsync(Store, await ClaimOneAsync(Store, "c"));
        Assert.Equal(WorkflowStatus.Completed, await Store.GetWorkflowStatusAsync(id, CancellationToken.None));
        Assert.Equal(StoreStatus.Conflict, (await Store.RetryAsync(id, CancellationToken.None)).Status);
    }

    [Fact]
    public async Task GetEvents_AfterAndTypeFilter_PagesInOrder()
    {
        var id = await DeployAndSubmitAsync(Store, Chain, new JsonObject { ["n"] = 1 });
        foreach (var key in new[] { "a", "b", "c" })
        {
            await CompleteAsync(Store, await ClaimOneAsync(Store, key));
        }
        var all = await Store.GetEventsAsync(id, null, 1000, null, CancellationToken.None);
        Assert.Equal(EventTypes.WorkflowCreated, all!.Events[0].EventType);
        Assert.Equal(EventTypes.WorkflowCompleted, all.Events[^1].EventType);
        var page = await Store.GetEventsAsync(id, all.Events[0].Id, 2, null, CancellationToken.None);
        Assert.Equal(2, page!.Events.Count);
        Assert.True(page.HasMore);
        Assert.Equal(all.Events[1].Id, page.Events[0].Id);
        Assert.Null(await Store.GetEventsAsync(Guid.NewGuid().ToString(), null, 10, null, CancellationToken.None));
    }

    [Fact]
    public async Task Signal_WaitingActivity_EnqueuedWithSignalData()
    {
        const string approval = """
            name: approval
            activities:
              - {key: ask, activity_name: echo, parameters: {approved: "{{SIGNAL.ok}}"}, settings: {wait_for_signal: approve}}
            """;
        var id = await DeployAndSubmitAsync(Store, approval);
        Assert.Empty(await ClaimAsync(Store, "w1"));
        var miss = await Store.SignalAsync(id, "ask", "other", new JsonObject(), CancellationToken.None);
        Assert.Empty(miss.SignaledActivities);
        var hit = await Store.SignalAsync(id, "ask", "approve", new JsonObject { ["ok"] = true }, CancellationToken.None);
        Assert.Equal(["ask"], hit.SignaledActivities);
        var claimed = await ClaimOneAsync(Store, "ask");
        Assert.True(claimed.Parameters["approved"]!.GetValue<bool>());
        Assert.True(claimed.SignalData!["ok"]!.GetValue<bool>());
        await CompleteAsync(Store, claimed);
        Assert.Equal(WorkflowStatus.Completed, await Store.GetWorkflowStatusAsync(id, CancellationToken.None));
    }

    [Fact]
    public async Task RunTimers_Deadline_FailsWorkflowAndCancelsQueued()
    {
        const string tight = """
            name: tight
            settings: {timeout: 1}
            activities:
              - {key: a, activity_name: echo, worker: nobody}
            """;
        var id = await DeployAndSubmitAsync(Store, tight);
        await Task.Delay(1100);
        await Store.RunTimersAsync(CancellationToken.None);
        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Failed, wf!.Status);
        Assert.Equal(ActivityStatus.Cancelled, wf.Activities["a"].Status);
        Assert.Contains("never claimed", wf.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Claim_ActivityNamesFilterAndRouting_OnlyMatchingActivities()
    {
        const string mixed = """
            name: mixed
            activities:
              - {key: e, activity_name: echo}
              - {key: h, activity_name: http_request}
              - {key: p, worker: py-std, activity_name: script}
            """;
        await DeployAndSubmitAsync(Store, mixed);
        var filtered = await Store.ClaimAsync(new ClaimCommand("std", "w1", 10, ["http_request"]), CancellationToken.None);
        Assert.Equal("h", Assert.Single(filtered).ActivityKey);
        var py = await ClaimAsync(Store, "py1", 10, "py-std");
        Assert.Equal("p", Assert.Single(py).ActivityKey);
        var rest = await ClaimAsync(Store, "w1");
        Assert.Equal("e", Assert.Single(rest).ActivityKey);
    }

    [Fact]
    public async Task Heartbeat_OwnerOtherWorkerUnknownAndFinished_AnswersPerProtocol()
    {
        const string leased = """
            name: leased
            activities:
              - {key: a, activity_name: echo, settings: {timeout_seconds: 90}}
            """;
        await DeployAndSubmitAsync(Store, leased);
        var a = await ClaimOneAsync(Store, "a", "w1");
        var before = (await Store.GetWorkflowAsync(a.WorkflowId, CancellationToken.None))!.Activities["a"].LeaseUntil;
        await Task.Delay(20);

        var beat = await Store.HeartbeatAsync(a.ActivityId, "w1", CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, beat.Status);
        Assert.True(beat.Acknowledged);
        Assert.Equal(90, beat.LeaseSeconds);
        Assert.False(beat.CancelRequested);
        var after = (await Store.GetWorkflowAsync(a.WorkflowId, CancellationToken.None))!.Activities["a"].LeaseUntil;
        Assert.True(after > before, "the heartbeat restarts the lease");

        Assert.Equal(StoreStatus.Conflict, (await Store.HeartbeatAsync(a.ActivityId, "w2", CancellationToken.None)).Status);
        Assert.Equal(StoreStatus.NotFound, (await Store.HeartbeatAsync(Guid.NewGuid().ToString(), "w1", CancellationToken.None)).Status);
        await CompleteAsync(Store, a);
        var late = await Store.HeartbeatAsync(a.ActivityId, "w1", CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, late.Status);
        Assert.False(late.Acknowledged); // ignored: the activity already completed
    }

    [Fact]
    public async Task ListWorkflows_StatusAndNameFilters_PagesNewestFirstWithTotal()
    {
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await DeployAndSubmitAsync(Store, Chain, new JsonObject { ["n"] = i }));
        }
        const string other = """
            name: other
            activities:
              - {key: x, activity_name: echo}
            """;
        var otherId = await DeployAndSubmitAsync(Store, other);
        Assert.Equal(StoreStatus.Ok, (await Store.CancelAsync(ids[0], null, CancellationToken.None)).Status);

        var (page, total) = await Store.ListWorkflowsAsync(new WorkflowQuery(null, "chain", null, null, 2, 1), CancellationToken.None);
        Assert.Equal(5, total);
        Assert.Equal([ids[3], ids[2]], page.Select(w => w.Id));
        var (cancelled, cancelledTotal) = await Store.ListWorkflowsAsync(new WorkflowQuery(WorkflowStatus.Cancelled, null, null, null, 10, 0), CancellationToken.None);
        Assert.Equal(1, cancelledTotal);
        Assert.Equal(ids[0], Assert.Single(cancelled).Id);
        var (all, allTotal) = await Store.ListWorkflowsAsync(new WorkflowQuery(WorkflowStatus.Running, null, null, null, 10, 0), CancellationToken.None);
        Assert.Equal(5, allTotal);
        Assert.Equal(otherId, all[0].Id);
        var newest = (await Store.GetWorkflowAsync(otherId, CancellationToken.None))!.CreatedAt;
        var (before, beforeTotal) = await Store.ListWorkflowsAsync(new WorkflowQuery(null, null, null, newest, 10, 0), CancellationToken.None);
        Assert.Equal(5, beforeTotal);
        Assert.DoesNotContain(before, w => w.Id == otherId);
    }

    [Fact]
    public async Task GetDefinition_LatestOrExactVersion_ReturnsParsedDefinition()
    {
        var first = await Store.DeployAsync(Parse(Chain), CancellationToken.None);
        var second = await Store.DeployAsync(Parse(Chain.Replace("key: c", "key: d", StringComparison.Ordinal)), CancellationToken.None);
        var latest = await Store.GetDefinitionAsync("chain", null, CancellationToken.None);
        Assert.Equal(second.Version, latest!.Version);
        Assert.Contains(latest.Definition.Activities, a => a.Key == "d");
        var old = await Store.GetDefinitionAsync("chain", first.Version, CancellationToken.None);
        Assert.Contains(old!.Definition.Activities, a => a.Key == "c");
        Assert.Null(await Store.GetDefinitionAsync("chain", "20000101.000000.000000", CancellationToken.None));
        Assert.Null(await Store.GetDefinitionAsync("missing", null, CancellationToken.None));
        var listed = await Store.ListDefinitionsAsync(CancellationToken.None);
        Assert.Equal([second.Version, first.Version], listed.Where(d => d.Name == "chain").Select(d => d.Version));
    }
}
