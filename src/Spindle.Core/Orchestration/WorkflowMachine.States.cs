using System.Globalization;
using System.Text.Json.Nodes;
using Spindle.Core.Templates;

namespace Spindle.Core.Orchestration;

// The state changes every transition is made of: finishing, skipping and stopping activities, the workflow status,
// outputs and costs, and the events that record them.
public sealed partial class WorkflowMachine
{
    /// <summary>A template of <paramref name="field"/> failed: TEMPLATE_LIMIT_EXCEEDED when it ran out of its
    /// budget, TEMPLATE_ERROR otherwise. The message names the field and the failing leaf within it.</summary>
    private void FailBeforeRun(ActivityState state, string field, TemplateException ex)
    {
        var where = ex.Location is null ? field : ex.Location[0] == '[' ? field + ex.Location : $"{field}.{ex.Location}";
        if (ex is TemplateLimitException)
        {
            FailBeforeRun(state, EngineErrorCodes.TemplateLimitExceeded, $"activity '{state.Key}', {where}: {ex.Message}");
        }
        else
        {
            FailBeforeRun(state, EngineErrorCodes.TemplateError, $"{where}: {ex.Message}");
        }
    }

    private void FailBeforeRun(ActivityState state, string code, string message)
    {
        Emit(EventTypes.ActivityFailed, state, new JsonObject
        {
            ["activity_key"] = state.Key,
            ["error_code"] = code,
            ["error_message"] = message,
            ["retryable"] = false,
            ["will_retry"] = false,
            ["attempt"] = state.Attempt,
            ["cost_usd"] = "0",
        });
        Finish(state, ActivityStatus.Failed, code, message);
    }

    private void Skip(ActivityState state, string reason)
    {
        state.Status = ActivityStatus.Skipped;
        state.CompletedAt = _now;
        Touch(state);
        Emit(EventTypes.ActivitySkipped, state, new JsonObject { ["reason"] = reason });
    }

    private void Finish(ActivityState state, string status, string code, string message)
    {
        state.Status = status;
        state.ErrorCode = code;
        state.ErrorMessage = message;
        state.CompletedAt = _now;
        state.Runs++;
        ClearLease(state);
        Touch(state);
    }

    private void StopActivities(string reason)
    {
        foreach (var activity in Definition.Activities)
        {
            if (!_wf.Activities.TryGetValue(activity.Key, out var a))
            {
                continue; // a run cancelled while it waited for a concurrency slot has no activities yet
            }
            if (a.Map is not null && a.Status == ActivityStatus.Running)
            {
                StopMap(a, reason);
                continue;
            }
            switch (a.Status)
            {
                case ActivityStatus.NotScheduled or ActivityStatus.Waiting or ActivityStatus.Pending:
                    a.Status = ActivityStatus.Cancelled;
                    a.CompletedAt = _now;
                    a.ReadyAt = null;
                    Touch(a);
                    Emit(EventTypes.ActivityCancelled, a, new JsonObject { ["reason"] = reason });
                    break;
                case ActivityStatus.Running:
                    a.CancelRequested = true;
                    Touch(a);
                    break;
            }
        }
    }

    // ---- helpers ----------------------------------------------------------------------------------------------

    private void SetWorkflowStatus(string status)
    {
        _wf.Status = status;
        _wf.UpdatedAt = _now;
        _wf.IsDirty = true;
        if (WorkflowStatus.IsTerminal(status))
        {
            _wf.CompletedAt = _now;
            Decision.MarkTerminal();
        }
    }

    private void StoreOutputs(ActivityState activity, JsonObject output)
    {
        var definition = DefinitionOf(activity);
        if (!definition.IterationScoped || activity.MapOf is not null) // an item runs once; its map keeps the rounds
        {
            activity.Outputs = output.DeepClone().AsObject();
            return;
        }
        var outputs = activity.Outputs ?? new JsonObject();
        foreach (var (name, value) in output)
        {
            if (outputs[name] is not JsonArray history)
            {
                history = new JsonArray();
                outputs[name] = history;
            }
            history.Add(value?.DeepClone());
        }
        activity.Outputs = outputs;
    }

    private void AddCost(ActivityState activity, decimal cost)
    {
        if (cost == 0)
        {
            return;
        }
        activity.Cost += cost;
        if (activity.MapOf is { } mapKey)
        {
            // A map's budget and cost are its items' together (docs/workflow-format.md#maps).
            var map = _wf.Activities[mapKey];
            map.Cost += cost;
            Touch(map);
        }
        _wf.TotalCost += cost;
        _wf.IsDirty = true;
    }

    private void ClearLease(ActivityState activity)
    {
        NoteLeaseEnded(activity);
        activity.LeaseOwner = null;
        activity.LeaseUntil = null;
    }

    private void Touch(ActivityState activity)
    {
        activity.IsDirty = true;
        _wf.UpdatedAt = _now;
        _wf.IsDirty = true;
    }

    private static bool HasRetriesLeft(ActivityState activity) => activity.RetriesUsed + 1 < activity.MaxAttempts;

    private void Emit(string type, ActivityState? activity, JsonObject payload) =>
        Decision.Add(new WorkflowEvent(type, activity?.Key, activity?.Iteration, payload));

    private static string Money(decimal value) => value.ToString(CultureInfo.InvariantCulture);
}
