namespace Spindle.Server.Auth;

/// <summary>
/// Endpoint metadata: the route also takes its bearer token as <c>?token=</c> (the WebSocket routes, since browsers
/// cannot set headers on a WebSocket). Never used on SSE or other HTTP routes, where a token in the URL would end up
/// in logs and histories.
/// </summary>
public sealed class QueryTokenAllowed
{
    public static readonly QueryTokenAllowed Instance = new();
}
