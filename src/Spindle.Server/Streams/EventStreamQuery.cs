using Spindle.Core.Common;
using Spindle.Storage;

namespace Spindle.Server.Streams;

/// <summary>
/// The filters and resume point of an event stream: <c>workflow_id</c> and <c>event_type</c> (comma-separated) and
/// the id of the last event the client has (<c>from_event_id</c>, or an EventSource's <c>Last-Event-ID</c>).
/// </summary>
public sealed record EventStreamQuery(IReadOnlySet<string>? WorkflowIds, IReadOnlySet<string>? EventTypes, long? FromSeq)
{
    /// <returns>The query, or the message of a 400 naming the parameter.</returns>
    public static async Task<(EventStreamQuery? Query, string? Error)> ParseAsync(HttpRequest request, string? workflowId, IEventLog log,
        CancellationToken cancellationToken)
    {
        HashSet<string>? workflowIds = null;
        if (workflowId is not null)
        {
            workflowIds = [workflowId];
        }
        else if (request.Query["workflow_id"].ToString() is { Length: > 0 } ids)
        {
            workflowIds = Csv(ids);
            if (workflowIds.FirstOrDefault(id => !Ids.IsValid(id)) is { } bad)
            {
                return (null, $"workflow_id: '{bad}' is not a workflow id");
            }
        }
        HashSet<string>? types = null;
        if (request.Query["event_type"].ToString() is { Length: > 0 } typeList)
        {
            types = Csv(typeList);
            var unknown = types.Where(t => !Spindle.Core.Orchestration.EventTypes.All.Contains(t)).ToList();
            if (unknown.Count > 0)
            {
                return (null, $"event_type: unknown event types: {string.Join(", ", unknown)}");
            }
        }
        long? fromSeq = null;
        var lastEventId = request.Headers["Last-Event-ID"].ToString();
        var (name, from) = lastEventId.Length > 0 ? ("Last-Event-ID", lastEventId) : ("from_event_id", request.Query["from_event_id"].ToString());
        if (from.Length > 0)
        {
            if (!Ids.IsValid(from))
            {
                return (null, $"{name}: '{from}' is not an event id");
            }
            fromSeq = await log.SeqOfAsync(from, cancellationToken);
            if (fromSeq is null)
            {
                return (null, $"{name}: no event has the id '{from}'");
            }
        }
        return (new EventStreamQuery(workflowIds, types, fromSeq), null);
    }

    private static HashSet<string> Csv(string value) =>
        new(value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), StringComparer.Ordinal);
}
