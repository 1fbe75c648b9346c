using System.Globalization;
using System.Net.ServerSentEvents;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Protocol;
using Spindle.Server.Auth;
using Spindle.Server.Streams;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>
/// Streams of one activity (LLM tokens, or any chunks a worker publishes): workers post frames to any server, and
/// subscribers on every server get the frames so far, then the live ones, until <c>complete</c> or <c>error</c>.
/// WebSocket routes as in the reference (<c>?token=</c>), and an SSE twin (bearer header); both also take a stream
/// ticket (<c>?ticket=</c>). Only the worker holding the activity's lease publishes (<see cref="StreamPublishers"/>).
/// </summary>
public static class ActivityStreamsApi
{
    /// <summary>Largest <c>text</c> of one published chunk.</summary>
    public const int MaxChunkChars = 64 * 1024;

    public static RouteGroupBuilder MapActivityStreamsApi(this RouteGroupBuilder api)
    {
        var publish = api.MapGroup("/activities/{activity_id}/ws").RequireScope(Scopes.Worker).WithTags("Streams");
        publish.MapPost("/token", PublishToken).WithSummary("Publish a chunk of an activity's stream ({text, index})")
            .JsonBody<StreamChunkRequest>().Answers<StreamChunkResponse>(200, 404, 409, 422);
        publish.MapPost("/complete", PublishComplete).WithSummary("End an activity's stream with its result ({result})")
            .JsonBody<StreamCompleteRequest>().Answers<StreamEndResponse>(200, 404, 409);
        publish.MapPost("/error", PublishError).WithSummary("End an activity's stream with an error ({error})")
            .JsonBody<StreamErrorRequest>().Answers<StreamEndResponse>(200, 404, 409);
        api.MapGet("/activities/{activity_id}/ws/subscribers", Subscribers).RequireScope(Scopes.Worker, Scopes.Workflows)
            .WithTags("Streams").WithSummary("How many subscribers the activity's stream has (on every server of a cluster)")
            .Answers<StreamSubscriberCount>();

        api.MapGet("/activities/{activity_id}/ws", (HttpContext c, string activity_id, ActivityStreamHub h, StreamConnections l, IHostApplicationLifetime life) =>
                WebSocketAsync(c, h, l, life, () => Task.FromResult<string?>(activity_id))).RequireScope(Scopes.Workflows)
            .WithMetadata(QueryTokenAllowed.Instance).WithMetadata(StreamTicketAllowed.Instance).WithTags("Streams")
            .WithSummary("An activity's stream over a WebSocket (?token= or ?ticket=)");
        api.MapGet("/workflows/{id}/activities/{key}/ws", (HttpContext c, string id, string key, ActivityStreamHub h, IWorkflowStore s, StreamConnections l,
                IHostApplicationLifetime life) => WebSocketAsync(c, h, l, life, () => ResolveAsync(s, id, key, c.RequestAborted))).RequireScope(Scopes.Workflows)
            .WithMetadata(QueryTokenAllowed.Instance).WithMetadata(StreamTicketAllowed.Instance).WithTags("Streams")
            .WithSummary("The stream of a workflow's activity over a WebSocket (?token= or ?ticket=)");

        api.MapGet("/activities/{activity_id}/stream", (HttpContext c, string activity_id, ActivityStreamHub h, StreamConnections l, IHostApplicationLifetime life) =>
                Sse(c, h, l, life, activity_id)).RequireScope(Scopes.Workflows).WithMetadata(StreamTicketAllowed.Instance).WithTags("Streams")
            .WithSummary("An activity's stream as Server-Sent Events (bearer header or ?ticket=)");
        api.MapGet("/workflows/{id}/activities/{key}/stream", async (HttpContext c, string id, string key, ActivityStreamHub h, IWorkflowStore s,
                StreamConnections l, IHostApplicationLifetime life) => await ResolveAsync(s, id, key, c.RequestAborted) is { } activityId
                ? Sse(c, h, l, life, activityId)
                : ApiErrors.NotFound($"No activity '{key}' in workflow {id}")).RequireScope(Scopes.Workflows).WithMetadata(StreamTicketAllowed.Instance)
            .WithTags("Streams")
            .WithSummary("The stream of a workflow's activity as Server-Sent Events (bearer header or ?ticket=)");
        return api;
    }

    /// <summary>
    /// The publisher's <c>worker_id</c> (body field, or query parameter), or null when it does not name itself; an
    /// error result for a bad one, or when it does not hold the activity's lease.
    /// </summary>
    private static async Task<IResult?> CheckPublisherAsync(string activityId, JsonObject? body, HttpRequest request, StreamPublishers publishers,
        CancellationToken cancellationToken)
    {
        string? workerId = null;
        if (body?["worker_id"] is { } node)
        {
            if (node is not JsonValue v || !v.TryGetValue(out workerId) || workerId.Length is 0 or > 255)
            {
                return ApiErrors.Validation("worker_id", "worker_id must be a string of 1-255 characters");
            }
        }
        else if (request.Query["worker_id"].ToString() is { Length: > 0 } fromQuery)
        {
            if (fromQuery.Length > 255)
            {
                return ApiErrors.Validation("worker_id", "worker_id (query parameter) must be at most 255 characters");
            }
            workerId = fromQuery;
        }
        var (verdict, message) = await publishers.CheckAsync(activityId, workerId, cancellationToken);
        return verdict switch
        {
            StreamPublishers.Verdict.NotFound => ApiErrors.NotFound(message!),
            StreamPublishers.Verdict.NotLeased => ApiErrors.Conflict(message!),
            _ => null,
        };
    }

    public static async Task<IResult> PublishToken(string activity_id, HttpRequest request, ActivityStreamHub hub, StreamPublishers publishers,
        CancellationToken cancellationToken)
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
        if (await CheckPublisherAsync(activity_id, body, request, publishers, cancellationToken) is { } refused)
        {
            return refused;
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
            : Json.Result(new StreamChunkResponse { Subscribers = count }, SpindleJsonContext.Default.StreamChunkResponse);
    }

    public static Task<IResult> PublishComplete(string activity_id, HttpRequest request, ActivityStreamHub hub, StreamPublishers publishers,
        CancellationToken cancellationToken) =>
        PublishEndAsync(activity_id, request, hub, publishers, "complete", "result", cancellationToken);

    public static Task<IResult> PublishError(string activity_id, HttpRequest request, ActivityStreamHub hub, StreamPublishers publishers,
        CancellationToken cancellationToken) =>
        PublishEndAsync(activity_id, request, hub, publishers, "error", "error", cancellationToken);

    private static async Task<IResult> PublishEndAsync(string activityId, HttpRequest request, ActivityStreamHub hub, StreamPublishers publishers,
        string type, string field, CancellationToken cancellationToken)
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
        if (await CheckPublisherAsync(activityId, body as JsonObject, request, publishers, cancellationToken) is { } refused)
        {
            return refused;
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
            : Json.Result(new StreamEndResponse { Acknowledged = true, Subscribers = count }, SpindleJsonContext.Default.StreamEndResponse);
    }

    public static async Task<IResult> Subscribers(string activity_id, IStreamPresence presence, CancellationToken cancellationToken) =>
        Json.Result(new StreamSubscriberCount { Count = Ids.IsValid(activity_id) ? await presence.ActivitySubscribersAsync(activity_id, cancellationToken) : 0 },
            SpindleJsonContext.Default.StreamSubscriberCount);

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

    private static IResult Sse(HttpContext context, ActivityStreamHub hub, StreamConnections connections, IHostApplicationLifetime lifetime, string activityId)
    {
        if (!Ids.IsValid(activityId))
        {
            return ApiErrors.NotFound($"Activity {activityId} not found");
        }
        if (!connections.TryOpen(context, out var refusal))
        {
            return refusal!;
        }
        var skip = long.TryParse(context.Request.Headers["Last-Event-ID"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var last) ? last : 0;
        return new SseStream(SseItems(hub.Get(activityId), skip, lifetime.ApplicationStopping, context.RequestAborted));
    }

    /// <summary>Ids are positions in the stream, so a reconnecting EventSource does not get the frames it has twice.</summary>
    private static async IAsyncEnumerable<SseItem<string>> SseItems(ActivityStream stream, long skip, CancellationToken stopping,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var subscriber = stream.Subscribe();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stopping);
        try
        {
            long position = 0;
            while (true)
            {
                EventStreamsApi.Wake wake;
                try
                {
                    wake = await EventStreamsApi.WaitAsync(subscriber.Reader, EventStreamsApi.SsePingInterval, linked.Token);
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    wake = EventStreamsApi.Wake.Stopping;
                }
                if (wake == EventStreamsApi.Wake.Stopping)
                {
                    // The EventSource reconnects (to another server) and skips the frames it has by Last-Event-ID.
                    yield return new SseItem<string>(EventFrames.Error("SERVER_SHUTDOWN", "The server is shutting down"), "error");
                    yield break;
                }
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
                while (subscriber.TryTake(out var frame))
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

    private static async Task WebSocketAsync(HttpContext context, ActivityStreamHub hub, StreamConnections connections, IHostApplicationLifetime lifetime,
        Func<Task<string?>> resolve)
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
        if (!connections.TryOpen(context, out var refusal))
        {
            await refusal!.ExecuteAsync(context);
            return;
        }
        var stream = hub.Get(activityId);
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        using var session = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var receiving = EventStreamsApi.DrainAsync(socket, session);
        var subscriber = stream.Subscribe();
        // Sends give up once an overflowed client has had its grace: a client that stopped reading is cut.
        using var sending = CancellationTokenSource.CreateLinkedTokenSource(session.Token, subscriber.Cut);
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(session.Token, lifetime.ApplicationStopping);
        try
        {
            while (true)
            {
                EventStreamsApi.Wake wake;
                try
                {
                    wake = await EventStreamsApi.WaitAsync(subscriber.Reader, EventStreamsApi.WebSocketPingInterval, waiting.Token);
                }
                catch (OperationCanceledException) when (lifetime.ApplicationStopping.IsCancellationRequested && !session.IsCancellationRequested)
                {
                    wake = EventStreamsApi.Wake.Stopping;
                }
                if (wake == EventStreamsApi.Wake.Ping)
                {
                    await EventStreamsApi.SendAsync(socket, EventFrames.Ping(), sending.Token);
                    continue;
                }
                if (wake == EventStreamsApi.Wake.Stopping)
                {
                    await EventStreamsApi.SendAsync(socket, EventFrames.Error("SERVER_SHUTDOWN", "The server is shutting down"), sending.Token);
                    await socket.CloseOutputAsync(WebSocketCloseStatus.EndpointUnavailable, "SERVER_SHUTDOWN", sending.Token);
                    break;
                }
                if (wake == EventStreamsApi.Wake.End)
                {
                    if (subscriber.Overflowed)
                    {
                        await EventStreamsApi.SendAsync(socket, EventFrames.Error("SLOW_CLIENT", "The client read too slowly"), sending.Token);
                        await socket.CloseOutputAsync(EventStreamsApi.SlowClient, "SLOW_CLIENT", sending.Token);
                    }
                    else
                    {
                        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", sending.Token);
                    }
                    break;
                }
                while (subscriber.TryTake(out var frame))
                {
                    await EventStreamsApi.SendAsync(socket, frame, sending.Token);
                }
            }
        }
        catch (Exception) when (session.IsCancellationRequested || sending.IsCancellationRequested || socket.State is not WebSocketState.Open)
        {
            // The client went away, or read too slowly for too long.
        }
        finally
        {
            stream.Unsubscribe(subscriber);
            await EventStreamsApi.EndSessionAsync(socket, session, receiving);
        }
    }
}
