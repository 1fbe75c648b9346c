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

    /// <summary>For a child workflow (docs/architecture.md#child-workflows): the parent, the activity instance that
    /// started it (its key, its id) and that activity's attempt. Null for a workflow nobody started.</summary>
    public string? ParentId { get; init; }

    public string? ParentActivityKey { get; init; }

    public string? ParentActivityId { get; init; }

    public int? ParentAttempt { get; init; }

    /// <summary>Activities keyed by activity key.</summary>
    public Dictionary<string, ActivityState> Activities { get; } = new(StringComparer.Ordinal);

    public bool IsDirty { get; set; }

    public ActivityState Get(string key) => Activities[key];
}
