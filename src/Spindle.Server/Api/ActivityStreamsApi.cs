using System.Globalization;
using System.Net.ServerSentEvents;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Server.Auth;
using Spindle.Server.Streams;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>
/// Streams of one activity (LLM tokens, or any chunks a worker publishes): workers post frames to any server, and
/// subscribers on every server get the frames so far, then the live ones, until <c>complete</c> or <c>error</c>.
/// WebSocket routes as in the reference (<c>?token=</c>), and an SSE twin (bearer header).
/// </summary>
public static class ActivityStreamsApi
{
    /// <summary>Largest <c>text</c> of one published chunk.</summary>
    public const int MaxChunkChars = 64 * 1024;

    public static RouteGroupBuilder MapActivityStreamsApi(this RouteGroupBuilder api)
    {
        var publish = api.MapGroup("/activities/{activity_id}/ws").RequireScope(Scopes.Worker).WithTags("Streams");
        publish.MapPost("/token", PublishToken).WithSummary("Publish a chunk of an activity's stream ({text, index})");
        publish.MapPost("/complete", PublishComplete).WithSummary("End an activity's stream with its result ({result})");
        publish.MapPost("/error", PublishError).WithSummary("End an activity's stream with an error ({error})");
        api.MapGet("/activities/{activity_id}/ws/subscribers", Subscribers).RequireScope(Scopes.Worker, Scopes.Workflows)
            .WithTags("Streams").WithSummary("How many subscribers this server has for the activity's stream");

        api.MapGet("/activities/{activity_id}/ws", (HttpContext c, string activity_id, ActivityStreamHub h) =>
            WebSocketAsync(c, h, () => Task.FromResult<string?>(activity_id))).RequireScope(Scopes.Workflows).WithMetadata(QueryTokenAllowed.Instance).WithTags("Streams")
            .WithSummary("An activity's stream over a WebSocket (?token=)");
        api.MapGet("/workflows/{id}/activities/{key}/ws", (HttpContext c, string id, string key, ActivityStreamHub h, IWorkflowStore s) =>
                WebSocketAsync(c, h, () => ResolveAsync(s, id, key, c.RequestAborted))).RequireScope(Scopes.Workflows).WithMetadata(QueryTokenAllowed.Instance)
            .WithTags("Streams")
            .WithSummary("The stream of a workflow's activity over a WebSocket (?token=)");

        api.MapGet("/activities/{activity_id}/stream", (HttpRequest r, string activity_id, ActivityStreamHub h, CancellationToken ct) =>
            Sse(r, h, activity_id, ct)).RequireScope(Scopes.Workflows).WithTags("Streams")
            .WithSummary("An activity's stream as Server-Sent Events");
        api.MapGet("/workflows/{id}/activities/{key}/stream", async (HttpRequest r, string id, string key, ActivityStreamHub h, IWorkflowStore s,
                CancellationToken ct) => await ResolveAsync(s, id, key, ct) is { } activityId
                ? Sse(r, h, activityId, ct)
                : ApiErrors.NotFound($"No activity '{key}' in workflow {id}")).RequireScope(Scopes.Workflows).WithTags("Streams")
            .WithSummary("The stream of a workflow's activity as Server-Sent Events");
        return api;
    }

    public static async Task<IResult> PublishToken(string activity_id, HttpRequest request, ActivityStreamHub hub, CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        if (!Ids.IsValid(activity_id))
        {
            return ApiErrors.NotFound($"Activity {activity_id} not found");
        }
        if (body!["text"] is not JsonValue textValue || !textValue.TryGetValue<string>(out var text))
        {
            return ApiErrors.Validation("text", "text is required and must be a string");
        }
        if (text.Length > MaxChunkChars)
        {
            return ApiErrors.Validation("text", $"text may hold at most {MaxChunkChars} characters; publish it in smaller chunks");
        }
        long index = 0;
        if (body["index"] is { } indexNode && (indexNode is not JsonValue v || !v.TryGetValue(out index) || index < 0))
        {
            return ApiErrors.Validation("index", "index must be a non-negative integer");
        }
        var frame = new JsonObject
        {
            ["type"] = "token",
            ["text"] = text,
            ["index"] = index,
            ["timestamp"] = Timestamps.Format(Timestamps.Now()),
        }.ToJsonString();
        var count = hub.Publish(activity_id, frame, terminal: false);
        return count < 0
            ? ApiErrors.Conflict($"The stream of activity {activity_id} has already ended")
            : Results.Json(new JsonObject { ["subscribers"] = count });
    }

    public static Task<IResult> PublishComplete(string activity_id, HttpRequest request, ActivityStreamHub hub, CancellationToken cancellationToken) =>
        PublishEndAsync(activity_id, request, hub, "complete", "result", cancellationToken);

    public static Task<IResult> PublishError(string activity_id, HttpRequest request, ActivityStreamHub hub, CancellationToken cancellationToken) =>
        PublishEndAsync(activity_id, request, hub, "error", "error", cancellationToken);

    private static async Task<IResult> PublishEndAsync(string activityId, HttpRequest request, ActivityStreamHub hub, string type, string field,
        CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: true, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        if (!Ids.IsValid(activityId))
        {
            return ApiErrors.NotFound($"Activity {activityId} not found");
        }
        var frame = new JsonObject
        {
            ["type"] = type,
            ["activity_id"] = activityId,
            [field] = body?[field]?.DeepClone(),
            ["timestamp"] = Timestamps.Format(Timestamps.Now()),
        }.ToJsonString();
        var count = hub.Publish(activityId, frame, terminal: true);
        return count < 0
            ? ApiErrors.Conflict($"The stream of activity {activityId} has already ended")
            : Results.Json(new JsonObject { ["acknowledged"] = true, ["subscribers"] = count });
    }

    public static IResult Subscribers(string activity_id, ActivityStreamHub hub) =>
        Results.Json(new JsonObject { ["count"] = hub.SubscriberCount(activity_id) });

    /// <summary>The current execution's activity id; waits briefly for a workflow that is being submitted (as the reference does).</summary>
    private static async Task<string?> ResolveAsync(IWorkflowStore store, string workflowId, string key, CancellationToken cancellationToken)
    {
        if (!Ids.IsValid(workflowId))
        {
            return null;
        }
        for (var attempt = 0; ; attempt++)
        {
            var workflow = await store.GetWorkflowAsync(workflowId, cancellationToken);
            if (workflow is not null && await MapItemsApi.FindActivityOrItemAsync(store, workflow, key, cancellationToken) is { } activity)
            {
                return activity.Id; // a map item's stream is reached by its key too
            }
            if (workflow is not null || attempt == 3)
            {
                return null;
            }
            await Task.Delay(100, cancellationToken);
        }
    }

    private static IResult Sse(HttpRequest request, ActivityStreamHub hub, string activityId, CancellationToken cancellationToken)
    {
        if (!Ids.IsValid(activityId))
        {
            return ApiErrors.NotFound($"Activity {activityId} not found");
        }
        var skip = long.TryParse(request.Headers["Last-Event-ID"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var last) ? last : 0;
        request.HttpContext.Response.Headers["X-Accel-Buffering"] = "no";
        return TypedResults.ServerSentEvents(SseItems(hub.Get(activityId), skip, cancellationToken));
    }

    /// <summary>Ids are positions in the stream, so a reconnecting EventSource does not get the frames it has twice.</summary>
    private static async IAsyncEnumerable<SseItem<string>> SseItems(ActivityStream stream, long skip, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var subscriber = stream.Subscribe();
        try
        {
            long position = 0;
            while (true)
            {
                var wake = await EventStreamsApi.WaitAsync(subscriber.Reader, EventStreamsApi.SsePingInterval, cancellationToken);
                if (wake == EventStreamsApi.Wake.Ping)
                {
                    yield return new SseItem<string>(EventFrames.Ping(), "ping");
                    continue;
                }
                if (wake == EventStreamsApi.Wake.End)
                {
                    if (subscriber.Overflowed)
                    {
                        yield return new SseItem<string>(EventFrames.Error("SLOW_CLIENT", "The client read too slowly"), "error");
                    }
                    yield break;
                }
                while (subscriber.Reader.TryRead(out var frame))
                {
                    if (++position > skip)
                    {
                        yield return new SseItem<string>(frame) { EventId = position.ToString(CultureInfo.InvariantCulture) };
                    }
                }
            }
        }
        finally
        {
            stream.Unsubscribe(subscriber);
        }
    }

    private static async Task WebSocketAsync(HttpContext context, ActivityStreamHub hub, Func<Task<string?>> resolve)
    {
        var ct = context.RequestAborted;
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await ApiErrors.BadRequest("This route takes a WebSocket upgrade; for Server-Sent Events use …/stream").ExecuteAsync(context);
            return;
        }
        if (await resolve() is not { } activityId || !Ids.IsValid(activityId))
        {
            await ApiErrors.NotFound("No such activity").ExecuteAsync(context);
            return;
        }
        var stream = hub.Get(activityId);
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        using var session = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var receiving = EventStreamsApi.DrainAsync(socket, session);
        var subscriber = stream.Subscribe();
        try
        {
            while (true)
            {
                var wake = await EventStreamsApi.WaitAsync(subscriber.Reader, EventStreamsApi.WebSocketPingInterval, session.Token);
                if (wake == EventStreamsApi.Wake.Ping)
                {
                    await EventStreamsApi.SendAsync(socket, EventFrames.Ping(), session.Token);
                    continue;
                }
                if (wake == EventStreamsApi.Wake.End)
                {
                    if (subscriber.Overflowed)
                    {
                        await EventStreamsApi.SendAsync(socket, EventFrames.Error("SLOW_CLIENT", "The client read too slowly"), session.Token);
                        await socket.CloseOutputAsync(EventStreamsApi.SlowClient, "SLOW_CLIENT", session.Token);
                    }
                    else
                    {
                        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", session.Token);
                    }
                    break;
                }
                while (subscriber.Reader.TryRead(out var frame))
                {
                    await EventStreamsApi.SendAsync(socket, frame, session.Token);
                }
            }
        }
        catch (Exception) when (session.IsCancellationRequested || socket.State is not WebSocketState.Open)
        {
            // The client went away.
        }
        finally
        {
            stream.Unsubscribe(subscriber);
            await EventStreamsApi.EndSessionAsync(socket, session, receiving);
        }
    }
}
