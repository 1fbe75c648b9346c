using Spindle.Core.Definitions;
using Spindle.Core.Templates;

namespace Spindle.Core.Orchestration;

// Queueing (ActivityQueueing): the concurrency and rate keys rendered when an activity becomes ready, and its priority.
// The claim statement enforces them; the machine only records them on the activity row.
public sealed partial class WorkflowMachine
{
    /// <summary>Longest rendered concurrency or rate key.</summary>
    private const int MaxQueueKeyLength = 500;

    /// <summary>
    /// Sets the activity's priority (its own, else the workflow's from submit) and renders its concurrency and rate
    /// keys; <paramref name="field"/> names the template being rendered, for the error if one fails.
    /// </summary>
    private void ApplyQueueing(ActivityDefinition activity, ActivityState state, TemplateScope scope, TemplateBudget budget,
        ref string field)
    {
        var q = activity.Queueing;
        state.Priority = q?.Priority ?? _wf.Priority;
        if (q?.Concurrency is { } concurrency)
        {
            field = "concurrency.key";
            state.ConcurrencyKey = RenderQueueKey(concurrency.Key, scope, budget);
            state.ConcurrencyLimit = concurrency.Limit;
        }
        if (q?.RateLimit is { } rate)
        {
            field = "rate_limit.key";
            state.RateKey = RenderQueueKey(rate.Key, scope, budget);
            state.RatePerSecond = rate.PerSecond;
            state.RateBurst = rate.Burst;
        }
    }

    private static string RenderQueueKey(string template, TemplateScope scope, TemplateBudget budget)
    {
        var key = ResolveToString(template, scope, budget);
        if (key.Length is 0 or > MaxQueueKeyLength)
        {
            throw new TemplateException($"the key rendered to {key.Length} characters; it must have 1 to {MaxQueueKeyLength}");
        }
        return key;
    }

    /// <summary>A leased activity with a concurrency key let go of its lease: others of that key may now be claimable.</summary>
    private void NoteLeaseEnded(ActivityState activity)
    {
        if (activity.LeaseOwner is not null && activity.ConcurrencyKey is not null)
        {
            Decision.NoteReady(activity.RoutingKey, _now, _now);
        }
    }
}
