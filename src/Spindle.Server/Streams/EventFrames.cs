using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Storage;

namespace Spindle.Server.Streams;

/// <summary>The JSON frames of the workflow event stream, the same on the WebSocket and in SSE <c>data:</c> lines.</summary>
public static class EventFrames
{
    public static string Event(StoredEvent e) => new JsonObject
    {
        ["type"] = "event",
        ["id"] = e.Id,
        ["workflow_id"] = e.WorkflowId,
        ["event_type"] = e.EventType,
        ["activity_key"] = e.ActivityKey,
        // Stored payloads are shared with the feed's other subscribers: serialise a copy, never re-parent the node.
        ["payload"] = e.Payload.DeepClone(),
        ["timestamp"] = Timestamps.Format(e.Timestamp),
        ["iteration"] = e.Iteration,
    }.ToJsonString();

    public static string Ping() => new JsonObject { ["type"] = "ping", ["timestamp"] = Timestamps.Format(Timestamps.Now()) }.ToJsonString();

    public static string Error(string code, string message) => new JsonObject
    {
        ["type"] = "error",
        ["code"] = code,
        ["message"] = message,
        ["timestamp"] = Timestamps.Format(Timestamps.Now()),
    }.ToJsonString();
}
