using Spindle.Core.Orchestration;

namespace Spindle.Core.Tests.Orchestration;

/// <summary>The decision object the store reads after running the machine: whom to wake, and when.</summary>
public sealed class WorkflowDecisionTests
{
    [Fact]
    public void Start_RootsNowAndLater_ReadyAndDelayedRoutingKeys()
    {
        var h = new MachineHarness("""
            name: wake
            activities:
              - {key: now, activity_name: echo, worker: fast}
              - {key: later, activity_name: echo, worker: slow, settings: {delay: "5m"}}
              - {key: sooner, activity_name: echo, worker: slow, settings: {delay: "1m"}}
            """);
        var decision = h.LastMachine!.Decision;

        Assert.Equal(["fast"], decision.ReadyRoutingKeys);
        var (routingKey, at) = Assert.Single(decision.DelayedRoutingKeys);
        Assert.Equal("slow", routingKey);
        Assert.Equal(h["sooner"].ReadyAt, at);
        Assert.False(decision.BecameTerminal);
        Assert.Equal([EventTypes.ActivityScheduled, EventTypes.ActivityScheduled, EventTypes.ActivityScheduled],
            decision.Events.Select(e => e.EventType));
    }

    [Fact]
    public void Complete_LastActivity_BecameTerminalAndNobodyToWake()
    {
        var h = new MachineHarness("""
            name: done
            activities:
              - {key: only, activity_name: echo}
            """);
        h.Complete("only");
        var decision = h.LastMachine!.Decision;

        Assert.True(decision.BecameTerminal);
        Assert.Empty(decision.ReadyRoutingKeys);
        Assert.Equal([EventTypes.ActivityCompleted, EventTypes.WorkflowCompleted], decision.Events.Select(e => e.EventType));
    }

    [Fact]
    public void ClaimReady_EverythingHandedOut_RoutingKeyNoLongerReady()
    {
        var h = new MachineHarness("""
            name: handover
            activities:
              - {key: a, activity_name: echo, worker: std}
              - {key: b, activity_name: echo, worker: std}
            """);
        var machine = h.LastMachine!;
        Assert.Equal(["std"], machine.Decision.ReadyRoutingKeys);

        Assert.Single(machine.ClaimReady("std", "w1", null, 1));
        Assert.Equal(["std"], machine.Decision.ReadyRoutingKeys); // one left for the pollers

        Assert.Single(machine.ClaimReady("std", "w1", null, 1));
        Assert.Empty(machine.Decision.ReadyRoutingKeys);
        Assert.Equal(2, machine.Decision.Events.Count(e => e.EventType == EventTypes.ActivityStarted));
    }
}
