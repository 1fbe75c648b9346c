using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Protocol;
using Spindle.Server.Api;

namespace Spindle.Server.Auth;

/// <summary>The token endpoint (docs/api.md): client credentials as JSON or as a form.</summary>
public static class OAuthApi
{
    public static RouteGroupBuilder MapOAuthApi(this RouteGroupBuilder api)
    {
        api.MapPost("/oauth/token", IssueToken).WithTags("Auth").WithSummary("Issue an access token (client_credentials; form or JSON body)").Answers<TokenResponse>(200, 400, 401, 429);
        return api;
    }

    public static async Task<IResult> IssueToken(HttpRequest request, AuthService auth, CancellationToken cancellationToken)
    {
        Dictionary<string, string?> fields;
        if (request.HasFormContentType)
        {
            IFormCollection form;
            try
            {
                form = await request.ReadFormAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException && ex is not BadHttpRequestException)
            {
                // A malformed form (a multipart body without its boundary, cut short, ...) is the client's error.
                return ApiErrors.BadRequest($"Malformed form body: {ex.Message}");
            }
            fields = form.ToDictionary(f => f.Key, f => (string?)f.Value.ToString(), StringComparer.Ordinal);
        }
        else
        {
            var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
            if (error is not null)
            {
                return error;
            }
            fields = body!.ToDictionary(f => f.Key, f => f.Value?.GetValueKind() == JsonValueKind.String ? f.Value.GetValue<string>() : f.Value?.ToJsonString(), StringComparer.Ordinal);
        }
        var grant = fields.GetValueOrDefault("grant_type");
        if (string.IsNullOrEmpty(grant))
        {
            return ApiErrors.BadRequest("grant_type is required (client_credentials)");
        }
        if (grant != "client_credentials")
        {
            return ApiErrors.BadRequest($"Unsupported grant_type '{grant}': Spindle issues tokens for client_credentials");
        }
        var clientId = fields.GetValueOrDefault("client_id");
        var secret = fields.GetValueOrDefault("client_secret");
        if (string.IsNullOrEmpty(clientId) || string.IsNullOrEmpty(secret))
        {
            return ApiErrors.BadRequest("client_id and client_secret are required");
        }
        var requested = fields.GetValueOrDefault("scope")?.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var address = request.HttpContext.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        var result = await auth.IssueAsync(clientId, secret, requested, address, cancellationToken);
        switch (result.Status)
        {
            case TokenIssueStatus.RateLimited:
                request.HttpContext.Response.Headers.RetryAfter = Math.Ceiling(result.RetryAfter!.Value.TotalSeconds).ToString(CultureInfo.InvariantCulture);
                return ApiErrors.Envelope(429, "RATE_LIMIT_EXCEEDED", "Too many failed attempts; wait before trying again");
            case TokenIssueStatus.InvalidClient:
                // A constant pause makes online guessing slower still, and does not reveal which part was wrong.
                await Task.Delay(200, cancellationToken);
                return ApiErrors.Envelope(401, "UNAUTHORIZED", "Invalid client credentials");
            case TokenIssueStatus.InvalidScope:
                return ApiErrors.Envelope(400, "BAD_REQUEST", "invalid_scope: the client does not have every requested scope");
            default:
                return Json.Result(new TokenResponse
                {
                    AccessToken = result.AccessToken!,
                    TokenType = "Bearer",
                    ExpiresIn = (long)auth.Tokens.Lifetime.TotalSeconds,
                    Scope = string.Join(' ', result.Scopes),
                }, SpindleJsonContext.Default.TokenResponse);
        }
    }
}
