using System.Globalization;
using System.Text.Json.Nodes;

namespace Spindle.Core.Costs;

/// <summary>Why a budgeted call may not be made: the detail for the error, and the abort marker to record.</summary>
public sealed record BudgetAbort(string Detail, CostLine Marker);

/// <summary>
/// The budget check before an <c>llm_prompt</c>/<c>embedding</c> activity is queued and before each retry (docs/workflow-format.md, Budgets): with
/// the action <c>abort</c>, a call whose cheapest listed model would exceed a limit is not made; otherwise the budget
/// parameters are added so that the worker can pick a cheaper model.
/// </summary>
public static class BudgetGate
{
    /// <param name="parameters">The activity's resolved parameters; the budget parameters are added when it passes.</param>
    /// <param name="spend">The limits and what the activity and the workflow have spent so far.</param>
    /// <param name="action">The effective budget action, <c>abort</c> or <c>continue</c>.</param>
    /// <param name="catalog">The prices the estimate and the worker go by.</param>
    /// <param name="activityKey">The activity the abort marker is recorded under.</param>
    /// <param name="iteration">Its loop iteration.</param>
    /// <param name="attempt">Its attempt.</param>
    /// <returns>Null when the call may be made; otherwise why not.</returns>
    public static BudgetAbort? Check(JsonObject parameters, BudgetCheck spend, string action, ModelCatalog catalog,
        string activityKey, int iteration, int attempt)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(spend);
        if (action != "continue")
        {
            long? maxTokens = parameters["max_tokens"] is JsonValue v && v.TryGetValue<long>(out var m) ? m : null;
            var estimate = BudgetEstimator.EstimateCheapest(catalog, BudgetParameters.ModelIdsOf(parameters), maxTokens);
            if (estimate is not null && !spend.Fits(estimate.CostUsd))
            {
                var activityExceeded = spend.ActivityLimitUsd is { } a && spend.ActivitySpentUsd + estimate.CostUsd > a;
                var limit = activityExceeded ? spend.ActivityLimitUsd : spend.WorkflowLimitUsd;
                var detail = string.Create(CultureInfo.InvariantCulture,
                    $"the cheapest model {estimate.ModelId} is estimated at ${estimate.CostUsd} and the {(activityExceeded ? "activity" : "workflow")} " +
                    $"has spent ${(activityExceeded ? spend.ActivitySpentUsd : spend.WorkflowSpentUsd)} of its ${limit} limit");
                ModelIds.TrySplit(estimate.ModelId, out var provider, out var model);
                return new BudgetAbort(detail, new CostLine(activityKey, iteration, attempt, provider, model ?? estimate.ModelId, default, 0m,
                    limit, CostLine.Abort, estimate.CostUsd));
            }
        }
        BudgetParameters.Apply(parameters, catalog, spend.ActivityLimitUsd, spend.WorkflowLimitUsd, spend.ActivitySpentUsd,
            spend.WorkflowSpentUsd, action);
        return null;
    }
}
