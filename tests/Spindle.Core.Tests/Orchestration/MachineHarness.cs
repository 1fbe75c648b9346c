using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Costs;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;

namespace Spindle.Core.Tests.Orchestration;

/// <summary>Drives <see cref="WorkflowMachine"/> the way the store does, one transition at a time, without a database.</summary>
internal sealed class MachineHarness
{
    private long _now = Timestamps.Now();

    public MachineHarness(string yaml, JsonObject? input = null, EngineDefaults? defaults = null)
    {
        Defaults = defaults ?? new EngineDefaults();
        var parsed = DefinitionParser.Parse(yaml);
        Assert.True(parsed.IsValid, string.Join("; ", parsed.FieldErrors.Select(e => $"{e.Key}: {string.Join(", ", e.Value)}")));
        Workflow = new WorkflowState
        {
            Id = Ids.New(),
            Definition = parsed.Definition!,
            DefinitionVersion = "20260101.000000.000000",
            Input = input ?? new JsonObject(),
            CreatedAt = _now,
            UpdatedAt = _now,
        };
        Events = [];
        Step(m => m.Start());
    }

    public WorkflowState Workflow { get; }

    /// <summary>The server settings the next step runs with (a restart may change its secrets).</summary>
    public EngineDefaults Defaults { get; set; }

    public List<WorkflowEvent> Events { get; }

    /// <summary>Cost lines of every step so far.</summary>
    public List<CostLine> CostLines { get; } = [];

    /// <summary>The machine of the latest step.</summary>
    public WorkflowMachine? LastMachine { get; private set; }

    public ActivityState this[string key] => Workflow.Activities[key];

    public string Status => Workflow.Status;

    public IEnumerable<string> Queued => Workflow.Definition.Activities
        .Select(a => Workflow.Activities[a.Key])
        .Where(a => a.Status == ActivityStatus.Pending && a.ReadyAt <= _now)
        .Select(a => a.Key);

    public void Advance(TimeSpan by) => _now += (long)by.TotalMicroseconds;

    /// <summary>Claims then completes an activity that must be queued.</summary>
    public void Complete(string key, JsonObject? output = null)
    {
        Claim(key);
        Step(m => m.Complete(this[key], output ?? new JsonObject(), 0));
    }

    public bool Fail(string key, string code = "ERR", bool retryable = false, string message = "failed")
    {
        Claim(key);
        var willRetry = false;
        Step(m => willRetry = m.Fail(this[key], code, message, retryable, 0));
        return willRetry;
    }

    public void Step(Action<WorkflowMachine> action)
    {
        var machine = new WorkflowMachine(Workflow, Defaults, _now);
        action(machine);
        Events.AddRange(machine.Decision.Events);
        CostLines.AddRange(machine.Decision.CostLines);
        LastMachine = machine;
    }

    public void Claim(string key)
    {
        var a = this[key];
        Assert.True(a.Status == ActivityStatus.Pending, $"'{key}' should be pending but is {a.Status}");
        Assert.True(a.ReadyAt <= _now, $"'{key}' is not due yet");
        a.Status = ActivityStatus.Running;
        a.LeaseOwner = "w";
        a.ClaimedAt = _now;
    }
}
