using Spindle.Server.Api;

namespace Spindle.Server.Auth;

/// <summary>
/// Every route that carries <see cref="RequiredScope"/> needs a valid bearer token with that scope (401 without a
/// valid token, 403 with a valid token lacking the scope). In insecure dev mode a request without a token is
/// accepted, but a token that is present is still checked.
/// </summary>
public sealed class BearerAuthMiddleware(RequestDelegate next, ServerOptions options)
{
    public const string PrincipalKey = "spindle.principal";
    private static readonly TokenPrincipal InsecureDev = new("insecure-dev", Scopes.All, 0, long.MaxValue);

    public async Task InvokeAsync(HttpContext context, AuthService auth, StreamTickets tickets)
    {
        var required = context.GetEndpoint()?.Metadata.GetMetadata<RequiredScope>();
        if (required is null)
        {
            await next(context);
            return;
        }
        TokenPrincipal? principal;
        var header = context.Request.Headers.Authorization.ToString();
        if (header.Length == 0 && context.GetEndpoint()!.Metadata.GetMetadata<StreamTicketAllowed>() is not null &&
            context.Request.Query["ticket"].ToString() is { Length: > 0 } ticket)
        {
            // Stream routes: a short-lived single-use ticket stands in for the token (never a long-lived token in a URL).
            principal = await tickets.RedeemAsync(ticket, context.RequestAborted);
            if (principal is not null && await auth.IsRevokedAsync(principal.ClientId, context.RequestAborted))
            {
                principal = null; // the client was revoked after the ticket was issued
            }
            if (principal is null)
            {
                await ApiErrors.Envelope(401, "UNAUTHORIZED",
                    "Invalid, expired or already used stream ticket: get a new one from POST /api/v1/streams/tickets").ExecuteAsync(context);
                return;
            }
            if (!required.IsGrantedBy(principal.Scopes))
            {
                await ApiErrors.Envelope(403, "FORBIDDEN",
                    $"A stream ticket lacks the '{required.Scope}' scope needed for {context.Request.Method} {context.Request.Path}").ExecuteAsync(context);
                return;
            }
            context.Items[PrincipalKey] = principal;
            await next(context);
            return;
        }
        if (header.Length == 0 && context.GetEndpoint()!.Metadata.GetMetadata<QueryTokenAllowed>() is not null &&
            context.Request.Query["token"].ToString() is { Length: > 0 } queryToken)
        {
            // WebSocket routes: browsers cannot set headers on a WebSocket, so the token comes as ?token= (as in the reference).
            header = "Bearer " + queryToken;
        }
        if (header.Length == 0)
        {
            principal = options.InsecureDev ? InsecureDev : null;
        }
        else if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7)
        {
            principal = await auth.AuthenticateAsync(header[7..].Trim(), context.RequestAborted);
        }
        else
        {
            principal = null;
        }
        if (principal is null)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await ApiErrors.Envelope(401, "UNAUTHORIZED",
                header.Length == 0
                    ? "Missing bearer token: get one from POST /api/v1/oauth/token with your client credentials"
                    : "Invalid, expired or revoked token").ExecuteAsync(context);
            return;
        }
        if (!required.IsGrantedBy(principal.Scopes))
        {
            await ApiErrors.Envelope(403, "FORBIDDEN",
                $"This token lacks the '{required.Scope}' scope needed for {context.Request.Method} {context.Request.Path}").ExecuteAsync(context);
            return;
        }
        context.Items[PrincipalKey] = principal;
        await next(context);
    }
}
