using System.Text.Json.Nodes;
using Spindle.Core.Orchestration;

namespace Spindle.Core.Tests.Orchestration;

/// <summary>The machine's side of child workflows: asking for the child, and taking its end.</summary>
public sealed class ChildMachineTests
{
    private const string Parent = """
        name: parent
        activities:
          - key: sub
            workflow: child
            input: {n: "{{INPUT.n}}"}
            settings: {retry: {max_attempts: 2}}
          - {key: after, activity_name: echo, depends_on: [sub]}
        """;

    [Fact]
    public void Start_WorkflowActivity_AsksForTheChildWithResolvedInputAndQueuesNothing()
    {
        var h = new MachineHarness(Parent, new JsonObject { ["n"] = 4 });
        var start = Assert.Single(h.LastMachine!.Decision.ChildStarts);
        Assert.Equal("child", start.DefinitionName);
        Assert.Null(start.Version);
        Assert.Equal(4, start.Input["n"]!.GetValue<int>());
        Assert.Equal(ActivityStatus.Running, h["sub"].Status);
        Assert.Null(h["sub"].LeaseOwner);
        Assert.Empty(h.Queued);
        Assert.Empty(h.LastMachine.Decision.ReadyRoutingKeys);
        var started = Assert.Single(h.Events, e => e.EventType == EventTypes.ActivityStarted);
        Assert.Equal(start.ChildId, started.Payload["child_workflow_id"]!.GetValue<string>());
    }

    [Fact]
    public void ChildEnded_Completed_CompletesWithTheOutputAndCostAndRunsTheNextStep()
    {
        var h = new MachineHarness(Parent, new JsonObject { ["n"] = 1 });
        var output = new JsonObject { ["work"] = new JsonObject { ["v"] = 1 } };
        h.Step(m => m.ChildEnded(h["sub"], new ChildOutcome("c1", WorkflowStatus.Completed, output, null, null, 0.5m)));
        Assert.Equal(ActivityStatus.Completed, h["sub"].Status);
        Assert.Equal(1, h["sub"].Outputs!["work"]!["v"]!.GetValue<int>());
        Assert.Equal(0.5m, h["sub"].Cost);
        Assert.Equal(0.5m, h.Workflow.TotalCost);
        Assert.Empty(h.LastMachine!.Decision.CostLines); // the child's own lines record that spend
        Assert.Equal(["after"], h.Queued);
    }

    [Fact]
    public void ChildEnded_Failed_RetriesWithANewChildThenFails()
    {
        var h = new MachineHarness(Parent, new JsonObject { ["n"] = 1 });
        var first = h.LastMachine!.Decision.ChildStarts[0];
        h.Step(m => m.ChildEnded(h["sub"], new ChildOutcome(first.ChildId, WorkflowStatus.Failed, [], "boom", "ERR", 0m)));
        var retry = Assert.Single(h.LastMachine!.Decision.ChildStarts);
        Assert.NotEqual(first.ChildId, retry.ChildId);
        Assert.Equal(2, retry.Attempt);
        Assert.False(h.LastMachine.WantsChild(h["sub"].Id, 1)); // the first child is no longer wanted
        Assert.True(h.LastMachine.WantsChild(h["sub"].Id, 2));
        h.Step(m => m.ChildEnded(h["sub"], new ChildOutcome(retry.ChildId, WorkflowStatus.Failed, [], "boom", "ERR", 0m)));
        Assert.Equal(ActivityStatus.Failed, h["sub"].Status);
        Assert.Equal(ChildErrorCodes.Failed, h["sub"].ErrorCode);
        Assert.Contains("boom", h["sub"].ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(WorkflowStatus.Failed, h.Status);
    }

    [Fact]
    public void Cancel_RunningChildActivity_IsNoLongerWantedAndItsCancelledChildCancelsIt()
    {
        var h = new MachineHarness(Parent, new JsonObject { ["n"] = 1 });
        h.Step(m => m.Cancel("stop"));
        Assert.False(h.LastMachine!.WantsChild(h["sub"].Id, 1));
        h.Step(m => m.ChildEnded(h["sub"], new ChildOutcome("c1", WorkflowStatus.Cancelled, [], "Cancelled", null, 0m)));
        Assert.Equal(ActivityStatus.Cancelled, h["sub"].Status);
    }

    [Fact]
    public void ChildNotStarted_UnknownDefinition_FailsTheActivityWithoutRetry()
    {
        var h = new MachineHarness(Parent, new JsonObject { ["n"] = 1 });
        var start = h.LastMachine!.Decision.ChildStarts[0];
        h.Step(m => m.ChildNotStarted(start, ChildErrorCodes.NotFound, "Child workflow definition 'child' is not deployed"));
        Assert.Equal(ActivityStatus.Failed, h["sub"].Status);
        Assert.Equal(ChildErrorCodes.NotFound, h["sub"].ErrorCode);
        Assert.Empty(h.LastMachine!.Decision.ChildStarts);
    }

    [Fact]
    public void Start_InputTemplateFails_FailsTheActivityNamingInput()
    {
        var h = new MachineHarness(Parent.Replace("{{INPUT.n}}", "{{ INPUT.n.missing.deeper }}", StringComparison.Ordinal));
        Assert.Equal(ActivityStatus.Failed, h["sub"].Status);
        Assert.Equal(EngineErrorCodes.TemplateError, h["sub"].ErrorCode);
        Assert.StartsWith("input", h["sub"].ErrorMessage, StringComparison.Ordinal);
    }
}
