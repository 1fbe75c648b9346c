using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Orchestration;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>Response shapes of http-api.md §8 built from the engine's state.</summary>
public static class WorkflowJson
{
    public static JsonObject Workflow(WorkflowState wf)
    {
        var activities = new JsonArray();
        if (wf.Status != WorkflowStatus.Created)
        {
            foreach (var definition in wf.Definition.Activities)
            {
                if (wf.Activities.TryGetValue(definition.Key, out var a))
                {
                    activities.Add(Activity(a));
                }
            }
        }
        return new JsonObject
        {
            ["id"] = wf.Id,
            ["status"] = wf.Status,
            ["definition_name"] = wf.Definition.Name,
            ["definition_version"] = wf.DefinitionVersion,
            ["created_at"] = Timestamps.Format(wf.CreatedAt),
            ["updated_at"] = Timestamps.Format(wf.UpdatedAt),
            ["completed_at"] = Timestamps.Format(wf.CompletedAt),
            ["error_message"] = wf.ErrorMessage,
            ["state_data"] = new JsonObject(),
            ["total_cost_usd"] = Json.Money(wf.TotalCost),
            ["activities"] = activities,
            ["schedule_id"] = wf.ScheduleId,
            ["scheduled_at"] = Timestamps.Format(wf.ScheduledAt),
        };
    }

    public static JsonObject Activity(ActivityState a) => new()
    {
        ["activity_key"] = a.Key,
        ["status"] = a.Status,
        ["outputs"] = OutputList(a),
        ["error"] = ErrorText(a),
        ["error_detail"] = a.ErrorCode is null ? null : new JsonObject { ["code"] = a.ErrorCode, ["message"] = a.ErrorMessage },
        ["started_at"] = Timestamps.Format(a.StartedAt),
        ["claimed_at"] = Timestamps.Format(a.ClaimedAt),
        ["completed_at"] = Timestamps.Format(a.CompletedAt),
        ["attempt"] = a.Attempt,
        ["iteration"] = a.Iteration,
    };

    /// <summary>
    /// An activity's error as the reference engine's clients read it: one string, the code then the message
    /// (<c>"HTTP_ERROR: upstream answered 503"</c>). The structured form is <c>error_detail</c>.
    /// </summary>
    public static string? ErrorText(ActivityState a) => a.ErrorCode is null
        ? null
        : string.IsNullOrEmpty(a.ErrorMessage) ? a.ErrorCode : $"{a.ErrorCode}: {a.ErrorMessage}";

    /// <summary>The list form <c>[{name, type, value}]</c> of an activity's outputs, or null when it has none.</summary>
    public static JsonArray? OutputList(ActivityState a)
    {
        if (a.Outputs is null)
        {
            return null;
        }
        var list = new JsonArray();
        foreach (var (name, value) in a.Outputs)
        {
            list.Add(new JsonObject { ["name"] = name, ["type"] = "value", ["value"] = value?.DeepClone() });
        }
        return list;
    }

    public static JsonObject Summary(WorkflowSummary w) => new()
    {
        ["id"] = w.Id,
        ["status"] = w.Status,
        ["definition_name"] = w.DefinitionName,
        ["definition_version"] = w.DefinitionVersion,
        ["created_at"] = Timestamps.Format(w.CreatedAt),
        ["updated_at"] = Timestamps.Format(w.UpdatedAt),
        ["error_message"] = w.ErrorMessage,
        ["schedule_id"] = w.ScheduleId,
        ["scheduled_at"] = Timestamps.Format(w.ScheduledAt),
    };

    /// <summary>Activities that nothing depends on in the definition (workflow-format.md §6.11).</summary>
    public static HashSet<string> TerminalKeys(WorkflowState wf)
    {
        var keys = new HashSet<string>(wf.Definition.Activities.Select(a => a.Key), StringComparer.Ordinal);
        foreach (var a in wf.Definition.Activities)
        {
            foreach (var edge in a.DependsOn)
            {
                if (edge.ActivityKey != a.Key)
                {
                    keys.Remove(edge.ActivityKey);
                }
            }
        }
        return keys;
    }

    public static JsonObject Event(StoredEvent e) => new()
    {
        ["id"] = e.Id,
        ["workflow_id"] = e.WorkflowId,
        ["event_type"] = e.EventType,
        ["activity_key"] = e.ActivityKey,
        ["iteration"] = e.Iteration,
        ["payload"] = e.Payload,
        ["timestamp"] = Timestamps.Format(e.Timestamp),
    };
}
