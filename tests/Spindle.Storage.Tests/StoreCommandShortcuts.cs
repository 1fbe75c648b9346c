using System.Text.Json.Nodes;
using Spindle.Core.Costs;

namespace Spindle.Storage.Tests;

/// <summary>
/// The positional forms of the store's result commands that tests write most: a flat cost, or a cost report without
/// claim-next. The store itself takes only <see cref="CompleteCommand"/> and <see cref="FailCommand"/>.
/// </summary>
internal static class StoreCommandShortcuts
{
    public static Task<CompleteOutcome> CompleteAsync(this IWorkflowStore store, string activityId, string workerId, JsonObject output,
        decimal cost, CancellationToken cancellationToken) =>
        store.CompleteAsync(new CompleteCommand(activityId, workerId, output, CostReport.Of(cost)), cancellationToken);

    public static Task<CompleteOutcome> CompleteAsync(this IWorkflowStore store, string activityId, string workerId, JsonObject output,
        CostReport costs, CancellationToken cancellationToken) =>
        store.CompleteAsync(new CompleteCommand(activityId, workerId, output, costs), cancellationToken);

    public static Task<CompleteOutcome> CompleteAsync(this IWorkflowStore store, string activityId, string workerId, JsonObject output,
        CostReport costs, ClaimNext? claimNext, CancellationToken cancellationToken) =>
        store.CompleteAsync(new CompleteCommand(activityId, workerId, output, costs, claimNext), cancellationToken);

    public static Task<FailOutcome> FailAsync(this IWorkflowStore store, string activityId, string workerId, ActivityError error,
        decimal cost, CancellationToken cancellationToken) =>
        store.FailAsync(new FailCommand(activityId, workerId, error, CostReport.Of(cost)), cancellationToken);

    public static Task<FailOutcome> FailAsync(this IWorkflowStore store, string activityId, string workerId, ActivityError error,
        CostReport costs, CancellationToken cancellationToken) =>
        store.FailAsync(new FailCommand(activityId, workerId, error, costs), cancellationToken);
}
