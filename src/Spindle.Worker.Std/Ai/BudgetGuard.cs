using System.Globalization;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;

namespace Spindle.Worker.Std.Ai;

/// <summary>
/// The worker's half of the budget check (docs/workflow-format.md, Budgets): before each model call, the call's cost is estimated from the prompt size and the
/// output limit at the model's price, and a call that would not fit the remaining budget (the limits minus the spend
/// so far, including this execution's earlier calls) is not made. <c>budget_action: continue</c> never blocks.
/// </summary>
internal sealed class BudgetGuard
{
    private readonly BudgetCheck _budget;
    private readonly bool _continue;

    public BudgetGuard(JsonObject parameters)
    {
        _budget = BudgetParameters.ReadBudget(parameters);
        _continue = BudgetParameters.IsContinue(parameters);
    }

    public bool Enforced => _budget.HasLimit && !_continue;

    /// <summary>Null when the call may be made; otherwise why not.</summary>
    public string? Refusal(ModelTarget target, ModelPrices? prices, long inputTokens, long outputTokens, decimal spentUsd, out CostEstimate? estimate, out decimal? remainingUsd)
    {
        estimate = prices is null ? null : BudgetEstimator.EstimateCall(target.Id, prices, inputTokens, outputTokens);
        BudgetCheck current = _budget.After(spentUsd);
        remainingUsd = current.RemainingUsd;
        if (!Enforced)
        {
            return null;
        }

        if (estimate is null)
        {
            return $"{target.Id} has no known price, so its cost cannot be checked against the budget";
        }

        return current.Fits(estimate.CostUsd)
            ? null
            : string.Create(CultureInfo.InvariantCulture, $"{target.Id} is estimated at {estimate.CostUsd} USD ({inputTokens} input + {outputTokens} output tokens), over the remaining budget of {remainingUsd} USD");
    }
}
