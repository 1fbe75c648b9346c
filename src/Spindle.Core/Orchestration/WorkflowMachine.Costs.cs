using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using Spindle.Core.Definitions;

namespace Spindle.Core.Orchestration;

// Where the machine meets budgets, cost recording and the result cache; the rules live in Spindle.Core.Costs.
public sealed partial class WorkflowMachine
{
    // ---- costs, budgets and the result cache (docs/workflow-format.md); the rules themselves are in Spindle.Core.Costs ----------

    public const string BudgetExceededMessage = "Budget exceeded before execution";

    private static string CacheKeyOf(ActivityState state) =>
        ResultCacheKeys.Compute(state.RoutingKey, state.ActivityName, state.Delivery?["settings"]?["cache_key"], state.Parameters);

    private (decimal? Activity, decimal? Workflow) BudgetLimitsOf(ActivityDefinition activity) =>
        (activity.Settings.Budget?.Limit, _wf.BudgetLimit ?? Definition.Settings?.BudgetLimit);

    /// <summary>
    /// The check before enqueue and before each retry of an <c>llm_prompt</c>/<c>embedding</c> activity under a budget
    /// (<see cref="BudgetGate"/>): false, with an abort marker in the decision, when the call may not be made.
    /// </summary>
    private bool PassesBudget(ActivityDefinition activity, ActivityState state, out string detail)
    {
        detail = "";
        if (state.Parameters is null || !BudgetParameters.EnforcedActivityNames.Contains(state.ActivityName))
        {
            return true;
        }
        var (activityLimit, workflowLimit) = BudgetLimitsOf(activity);
        if (activityLimit is null && workflowLimit is null)
        {
            return true;
        }
        var action = (activity.SettingsJson?["budget"]?["action"] as JsonValue)?.GetValue<string>()
            ?? Definition.Settings?.BudgetAction ?? "abort";
        var spend = new BudgetCheck(activityLimit, ActivityCostOf(state), workflowLimit, _wf.TotalCost);
        if (BudgetGate.Check(state.Parameters, spend, action, _defaults.ModelCatalog, state.Key, state.Iteration, state.Attempt) is { } abort)
        {
            detail = abort.Detail;
            Decision.Add(abort.Marker);
            return false;
        }
        state.IsDirty = true;
        return true;
    }

    /// <summary>Cost lines of one attempt (<see cref="AttemptCostLines"/>) into the decision.</summary>
    private void RecordCostLines(ActivityState activity, CostReport report, JsonObject? output)
    {
        if (report.Lines.Count == 0 && report.UncoveredCostUsd == 0m)
        {
            return;
        }
        var (activityLimit, workflowLimit) = BudgetLimitsOf(DefinitionOf(activity));
        Decision.AddRange(AttemptCostLines.Of(activity.Key, activity.Iteration, activity.Attempt, report, output,
            activityLimit ?? workflowLimit));
    }
}
