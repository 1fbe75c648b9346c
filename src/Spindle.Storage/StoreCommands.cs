using System.Text.Json.Nodes;
using Spindle.Core.Costs;

namespace Spindle.Storage;

/// <summary>
/// A worker's result for an activity it holds the lease of, with the attempt's cost (its priced usage lines become
/// cost lines in the same transaction). With <paramref name="ClaimNext"/>, the transaction also leases the workflow's
/// activities that became claimable to <paramref name="WorkerId"/> and returns them in the outcome.
/// </summary>
public sealed record CompleteCommand(string ActivityId, string WorkerId, JsonObject Output, CostReport Costs, ClaimNext? ClaimNext = null);

/// <summary>A worker's failure report for an activity it holds the lease of, with the attempt's cost.</summary>
public sealed record FailCommand(string ActivityId, string WorkerId, ActivityError Error, CostReport Costs);

/// <summary>
/// Delivers event <paramref name="EventName"/> with <paramref name="Data"/> to the workflow's activities waiting for it
/// (only <paramref name="ActivityKey"/>'s, when given).
/// </summary>
public sealed record SignalCommand(string WorkflowId, string? ActivityKey, string EventName, JsonNode? Data);
