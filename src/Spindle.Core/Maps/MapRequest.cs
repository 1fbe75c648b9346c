using System.Text.Json.Nodes;

namespace Spindle.Core.Maps;

/// <summary>
/// Work on map items that are not loaded with the workflow, asked of the store by the decision that needs it
/// (<see cref="Orchestration.WorkflowDecision.MapRequests"/>); the store does it in the same transaction.
/// </summary>
public abstract record MapRequest(string MapKey)
{
    /// <summary>Remove every item row of the map: a new expansion (loop round, workflow retry) replaces them.</summary>
    public sealed record Reset(string MapKey) : MapRequest(MapKey);

    /// <summary>
    /// The map runs again after a workflow retry, in the same round and over the same list: remove the item rows that
    /// did not complete and hand the indexes of those that did to
    /// <see cref="Orchestration.WorkflowMachine.RerunMapItems"/>, which makes new rows for the others.
    /// </summary>
    public sealed record Rerun(string MapKey) : MapRequest(MapKey);

    /// <summary>Load items <see cref="From"/>.. (up to <see cref="Count"/>) and hand them to
    /// <see cref="Orchestration.WorkflowMachine.AddItems"/>, which starts them.</summary>
    public sealed record Load(string MapKey, int From, int Count) : MapRequest(MapKey);

    /// <summary>Every item has settled: read their statuses and outputs in index order for
    /// <see cref="Orchestration.WorkflowMachine.FinishMap"/> (items loaded in this transaction override the rows).</summary>
    public sealed record Collect(string MapKey) : MapRequest(MapKey);

    /// <summary>The map stopped (an item failed, the workflow was cancelled or ran out of time): cancel the item rows
    /// not loaded here that have not started, and ask running ones to stop.</summary>
    public sealed record Stop(string MapKey) : MapRequest(MapKey);
}

/// <summary>One item of a map as <see cref="MapRequest.Collect"/> reads it.</summary>
public sealed record MapItemResult(int Index, string Key, string Status, JsonObject? Outputs, string? ErrorCode, string? ErrorMessage);
