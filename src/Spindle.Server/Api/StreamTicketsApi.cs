using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Server.Auth;

namespace Spindle.Server.Api;

/// <summary>
/// <c>POST /api/v1/streams/tickets</c>: a single-use ticket, valid for about a minute, that a browser puts in a stream
/// URL (<c>?ticket=</c>) instead of its long-lived token.
/// </summary>
public static class StreamTicketsApi
{
    public static RouteGroupBuilder MapStreamTicketsApi(this RouteGroupBuilder api)
    {
        api.MapPost("/streams/tickets", Issue).RequireScope(Scopes.Workflows).WithTags("Streams")
            .WithSummary("A single-use stream ticket (~60 s) to open an SSE or WebSocket stream with ?ticket=");
        return api;
    }

    public static async Task<IResult> Issue(HttpContext context, StreamTickets tickets, CancellationToken cancellationToken)
    {
        var principal = context.Items[BearerAuthMiddleware.PrincipalKey] as TokenPrincipal ?? new TokenPrincipal("anonymous", Scopes.All, 0, long.MaxValue);
        if (await tickets.IssueAsync(principal, cancellationToken) is not { } issued)
        {
            return ApiErrors.Envelope(429, "RATE_LIMIT_EXCEEDED", "Too many stream tickets are outstanding; use the ones issued or wait a minute");
        }
        return Results.Json(new JsonObject
        {
            ["ticket"] = issued.Ticket,
            ["expires_in"] = (int)StreamTickets.Lifetime.TotalSeconds,
            ["expires_at"] = Timestamps.Format(issued.ExpiresAt.ToUnixTimeMilliseconds() * 1000),
        }, statusCode: 201);
    }
}
