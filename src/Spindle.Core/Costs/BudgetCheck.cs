namespace Spindle.Core.Costs;

/// <summary>
/// The limits that apply to one model call and the money already spent against them. A call fits when, for each
/// limit that is set, spent + estimate does not exceed it (reaching the limit exactly is allowed; docs/workflow-format.md, Budgets).
/// </summary>
public sealed record BudgetCheck(decimal? ActivityLimitUsd, decimal ActivitySpentUsd, decimal? WorkflowLimitUsd, decimal WorkflowSpentUsd)
{
    /// <summary>No limits.</summary>
    public static BudgetCheck Unlimited { get; } = new(null, 0m, null, 0m);

    public bool HasLimit => ActivityLimitUsd is not null || WorkflowLimitUsd is not null;

    /// <summary>The money left under the tighter limit, never below 0; null without limits.</summary>
    public decimal? RemainingUsd
    {
        get
        {
            decimal? activity = ActivityLimitUsd - ActivitySpentUsd;
            decimal? workflow = WorkflowLimitUsd - WorkflowSpentUsd;
            decimal? tighter = (activity, workflow) switch
            {
                (null, null) => null,
                (null, _) => workflow,
                (_, null) => activity,
                _ => Math.Min(activity!.Value, workflow!.Value),
            };
            return tighter is { } value ? Math.Max(value, 0m) : null;
        }
    }

    public bool Fits(decimal estimateUsd) =>
        (ActivityLimitUsd is not { } activity || ActivitySpentUsd + estimateUsd <= activity)
        && (WorkflowLimitUsd is not { } workflow || WorkflowSpentUsd + estimateUsd <= workflow);

    /// <summary>The same limits after <paramref name="costUsd"/> more was spent (by an earlier call of the same attempt).</summary>
    public BudgetCheck After(decimal costUsd) => this with
    {
        ActivitySpentUsd = ActivitySpentUsd + costUsd,
        WorkflowSpentUsd = WorkflowSpentUsd + costUsd,
    };
}
