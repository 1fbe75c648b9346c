using Spindle.Core.Common;
using Spindle.Core.Orchestration;
using Spindle.Protocol;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>Maps the engine's state to the wire records of docs/api.md.</summary>
public static class WorkflowJson
{
    public static WorkflowDetail Workflow(WorkflowState wf, IReadOnlyList<ChildLink> children)
    {
        var activities = new List<WorkflowActivity>();
        // A run waiting for its first slot has none; one retried while its key was full shows how it ended.
        foreach (var definition in wf.Definition.Activities)
        {
            if (wf.Activities.TryGetValue(definition.Key, out var a))
            {
                activities.Add(Activity(a));
            }
        }
        return new WorkflowDetail
        {
            Id = wf.Id,
            Status = wf.Status,
            DefinitionName = wf.Definition.Name,
            DefinitionVersion = wf.DefinitionVersion,
            CreatedAt = Timestamps.Format(wf.CreatedAt),
            UpdatedAt = Timestamps.Format(wf.UpdatedAt),
            CompletedAt = Timestamps.Format(wf.CompletedAt),
            ErrorMessage = wf.ErrorMessage,
            StateData = [],
            TotalCostUsd = Json.Money(wf.TotalCost),
            Activities = activities,
            ScheduleId = wf.ScheduleId,
            ScheduledAt = Timestamps.Format(wf.ScheduledAt),
            ParentId = wf.ParentId,
            ParentActivityKey = wf.ParentActivityKey,
            Priority = wf.Priority,
            ConcurrencyKey = wf.ConcurrencyKey,
            Children = children.Select(c => new WorkflowChild
            {
                WorkflowId = c.WorkflowId,
                DefinitionName = c.DefinitionName,
                Status = c.Status,
                ActivityKey = c.ParentActivityKey,
                Attempt = c.ParentAttempt,
                CreatedAt = Timestamps.Format(c.CreatedAt),
                CompletedAt = Timestamps.Format(c.CompletedAt),
            }).ToList(),
        };
    }

    public static WorkflowActivity Activity(ActivityState a) => new()
    {
        ActivityKey = a.Key,
        Status = a.Status,
        Outputs = OutputList(a),
        Error = ErrorText(a),
        ErrorDetail = a.ErrorCode is null ? null : new ActivityErrorDetail { Code = a.ErrorCode, Message = a.ErrorMessage },
        StartedAt = Timestamps.Format(a.StartedAt),
        ClaimedAt = Timestamps.Format(a.ClaimedAt),
        CompletedAt = Timestamps.Format(a.CompletedAt),
        Attempt = a.Attempt,
        Iteration = a.Iteration,
        Map = a.Map?.ToView(),
    };

    /// <summary>
    /// An activity's error as the reference engine's clients read it: one string, the code then the message
    /// (<c>"HTTP_ERROR: upstream answered 503"</c>). The structured form is <c>error_detail</c>.
    /// </summary>
    public static string? ErrorText(ActivityState a) => a.ErrorCode is null
        ? null
        : string.IsNullOrEmpty(a.ErrorMessage) ? a.ErrorCode : $"{a.ErrorCode}: {a.ErrorMessage}";

    /// <summary>The list form <c>[{name, type, value}]</c> of an activity's outputs, or null when it has none.</summary>
    public static List<ActivityOutputItem>? OutputList(ActivityState a)
    {
        if (a.Outputs is null)
        {
            return null;
        }
        var list = new List<ActivityOutputItem>();
        foreach (var (name, value) in a.Outputs)
        {
            list.Add(new ActivityOutputItem { Name = name, Type = "value", Value = value });
        }
        return list;
    }

    public static WorkflowListItem Summary(WorkflowSummary w) => new()
    {
        Id = w.Id,
        Status = w.Status,
        DefinitionName = w.DefinitionName,
        DefinitionVersion = w.DefinitionVersion,
        CreatedAt = Timestamps.Format(w.CreatedAt),
        UpdatedAt = Timestamps.Format(w.UpdatedAt),
        ErrorMessage = w.ErrorMessage,
        ScheduleId = w.ScheduleId,
        ScheduledAt = Timestamps.Format(w.ScheduledAt),
        CompletedAt = Timestamps.Format(w.CompletedAt),
        TotalCostUsd = Json.Money(w.TotalCost),
    };

    /// <summary>Activities that nothing depends on in the definition (docs/workflow-format.md).</summary>
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

    public static WorkflowEventRecord Event(StoredEvent e) => new()
    {
        Id = e.Id,
        WorkflowId = e.WorkflowId,
        EventType = e.EventType,
        ActivityKey = e.ActivityKey,
        Iteration = e.Iteration,
        Payload = e.Payload,
        Timestamp = Timestamps.Format(e.Timestamp),
    };
}
