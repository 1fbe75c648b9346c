using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Costs;
using Spindle.Core.Definitions;
using Spindle.Core.Templates;

namespace Spindle.Core.Orchestration;

/// <summary>
/// A child workflow the store must submit in the transaction of this decision (docs/architecture.md#child-workflows),
/// linked to <see cref="Activity"/> at <see cref="Attempt"/>: the activity instance (its id, which a map item has of
/// its own) and the attempt key the link, so that a retry's new child and a stale one are told apart.
/// </summary>
public sealed record ChildStart(ActivityState Activity, int Attempt, string ChildId, string DefinitionName, string? Version, JsonObject Input);

/// <summary>How a child workflow ended, as its parent's activity takes it (<see cref="WorkflowMachine.ChildEnded"/>).</summary>
/// <param name="ErrorCode">The error code of the child's first failed activity, if any.</param>
public sealed record ChildOutcome(string WorkflowId, string Status, JsonObject Output, string? ErrorMessage, string? ErrorCode, decimal Cost);

/// <summary>Error codes of child-workflow activities (docs/workflow-format.md#child-workflows).</summary>
public static class ChildErrorCodes
{
    /// <summary>The child definition (or the version asked for) is not deployed when the activity becomes ready.</summary>
    public const string NotFound = "CHILD_WORKFLOW_NOT_FOUND";

    /// <summary>The child workflow failed (retryable: a retry submits a new child).</summary>
    public const string Failed = "CHILD_WORKFLOW_FAILED";

    /// <summary>The child workflow was cancelled on its own (not by its parent).</summary>
    public const string Cancelled = "CHILD_WORKFLOW_CANCELLED";

    /// <summary>Child workflows started within one another in one decision went deeper than <see cref="MaxDepth"/>.</summary>
    public const string TooDeep = "CHILD_WORKFLOW_TOO_DEEP";

    public const int MaxDepth = 16;
}

// Child workflows: a `workflow:` activity submits its child instead of queueing for a worker, and completes or fails
// when the child ends. The store does the submitting and the delivering of the end (TransactionalWorkflowStore.Children.cs).
public sealed partial class WorkflowMachine
{
    /// <summary>Resolves the child's input and asks the store to submit it; the activity runs until the child ends.</summary>
    private void StartChild(ActivityDefinition activity, ActivityState state, ChildWorkflow child)
    {
        JsonObject input;
        try
        {
            // No secrets: the input is stored as the child's input, and secrets are never stored.
            var resolved = TemplateEvaluator.ResolveTree(child.Input, new TemplateScope(_wf, state, NoSecrets()),
                new TemplateBudget(_defaults.TemplateLimits));
            input = resolved as JsonObject
                ?? throw new TemplateException($"must yield a mapping, got {(resolved is null ? "null" : resolved.GetValueKind().ToString().ToLowerInvariant())}");
        }
        catch (TemplateException ex)
        {
            FailBeforeRun(state, "input", ex);
            return;
        }
        state.Parameters = new JsonObject { ["input"] = input.DeepClone() };
        state.Priority = activity.Queueing?.Priority ?? _wf.Priority; // the child queues at it
        state.Status = ActivityStatus.Running;
        state.StartedAt = _now;
        state.ClaimedAt = _now;
        state.ReadyAt = _now;
        state.LeaseOwner = null;
        // settings.timeout_seconds bounds the child like a lease bounds a worker: on expiry the child is cancelled and
        // the activity retried (a new child) or failed with ACTIVITY_TIMEOUT.
        state.LeaseUntil = activity.Settings.TimeoutSeconds is { } t ? _now + Timestamps.FromSeconds(t) : null;
        Touch(state);
        var childId = Ids.New();
        Emit(EventTypes.ActivityStarted, state, new JsonObject
        {
            ["child_workflow_id"] = childId,
            ["child_workflow"] = child.Name,
            ["attempt"] = state.Attempt,
        });
        Decision.Add(new ChildStart(state, state.Attempt, childId, child.Name, child.Version, input));
    }

    /// <summary>The store could not submit the child (no such definition, too deep): the activity fails, not retried.</summary>
    public void ChildNotStarted(ChildStart start, string code, string message)
    {
        if (start.Activity.Status != ActivityStatus.Running || start.Activity.Attempt != start.Attempt)
        {
            return;
        }
        FailBeforeRun(start.Activity, code, message);
        if (IsRunning)
        {
            Advance();
        }
    }

    /// <summary>
    /// A child of <paramref name="activity"/> ended: completed → the activity completes with the child's output;
    /// failed → it fails (retryable: a retry submits a new child); cancelled → it is cancelled when its parent asked
    /// for that, else fails with CHILD_WORKFLOW_CANCELLED. The child's cost counts into the activity's and the
    /// parent's cost (no cost line: the child's own lines already record that spend).
    /// </summary>
    public void ChildEnded(ActivityState activity, ChildOutcome child)
    {
        var cost = child.Cost;
        if (child.Status == WorkflowStatus.Completed)
        {
            Complete(activity, child.Output, CostReport.None);
            AddCost(activity, cost);
            return;
        }
        AddCost(activity, cost);
        if (!IsRunning || activity.CancelRequested)
        {
            Fail(activity, EngineErrorCodes.Cancelled, $"Child workflow {child.WorkflowId} cancelled with its parent", false, CostReport.None);
            return;
        }
        var (code, retryable) = child.Status != WorkflowStatus.Failed
            ? (ChildErrorCodes.Cancelled, false)
            : child.ErrorCode == ChildErrorCodes.TooDeep
                ? (ChildErrorCodes.TooDeep, false) // retrying would only nest as deep again
                : (ChildErrorCodes.Failed, true);
        Fail(activity, code, $"Child workflow {child.WorkflowId} {child.Status}: {child.ErrorMessage ?? "no message"}", retryable, CostReport.None);
    }

    /// <summary>Whether the child linked to <paramref name="activityId"/> at <paramref name="attempt"/> is still
    /// wanted; one that is not (its activity retried, timed out, cancelled, or the workflow ended) is cancelled.</summary>
    public bool WantsChild(string activityId, int attempt)
    {
        var a = FindExecution(activityId);
        return IsRunning && a is { Status: ActivityStatus.Running, CancelRequested: false } && a.Attempt == attempt;
    }

    /// <summary>The execution with this id (an activity instance or a loaded map item), or null.</summary>
    public ActivityState? FindExecution(string activityId) =>
        _wf.FindExecution(activityId);
}
