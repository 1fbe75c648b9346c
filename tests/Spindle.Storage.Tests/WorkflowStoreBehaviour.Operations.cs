using System.Text.Json.Nodes;
using Spindle.Core.Orchestration;
using static Spindle.Storage.Tests.StoreTestHelpers;

namespace Spindle.Storage.Tests;

/// <summary>The rest of <see cref="WorkflowStoreBehaviour"/>: timers, failures and retries, the workflow operations
/// (cancel, retry, signal) and the reads.</summary>
public abstract partial class WorkflowStoreBehaviour
{
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
        var miss = await Store.SignalAsync(new SignalCommand(id, "ask", "other", new JsonObject()), CancellationToken.None);
        Assert.Empty(miss.SignaledActivities);
        var hit = await Store.SignalAsync(new SignalCommand(id, "ask", "approve", new JsonObject { ["ok"] = true }), CancellationToken.None);
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
