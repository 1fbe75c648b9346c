using System.Net.ServerSentEvents;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using Spindle.Core.Common;
using Spindle.Server.Auth;
using Spindle.Server.Streams;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>
/// Live workflow events: Server-Sent Events (bearer header; ids are event ids, so an EventSource resumes exactly
/// from <c>Last-Event-ID</c>) and the reference's WebSocket route (<c>?token=</c>). Both replay from the log, then
/// follow the server's <see cref="EventFeed"/>.
/// </summary>
public static partial class EventStreamsApi
{
    /// <summary>Close code for a subscriber whose buffer overflowed (the reference's).</summary>
    public const WebSocketCloseStatus SlowClient = (WebSocketCloseStatus)4002;

    /// <summary>The reference replays at most this many events on the WebSocket before going live.</summary>
    public const int WebSocketReplayLimit = 1000;

    private const int ReplayPage = 500;

    /// <summary>WebSocket pings as the reference sends them; SSE comments more often, under common proxy idle timeouts.</summary>
    public static TimeSpan WebSocketPingInterval { get; set; } = TimeSpan.FromSeconds(30);

    public static TimeSpan SsePingInterval { get; set; } = TimeSpan.FromSeconds(15);

    public static RouteGroupBuilder MapEventStreamsApi(this RouteGroupBuilder api)
    {
        api.MapGet("/workflows/{id}/events/stream", WorkflowEventStream).RequireScope(Scopes.Workflows).WithMetadata(StreamTicketAllowed.Instance)
            .WithTags("Streams").WithSummary("Live events of one run as Server-Sent Events (resumes from Last-Event-ID; bearer header or ?ticket=)");
        api.MapGet("/events/stream", EventStream).RequireScope(Scopes.Workflows).WithMetadata(StreamTicketAllowed.Instance)
            .WithTags("Streams").WithSummary("Live events of all runs (filters workflow_id, event_type) as Server-Sent Events (bearer header or ?ticket=)");
        api.MapGet("/workflow_events/ws", WorkflowEventsWebSocket).RequireScope(Scopes.Workflows).WithMetadata(QueryTokenAllowed.Instance)
            .WithMetadata(StreamTicketAllowed.Instance).WithTags("Streams")
            .WithSummary("Live workflow events over a WebSocket (?token= or ?ticket=, workflow_id, event_type, from_event_id)");
        return api;
    }

    public static async Task<IResult> WorkflowEventStream(string id, HttpRequest request, IWorkflowStore store, EventFeed feed, IEventLog log,
        StreamConnections connections, CancellationToken cancellationToken)
    {
        if (!Ids.IsValid(id) || await store.GetWorkflowStatusAsync(id, cancellationToken) is null)
        {
            return ApiErrors.NotFound($"Workflow {id} not found");
        }
        return await SseAsync(request, id, feed, log, connections, cancellationToken);
    }

    public static Task<IResult> EventStream(HttpRequest request, EventFeed feed, IEventLog log, StreamConnections connections,
        CancellationToken cancellationToken) =>
        SseAsync(request, null, feed, log, connections, cancellationToken);

    private static async Task<IResult> SseAsync(HttpRequest request, string? workflowId, EventFeed feed, IEventLog log, StreamConnections connections,
        CancellationToken cancellationToken)
    {
        var (query, error) = await EventStreamQuery.ParseAsync(request, workflowId, log, cancellationToken);
        if (query is null)
        {
            return ApiErrors.BadRequest(error!);
        }
        if (workflowId is not null && query.FromSeq is null)
        {
            // One run's stream starts with its whole history (it is short and indexed); the server-wide one is live.
            query = query with { FromSeq = 0 };
        }
        if (!connections.TryOpen(request.HttpContext, out var refusal))
        {
            return refusal!;
        }
        // Subscribed before the headers go out (SseStream sends them at once): a client that has its 200 misses no
        // later event. The stream's end unsubscribes, also when the body was never written.
        var (subscriber, position) = await feed.SubscribeAsync(query.WorkflowIds, query.EventTypes, cancellationToken);
        return new SseStream(SseItems(query, feed, log, subscriber, position, cancellationToken), () => feed.Unsubscribe(subscriber));
    }

    private static async IAsyncEnumerable<SseItem<string>> SseItems(EventStreamQuery query, EventFeed feed, IEventLog log,
        EventSubscriber subscriber, long position, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, feed.Stopping);
        var ct = linked.Token;
        try
        {
            // An opening ping sends the headers at once: a client (the web UI) knows the stream is up before the
            // first event, which on a quiet server may be a long time coming.
            yield return new SseItem<string>(EventFrames.Ping(), "ping");
            var last = query.FromSeq ?? position;
            // Replay everything the client missed: the id of each event is its resume point.
            for (var after = last; after < position;)
            {
                var page = await log.ReplayAsync(after, position, query.WorkflowIds, query.EventTypes, ReplayPage, ct);
                foreach (var e in page)
                {
                    yield return Item(e);
                }
                after = page.Count < ReplayPage ? position : page[^1].Seq;
            }
            last = Math.Max(last, position);
            while (true)
            {
                Wake wake;
                try
                {
                    wake = await WaitAsync(subscriber.Reader, SsePingInterval, ct);
                }
                catch (OperationCanceledException) when (feed.Stopping.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    wake = Wake.Stopping;
                }
                if (wake == Wake.Stopping)
                {
                    // The EventSource reconnects (to another server) and resumes from Last-Event-ID.
                    yield return new SseItem<string>(EventFrames.Error("SERVER_SHUTDOWN", "The server is shutting down"), "error");
                    yield break;
                }
                if (wake == Wake.Ping)
                {
                    yield return new SseItem<string>(EventFrames.Ping(), "ping");
                    continue;
                }
                if (wake == Wake.End)
                {
                    if (subscriber.Overflowed)
                    {
                        // The client reconnects with Last-Event-ID and replays from the log what it missed.
                        yield return new SseItem<string>(EventFrames.Error("SLOW_CLIENT", SlowClientMessage), "error");
                    }
                    yield break;
                }
                while (subscriber.Reader.TryRead(out var e))
                {
                    if (e.Seq > last)
                    {
                        last = e.Seq;
                        yield return Item(e);
                    }
                }
            }
        }
        finally
        {
            feed.Unsubscribe(subscriber);
        }
    }

    private static SseItem<string> Item(LoggedEvent e) => new(EventFrames.Event(e.Event)) { EventId = e.Event.Id };

    private const string SlowClientMessage = $"The client read too slowly; more than 1000 events were waiting for it";

    public static async Task WorkflowEventsWebSocket(HttpContext context, EventFeed feed, IEventLog log, StreamConnections connections, ILoggerFactory loggers)
    {
        var ct = context.RequestAborted;
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await ApiErrors.BadRequest("This route takes a WebSocket upgrade; for Server-Sent Events use GET /api/v1/events/stream").ExecuteAsync(context);
            return;
        }
        var (query, error) = await EventStreamQuery.ParseAsync(context.Request, null, log, ct);
        if (query is null)
        {
            await ApiErrors.BadRequest(error!).ExecuteAsync(context);
            return;
        }
        if (!connections.TryOpen(context, out var refusal))
        {
            await refusal!.ExecuteAsync(context);
            return;
        }
        // Subscribed before the handshake completes: a client that has its open socket then misses no later event.
        var (subscriber, position) = await feed.SubscribeAsync(query.WorkflowIds, query.EventTypes, ct);
        using var socket = await AcceptAsync(context, feed, subscriber);
        using var session = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // Client frames are ignored; reading them notices the client's close.
        var receiving = DrainAsync(socket, session);
        // Sends give up once an overflowed client has had its grace: a client that stopped reading is cut.
        using var sending = CancellationTokenSource.CreateLinkedTokenSource(session.Token, subscriber.Cut);
        try
        {
            var last = query.FromSeq ?? position;
            if (last < position)
            {
                var replay = await log.ReplayAsync(last, position, query.WorkflowIds, query.EventTypes, WebSocketReplayLimit, session.Token);
                foreach (var e in replay)
                {
                    await SendAsync(socket, EventFrames.Event(e.Event), sending.Token);
                }
            }
            last = Math.Max(last, position);
            using var stopping = CancellationTokenSource.CreateLinkedTokenSource(session.Token, feed.Stopping);
            while (true)
            {
                Wake wake;
                try
                {
                    wake = await WaitAsync(subscriber.Reader, WebSocketPingInterval, stopping.Token);
                }
                catch (OperationCanceledException) when (feed.Stopping.IsCancellationRequested && !session.IsCancellationRequested)
                {
                    wake = Wake.End;
                }
                if (wake == Wake.Ping)
                {
                    await SendAsync(socket, EventFrames.Ping(), sending.Token);
                    continue;
                }
                if (wake == Wake.End)
                {
                    var (code, name, message) = subscriber.Overflowed
                        ? (SlowClient, "SLOW_CLIENT", SlowClientMessage)
                        : (WebSocketCloseStatus.EndpointUnavailable, "SERVER_SHUTDOWN", "The server is shutting down");
                    await SendAsync(socket, EventFrames.Error(name, message), sending.Token);
                    await socket.CloseOutputAsync(code, name, sending.Token);
                    break;
                }
                while (subscriber.Reader.TryRead(out var e))
                {
                    if (e.Seq > last)
                    {
                        last = e.Seq;
                        await SendAsync(socket, EventFrames.Event(e.Event), sending.Token);
                    }
                }
            }
        }
        catch (Exception) when (session.IsCancellationRequested || sending.IsCancellationRequested || socket.State is not WebSocketState.Open)
        {
            // The client went away, or read too slowly for too long.
        }
        catch (Exception ex)
        {
            LogStreamFailed(loggers.CreateLogger("Spindle.Server.Streams"), ex);
            if (socket.State == WebSocketState.Open)
            {
                await SendAsync(socket, EventFrames.Error("INTERNAL_ERROR", "The event stream failed"), CancellationToken.None);
                await socket.CloseOutputAsync(WebSocketCloseStatus.InternalServerError, "INTERNAL_ERROR", CancellationToken.None);
            }
        }
        finally
        {
            feed.Unsubscribe(subscriber);
            await EventStreamsApi.EndSessionAsync(socket, session, receiving);
        }
    }

    private static async Task<WebSocket> AcceptAsync(HttpContext context, EventFeed feed, EventSubscriber subscriber)
    {
        try
        {
            return await context.WebSockets.AcceptWebSocketAsync();
        }
        catch
        {
            feed.Unsubscribe(subscriber);
            throw;
        }
    }

    /// <summary>
    /// Ends a WebSocket session: after our close frame, waits (bounded) for the client's, since cancelling a pending
    /// receive would abort the connection before the client reads the close.
    /// </summary>
    internal static async Task EndSessionAsync(WebSocket socket, CancellationTokenSource session, Task receiving)
    {
        if (socket.State == WebSocketState.CloseSent)
        {
            await Task.WhenAny(receiving, Task.Delay(TimeSpan.FromSeconds(5)));
        }
        await session.CancelAsync();
        await receiving;
    }

    internal enum Wake { Data, Ping, End, Stopping }

    internal static async Task<Wake> WaitAsync<T>(ChannelReader<T> reader, TimeSpan ping, CancellationToken cancellationToken)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(ping);
        try
        {
            return await reader.WaitToReadAsync(timer.Token) ? Wake.Data : Wake.End;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Wake.Ping;
        }
    }

    internal static Task SendAsync(WebSocket socket, string frame, CancellationToken cancellationToken) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(frame), WebSocketMessageType.Text, true, cancellationToken);

    /// <summary>Reads and drops client frames until the client closes or the session ends; a close ends the session.</summary>
    internal static async Task DrainAsync(WebSocket socket, CancellationTokenSource session)
    {
        var buffer = new byte[1024];
        try
        {
            while (!session.IsCancellationRequested)
            {
                var result = await socket.ReceiveAsync(buffer, session.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
            }
        }
        catch (Exception)
        {
            // A reset connection or the end of the session: either way the session is over.
        }
        await session.CancelAsync();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A workflow event stream failed")]
    private static partial void LogStreamFailed(ILogger logger, Exception exception);
}
