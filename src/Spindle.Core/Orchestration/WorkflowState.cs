using System.Text.Json.Nodes;
using Spindle.Core.Definitions;

namespace Spindle.Core.Orchestration;

/// <summary>A workflow run loaded for one transaction; the orchestrator mutates it and the store writes back what changed.</summary>
public sealed class WorkflowState
{
    public required string Id { get; init; }
    public required WorkflowDefinition Definition { get; init; }
    public required string DefinitionVersion { get; init; }
    public string Status { get; set; } = WorkflowStatus.Created;
    public required JsonObject Input { get; init; }
    public string? UniqueKey { get; init; }
    public long CreatedAt { get; init; }
    public long UpdatedAt { get; set; }
    public long? DeadlineAt { get; set; }
    public long? CompletedAt { get; set; }
    public string? ErrorMessage { get; set; }
    public decimal TotalCost { get; set; }
    public decimal? BudgetLimit { get; init; }

    /// <summary>The schedule that started this run and the occurrence it is for (µs), when a schedule did.</summary>
    public string? ScheduleId { get; init; }

    public long? ScheduledAt { get; init; }

    /// <summary>The priority given at submit: its activities' unless they set their own (<c>priority</c>).</summary>
    public int Priority { get; init; }

    /// <summary>The rendered key of the definition's workflow-level <c>concurrency</c>, or null without one. A run with
    /// a key stays <c>created</c> (waiting) until the store starts it in a free slot (docs/workflow-format.md).</summary>
    public string? ConcurrencyKey { get; init; }

    /// <summary>For a child workflow (docs/architecture.md#child-workflows): the parent, the activity instance that
    /// started it (its key, its id) and that activity's attempt. Null for a workflow nobody started.</summary>
    public string? ParentId { get; init; }

    public string? ParentActivityKey { get; init; }

    public string? ParentActivityId { get; init; }

    public int? ParentAttempt { get; init; }

    /// <summary>Activities keyed by activity key.</summary>
    public Dictionary<string, ActivityState> Activities { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Items of maps that this transaction loaded or created, keyed by item key (<c>key[index]</c>). A workflow is
    /// loaded without its items; the store adds those a decision needs (docs/architecture.md#maps).
    /// </summary>
    public Dictionary<string, ActivityState> Items { get; } = new(StringComparer.Ordinal);

    public bool IsDirty { get; set; }

    public ActivityState Get(string key) => Activities[key];

    /// <summary>The activity or loaded map item whose current execution has id <paramref name="id"/>.</summary>
    public ActivityState? FindExecution(string id)
    {
        foreach (var a in Activities.Values)
        {
            if (a.Id == id)
            {
                return a;
            }
        }
        foreach (var a in Items.Values)
        {
            if (a.Id == id)
            {
                return a;
            }
        }
        return null;
    }
}
