using System.Text.Json.Nodes;
using Spindle.Core.Orchestration;

namespace Spindle.Core.Tests.Orchestration;

public sealed class WorkflowMachineTests
{
    [Fact]
    public void Start_Roots_QueuedTogetherInDefinitionOrder()
    {
        var h = new MachineHarness("""
            name: roots
            activities:
              - {key: b, activity_name: echo}
              - {key: a, activity_name: echo}
              - {key: c, activity_name: echo, depends_on: [a, b]}
            """);
        Assert.Equal(["b", "a"], h.Queued);
        Assert.Equal(ActivityStatus.NotScheduled, h["c"].Status);
        Assert.Equal(WorkflowStatus.Running, h.Status);
    }

    [Fact]
    public void Complete_Branch_FalseSideSkippedAndJoinRuns()
    {
        var h = new MachineHarness("""
            name: branch
            activities:
              - {key: check, activity_name: echo}
              - key: yes
                activity_name: echo
                depends_on: [{activity_key: check, condition: "{{check.ok}}"}]
              - key: no
                activity_name: echo
                depends_on: [{activity_key: check, condition: "{{not check.ok}}"}]
              - key: join
                activity_name: echo
                depends_on:
                  - {activity_key: yes, condition: "{{yes.status == 'completed'}}"}
                  - {activity_key: no, condition: "{{no.status == 'completed'}}"}
            """);
        h.Complete("check", new JsonObject { ["ok"] = true });
        Assert.Equal(["yes"], h.Queued);
        Assert.Equal(ActivityStatus.Skipped, h["no"].Status);
        h.Complete("yes");
        Assert.Equal(["join"], h.Queued);
        h.Complete("join");
        Assert.Equal(WorkflowStatus.Completed, h.Status);
    }

    [Fact]
    public void Fail_UnconditionedDependents_SkippedAndWorkflowFailedWithFirstError()
    {
        var h = new MachineHarness("""
            name: propagate
            activities:
              - {key: a, activity_name: echo}
              - {key: b, activity_name: echo, depends_on: [a]}
              - {key: c, activity_name: echo, depends_on: [b]}
              - {key: side, activity_name: echo}
            """);
        h.Fail("a", message: "exploded");
        Assert.Equal(ActivityStatus.Skipped, h["b"].Status);
        Assert.Equal(ActivityStatus.Skipped, h["c"].Status);
        Assert.Equal(WorkflowStatus.Running, h.Status); // the other branch goes on
        h.Complete("side");
        Assert.Equal(WorkflowStatus.Failed, h.Status);
        Assert.Equal("exploded", h.Workflow.ErrorMessage);
    }

    [Fact]
    public void Fail_ErrorHandlerEdge_RunsHandlerButWorkflowStillFails()
    {
        var h = new MachineHarness("""
            name: handler
            activities:
              - {key: step, activity_name: echo, settings: {retry: {max_attempts: 1}}}
              - key: on_error
                activity_name: echo
                depends_on: [{activity_key: step, condition: "{{step.status == 'failed'}}"}]
            """);
        h.Fail("step", retryable: true);
        Assert.Equal(["on_error"], h.Queued);
        h.Complete("on_error");
        Assert.Equal(WorkflowStatus.Failed, h.Status);
    }

    [Fact]
    public void Fail_DefaultRetries_ThreeRetriesWithExponentialBackoff()
    {
        var h = new MachineHarness("""
            name: retries
            activities:
              - {key: f, activity_name: echo}
            """);
        var waits = new List<double>();
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            var before = h["f"].ReadyAt;
            Assert.True(h.Fail("f", retryable: true));
            Assert.Equal(attempt + 1, h["f"].Attempt);
            var delay = TimeSpan.FromMicroseconds(h["f"].ReadyAt!.Value - before!.Value);
            waits.Add(Math.Round(delay.TotalSeconds));
            h.Advance(delay);
        }
        Assert.Equal([2, 4, 8], waits);
        Assert.False(h.Fail("f", retryable: true));
        Assert.Equal(ActivityStatus.Failed, h["f"].Status);
    }

    [Fact]
    public void Enqueue_UndefinedTemplateValue_FailsWithTemplateErrorNamingField()
    {
        var h = new MachineHarness("""
            name: bad_template
            activities:
              - {key: a, activity_name: echo, parameters: {x: "{{INPUT.missing.deeper}}"}}
            """);
        Assert.Equal(ActivityStatus.Failed, h["a"].Status);
        Assert.Equal(EngineErrorCodes.TemplateError, h["a"].ErrorCode);
        Assert.StartsWith("parameters.x:", h["a"].ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("INPUT.missing", h["a"].ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(WorkflowStatus.Failed, h.Status);
    }

    [Fact]
    public void Enqueue_Delay_HidesActivityUntilDue()
    {
        var h = new MachineHarness("""
            name: delayed
            activities:
              - {key: later, activity_name: echo, settings: {delay: "{{INPUT.wait}}"}}
            """, new JsonObject { ["wait"] = "2s" });
        Assert.Equal(ActivityStatus.Pending, h["later"].Status);
        Assert.Empty(h.Queued);
        h.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(["later"], h.Queued);
    }

    [Fact]
    public void Complete_BoundedLoop_RunsUntilConditionFailsThenSettles()
    {
        var h = new MachineHarness("""
            name: loop
            activities:
              - {key: init, activity_name: echo}
              - key: step
                activity_name: echo
                iteration_scoped: true
                parameters: {i: "{{ACTIVITY.iteration}}"}
                depends_on:
                  - init
                  - {activity_key: check, condition: "{{check.iteration < 3}}"}
              - {key: check, activity_name: echo, depends_on: [step], iteration_scoped: true}
              - {key: after, activity_name: echo, depends_on: [check]}
            """);
        h.Complete("init");
        for (var round = 0; round < 3; round++)
        {
            Assert.Equal(round, h["step"].Parameters!["i"]!.GetValue<int>());
            h.Complete("step", new JsonObject { ["n"] = round });
            Assert.Equal(ActivityStatus.NotScheduled, h["after"].Status);
            h.Complete("check");
        }
        Assert.Equal(3, h["step"].Runs);
        Assert.Equal("[0,1,2]", h["step"].Outputs!["n"]!.ToJsonString());
        Assert.Equal(["after"], h.Queued);
        h.Complete("after");
        Assert.Equal(WorkflowStatus.Completed, h.Status);
    }

    [Fact]
    public void Complete_SelfLoopWithIterationLimit_StopsAtLimit()
    {
        var h = new MachineHarness("""
            name: poll_loop
            activities:
              - key: poll
                activity_name: echo
                iteration_limit: 4
                iteration_scoped: true
                depends_on: [poll]
            """);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(i, h["poll"].Iteration);
            h.Complete("poll");
        }
        Assert.Equal(4, h["poll"].Runs);
        Assert.Equal(WorkflowStatus.Completed, h.Status);
        Assert.Equal(4, h.Events.Count(e => e.EventType == EventTypes.ActivityCompleted));
    }

    [Fact]
    public void Complete_NewLoopRound_GetsNewActivityId()
    {
        var h = new MachineHarness("""
            name: ids
            activities:
              - {key: a, activity_name: echo, iteration_limit: 2, depends_on: [a]}
            """);
        var first = h["a"].Id;
        h.Complete("a");
        Assert.NotEqual(first, h["a"].Id);
        Assert.Equal(1, h["a"].Iteration);
    }

    [Fact]
    public void Cancel_RunningActivity_CompletionRecordedButSchedulesNothing()
    {
        var h = new MachineHarness("""
            name: cancel
            activities:
              - {key: a, activity_name: echo}
              - {key: b, activity_name: echo, depends_on: [a]}
            """);
        h["a"].Status = ActivityStatus.Running;
        h.Step(m => m.Cancel("user"));
        Assert.True(h["a"].CancelRequested);
        Assert.Equal(ActivityStatus.Cancelled, h["b"].Status);
        h.Step(m => m.Complete(h["a"], new JsonObject { ["x"] = 1 }, 0));
        Assert.Equal(ActivityStatus.Completed, h["a"].Status);
        Assert.Equal(ActivityStatus.Cancelled, h["b"].Status);
        Assert.Equal(WorkflowStatus.Cancelled, h.Status);
    }

    [Fact]
    public void Signal_OnTimeoutSkip_SkipsAndDependentsFollow()
    {
        var h = new MachineHarness("""
            name: wait
            activities:
              - {key: approve, activity_name: echo, settings: {wait_for_signal: {event_name: ok, timeout_seconds: 5, on_timeout: skip}}}
              - {key: next, activity_name: echo, depends_on: [approve]}
            """);
        Assert.Equal(ActivityStatus.Waiting, h["approve"].Status);
        h.Step(m => m.SignalTimeout(h["approve"]));
        Assert.Equal(ActivityStatus.Skipped, h["approve"].Status);
        Assert.Equal(ActivityStatus.Skipped, h["next"].Status);
        Assert.Equal(WorkflowStatus.Completed, h.Status);
    }

    [Fact]
    public void Events_OneTransition_EmittedOnce()
    {
        var h = new MachineHarness("""
            name: events
            activities:
              - {key: a, activity_name: echo}
            """);
        h.Complete("a");
        Assert.Equal(
            [EventTypes.ActivityScheduled, EventTypes.ActivityCompleted, EventTypes.WorkflowCompleted],
            h.Events.Select(e => e.EventType));
    }
}
