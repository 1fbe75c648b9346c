using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Core.Costs;

/// <summary>The cost lines recorded for one attempt of an activity (docs/api.md cost history).</summary>
public static class AttemptCostLines
{
    /// <summary>
    /// One line per usage line of <paramref name="report"/>, plus one for the cost no usage line covers; the line of
    /// the call that answered is marked as a downgrade when the worker skipped a model for its budget (docs/workflow-format.md, Budgets).
    /// </summary>
    /// <param name="output">The activity's output (null for a failure): where the worker reports a downgrade.</param>
    /// <param name="budgetLimitUsd">The limit that applied, recorded on every line.</param>
    public static IReadOnlyList<CostLine> Of(string activityKey, int iteration, int attempt, CostReport report, JsonObject? output,
        decimal? budgetLimitUsd)
    {
        ArgumentNullException.ThrowIfNull(report);
        if (report.Lines.Count == 0 && report.UncoveredCostUsd == 0m)
        {
            return [];
        }
        var lines = new List<CostLine>(report.Lines.Count + 1);
        foreach (var line in report.Lines)
        {
            lines.Add(new CostLine(activityKey, iteration, attempt, line.Provider, line.Model, line.Tokens, line.CostUsd, budgetLimitUsd));
        }
        if (report.UncoveredCostUsd != 0m)
        {
            lines.Add(new CostLine(activityKey, iteration, attempt, null, null, default, report.UncoveredCostUsd, budgetLimitUsd));
        }
        // llm_prompt answers under `result` (the reference shape); older workers put the fields at the top level.
        var answer = output?["result"] as JsonObject ?? output;
        if (answer is not null && report.Lines.Count > 0)
        {
            // The worker skipped a model for its budget and answered with a cheaper one: a downgrade. Spindle's
            // worker details it in fallback_attempts; the reference's names the skipped models in budget_skipped_models.
            var attempts = answer["fallback_attempts"] as JsonArray ?? [];
            var skipped = attempts.OfType<JsonObject>().FirstOrDefault(a => a["outcome"] is JsonValue o && o.GetValueKind() == JsonValueKind.String
                && o.GetValue<string>() == "skipped_budget")
                ?? (answer["budget_skipped_models"] is JsonArray { Count: > 0 } ? new JsonObject() : null);
            if (skipped is not null)
            {
                var answering = TextOf(answer["model_id"]) ?? TextOf(answer["model"]);
                var index = report.Lines.Count - 1;
                for (var i = 0; i < report.Lines.Count; i++)
                {
                    if (answering is not null && ModelIds.Join(lines[i].Provider!, lines[i].Model!).Equals(answering, StringComparison.OrdinalIgnoreCase))
                    {
                        index = i;
                    }
                }
                BudgetParameters.TryReadDecimal(skipped["estimated_cost_usd"], out var estimated);
                lines[index] = lines[index] with { BudgetEvent = CostLine.Downgrade, EstimatedCostUsd = estimated };
            }
        }
        return lines;
    }

    private static string? TextOf(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;
}
