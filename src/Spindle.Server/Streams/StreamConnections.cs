using System.Collections.Concurrent;
using Spindle.Server.Api;
using Spindle.Server.Auth;

namespace Spindle.Server.Streams;

/// <summary>
/// Bounds the stream connections (SSE and WebSocket, events and activity streams) each client holds open on this
/// server, so that one client cannot tie up the server's memory and sockets. Counted per client identity (the
/// token's subject): every token and stream ticket of one client shares the bound, so minting more tokens does not
/// raise it.
/// </summary>
public sealed class StreamConnections(ServerOptions options)
{
    private readonly ConcurrentDictionary<string, int> _open = new(StringComparer.Ordinal);

    public int Limit => options.MaxStreamConnectionsPerClient;

    public int OpenCount(string client) => _open.TryGetValue(client, out var n) ? n : 0;

    /// <summary>
    /// Takes a connection slot for the request's client, released when the request ends; null (and the 429 to
    /// answer in <paramref name="refusal"/>) when the client already holds the maximum.
    /// </summary>
    public bool TryOpen(HttpContext context, out IResult? refusal)
    {
        var client = (context.Items[BearerAuthMiddleware.PrincipalKey] as TokenPrincipal)?.ClientId ?? "anonymous";
        var limit = Limit;
        while (true)
        {
            var current = _open.GetOrAdd(client, 0);
            if (current >= limit)
            {
                refusal = ApiErrors.Envelope(429, "RATE_LIMIT_EXCEEDED",
                    $"Client '{client}' already holds {current} open stream connections on this server (the limit is {limit}); close some first",
                    new System.Text.Json.Nodes.JsonObject { ["limit"] = limit });
                return false;
            }
            if (_open.TryUpdate(client, current + 1, current))
            {
                break;
            }
        }
        context.Response.RegisterForDispose(new Slot(this, client));
        refusal = null;
        return true;
    }

    private void Close(string client)
    {
        while (_open.TryGetValue(client, out var current))
        {
            if (current <= 1 ? _open.TryRemove(new KeyValuePair<string, int>(client, current)) : _open.TryUpdate(client, current - 1, current))
            {
                return;
            }
        }
    }

    private sealed class Slot(StreamConnections owner, string client) : IDisposable
    {
        private int _closed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0)
            {
                owner.Close(client);
            }
        }
    }
}
