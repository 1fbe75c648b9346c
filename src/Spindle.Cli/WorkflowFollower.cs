using System.Text.Json;
using System.Text.Json.Nodes;
using static Spindle.Cli.ConsoleRenderer;

namespace Spindle.Cli;

/// <summary>
/// Follows one run's history to its end: over the server's event stream (SSE), picking up after a dropped connection
/// from the last event seen, or, when the server has no stream route (an older one, or a proxy that refuses it), by
/// reading the history page by page between long-polls of the run.
/// </summary>
internal sealed class WorkflowFollower(SpindleClient spindle, string workflowId)
{
    // Long-poll slice while polling: short enough that progress lines appear about once a second.
    private const int PollWaitSeconds = 1;

    // Reconnects in a row that deliver nothing before following falls back to polling.
    private const int MaxReconnects = 3;

    /// <summary>The id of the last event handed on; following resumes after it.</summary>
    public string? LastEventId { get; private set; }

    /// <summary>True once following fell back to polling.</summary>
    public bool Polling { get; private set; }

    /// <summary>Hands each event (history shape: id, event_type, activity_key, iteration, payload, timestamp) to <paramref name="onEvent"/>, oldest first, until the run is completed, failed or cancelled.</summary>
    public async Task FollowAsync(Func<JsonObject, Task> onEvent, CancellationToken cancellationToken)
    {
        if (await StreamAsync(onEvent, cancellationToken))
        {
            return;
        }
        Polling = true;
        await PollAsync(onEvent, cancellationToken);
    }

    /// <summary>True when the run ended; false when the stream cannot be used.</summary>
    private async Task<bool> StreamAsync(Func<JsonObject, Task> onEvent, CancellationToken cancellationToken)
    {
        var failures = 0;
        while (true)
        {
            try
            {
                await foreach (var item in spindle.StreamWorkflowEventsAsync(workflowId, LastEventId, cancellationToken))
                {
                    if (item.EventType == "error")
                    {
                        // The server dropped a client that fell behind; reconnecting resumes after the last event.
                        break;
                    }
                    if (item.EventType != "message" || Parse(item.Data) is not { } frame || Str(frame["type"]) != "event")
                    {
                        continue;
                    }
                    failures = 0;
                    frame.Remove("type");
                    LastEventId = item.EventId is { Length: > 0 } id ? id : Str(frame["id"]);
                    await onEvent(frame);
                    if (IsTerminalEvent(frame) && await IsTerminalAsync(cancellationToken))
                    {
                        return true;
                    }
                }
            }
            catch (ApiCallException) when (LastEventId is null)
            {
                // No usable stream route: whatever the error, polling will meet it again and report it.
                return false;
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException or ServerUnreachableException or ApiCallException
                                       && !cancellationToken.IsCancellationRequested)
            {
                // The connection dropped; resume from the last event.
            }
            if (++failures > MaxReconnects)
            {
                return false;
            }
        }
    }

    private async Task PollAsync(Func<JsonObject, Task> onEvent, CancellationToken cancellationToken)
    {
        while (true)
        {
            foreach (var ev in await spindle.GetAllEventsAsync(workflowId, LastEventId, cancellationToken))
            {
                LastEventId = Str(ev["id"]);
                await onEvent(ev);
            }
            var workflow = await spindle.GetWorkflowAsync(workflowId, PollWaitSeconds, cancellationToken);
            if (IsTerminal(Str(workflow["status"])))
            {
                foreach (var ev in await spindle.GetAllEventsAsync(workflowId, LastEventId, cancellationToken))
                {
                    LastEventId = Str(ev["id"]);
                    await onEvent(ev);
                }
                return;
            }
        }
    }

    private static bool IsTerminalEvent(JsonObject ev) => Str(ev["event_type"]) is "WorkflowCompleted" or "WorkflowFailed" or "WorkflowCancelled";

    /// <summary>A replayed history can hold an end that a later retry undid: the end is the last event of a finished run.</summary>
    private async Task<bool> IsTerminalAsync(CancellationToken cancellationToken) =>
        IsTerminal(Str((await spindle.GetWorkflowAsync(workflowId, 0, cancellationToken))["status"]))
        && (await spindle.GetEventsAsync(workflowId, LastEventId, cancellationToken))["events"] is not JsonArray { Count: > 0 };

    private static JsonObject? Parse(string data)
    {
        try
        {
            return JsonNode.Parse(data) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
