using System.Net.ServerSentEvents;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Spindle.TestSupport;

/// <summary>A Server-Sent Events subscription read with the runtime's SSE parser, as an EventSource would.</summary>
public sealed class SseSubscription : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly IAsyncEnumerator<SseItem<string>> _items;

    private SseSubscription(HttpResponseMessage response, Stream stream)
    {
        _response = response;
        _items = SseParser.Create(stream).EnumerateAsync().GetAsyncEnumerator();
    }

    public static async Task<SseSubscription> OpenAsync(HttpClient http, string path, string? lastEventId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync();
            response.Dispose();
            throw new HttpRequestException($"{(int)response.StatusCode}: {body}", null, response.StatusCode);
        }
        return new SseSubscription(response, await response.Content.ReadAsStreamAsync());
    }

    /// <summary>The next item of any type (event frames have the type "message"), or null at the end of the stream.</summary>
    public async Task<SseItem<string>?> NextAsync(TimeSpan? timeout = null)
    {
        var next = _items.MoveNextAsync().AsTask();
        if (await Task.WhenAny(next, Task.Delay(timeout ?? TimeSpan.FromSeconds(20))) != next)
        {
            throw new TimeoutException("No server-sent event arrived in time");
        }
        return await next ? _items.Current : null;
    }

    /// <summary>Reads event frames (skipping pings) until one satisfies <paramref name="last"/>; returns them all.</summary>
    public async Task<List<(string Id, JsonObject Frame)>> ReadUntilAsync(Func<JsonObject, bool> last)
    {
        var got = new List<(string, JsonObject)>();
        while (await NextAsync() is { } item)
        {
            if (item.EventType != "message")
            {
                continue;
            }
            var frame = JsonNode.Parse(item.Data)!.AsObject();
            got.Add((item.EventId ?? "", frame));
            if (last(frame))
            {
                return got;
            }
        }
        throw new InvalidOperationException("The stream ended early");
    }

    public async ValueTask DisposeAsync()
    {
        _response.Dispose();
        try
        {
            await _items.DisposeAsync();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or HttpRequestException)
        {
        }
    }
}

/// <summary>A client of the reference's WebSocket streams that reads JSON text frames.</summary>
public sealed class WebSocketSubscription(ClientWebSocket socket) : IAsyncDisposable
{
    public ClientWebSocket Socket { get; } = socket;

    public static async Task<WebSocketSubscription> OpenAsync(string baseUrl, string pathAndQuery)
    {
        var socket = new ClientWebSocket();
        var uri = new Uri(baseUrl.Replace("http://", "ws://", StringComparison.Ordinal) + pathAndQuery);
        await socket.ConnectAsync(uri, CancellationToken.None);
        return new WebSocketSubscription(socket);
    }

    /// <summary>The next frame, or null when the server closed (see <see cref="ClientWebSocket.CloseStatus"/>).</summary>
    public async Task<JsonObject?> NextAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var result = await Socket.ReceiveAsync(buffer, cts.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }
            message.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return JsonNode.Parse(Encoding.UTF8.GetString(message.ToArray()))!.AsObject();
            }
        }
    }

    /// <summary>Reads frames of type "event" (skipping pings) until one satisfies <paramref name="last"/>.</summary>
    public async Task<List<JsonObject>> ReadEventsUntilAsync(Func<JsonObject, bool> last)
    {
        var got = new List<JsonObject>();
        while (await NextAsync() is { } frame)
        {
            if ((string?)frame["type"] != "event")
            {
                continue;
            }
            got.Add(frame);
            if (last(frame))
            {
                return got;
            }
        }
        throw new InvalidOperationException($"The stream closed early ({Socket.CloseStatus})");
    }

    public async ValueTask DisposeAsync()
    {
        if (Socket.State == WebSocketState.Open)
        {
            try
            {
                await Socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
            }
            catch (WebSocketException)
            {
            }
        }
        Socket.Dispose();
    }
}
