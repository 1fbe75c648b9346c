using Spindle.Server.Api;
using Spindle.Server.Auth;

namespace Spindle.Server.Streams;

/// <summary>
/// Authentication of the WebSocket routes, which browsers cannot give headers: the token comes as <c>?token=</c>
/// (as in the reference), or as a bearer header from clients that can send one. Same rules as the bearer middleware.
/// </summary>
public static class StreamAuth
{
    public static async Task<IResult?> CheckAsync(HttpContext context, AuthService auth, ServerOptions options, string scope,
        CancellationToken cancellationToken)
    {
        var token = context.Request.Query["token"].ToString();
        var header = context.Request.Headers.Authorization.ToString();
        if (token.Length == 0 && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            token = header[7..].Trim();
        }
        TokenPrincipal? principal;
        if (token.Length == 0)
        {
            principal = options.InsecureDev ? new TokenPrincipal("insecure-dev", Scopes.All, 0, long.MaxValue) : null;
        }
        else
        {
            principal = await auth.AuthenticateAsync(token, cancellationToken);
        }
        if (principal is null)
        {
            return ApiErrors.Envelope(401, "UNAUTHORIZED", token.Length == 0
                ? "Missing token: pass ?token=<access token> (from POST /api/v1/oauth/token)"
                : "Invalid, expired or revoked token");
        }
        if (!Scopes.Grants(principal.Scopes, scope))
        {
            return ApiErrors.Envelope(403, "FORBIDDEN", $"This token lacks the '{scope}' scope needed for this stream");
        }
        context.Items[BearerAuthMiddleware.PrincipalKey] = principal;
        return null;
    }
}
