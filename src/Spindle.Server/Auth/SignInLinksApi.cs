using System.Collections.Concurrent;
using System.Security.Cryptography;
using Spindle.Protocol;
using Spindle.Server.Api;

namespace Spindle.Server.Auth;

/// <summary>
/// One-time sign-in links for the web UI (<c>spindle ui</c>, as Jupyter prints one): an admin asks for a code,
/// the browser trades it once, within five minutes, for a token with the asker's identity and scopes. Only a hash
/// of each code is kept, in memory: a link works on the server that made it, and a restart voids it.
/// </summary>
public sealed class SignInLinks(TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);
    private const int MaxPending = 1000; // bounds memory if an admin token is used to ask for codes in a loop

    private readonly ConcurrentDictionary<string, (TokenPrincipal Principal, DateTimeOffset Expires)> _pending = new(StringComparer.Ordinal);

    public string Create(TokenPrincipal principal)
    {
        var now = time.GetUtcNow();
        foreach (var (hash, entry) in _pending)
        {
            if (entry.Expires <= now)
            {
                _pending.TryRemove(hash, out _);
            }
        }
        if (_pending.Count >= MaxPending)
        {
            throw new InvalidOperationException("Too many unused sign-in links");
        }
        var code = Base64Url(RandomNumberGenerator.GetBytes(32));
        _pending[Hash(code)] = (principal, now + Lifetime);
        return code;
    }

    /// <summary>The principal the code was made for, once; null for an unknown, used or expired code.</summary>
    public TokenPrincipal? Redeem(string code) =>
        _pending.TryRemove(Hash(code), out var entry) && entry.Expires > time.GetUtcNow() ? entry.Principal : null;

    private static string Hash(string code) => Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(code)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

public static class SignInLinksApi
{
    public static RouteGroupBuilder MapSignInLinksApi(this RouteGroupBuilder api)
    {
        api.MapPost("/ui/sign-in-links", CreateLink).RequireScope(Scopes.Admin).WithTags("Auth")
            .WithSummary("Make a one-time web UI sign-in link (admin): a code valid once, for five minutes").Answers<SignInLinkResponse>(201, 400, 429);
        api.MapPost("/ui/sign-in", Redeem).WithTags("Auth")
            .WithSummary("Trade a one-time sign-in code for an access token (public; the code is the credential)")
            .JsonBody<SignInRequest>().Answers<TokenResponse>(200, 400, 401);
        return api;
    }

    public static IResult CreateLink(HttpContext context, SignInLinks links)
    {
        if (context.Request.Headers.Authorization.Count == 0)
        {
            // Only an --insecure-dev server lets a request without a token this far; its UI needs no sign-in.
            return ApiErrors.BadRequest("This server runs with --insecure-dev: open /ui directly, no sign-in needed");
        }
        var principal = (TokenPrincipal)context.Items[BearerAuthMiddleware.PrincipalKey]!;
        string code;
        try
        {
            code = links.Create(principal);
        }
        catch (InvalidOperationException e)
        {
            return ApiErrors.Envelope(429, "RATE_LIMIT_EXCEEDED", e.Message + "; wait a few minutes for them to expire");
        }
        return Json.Result(new SignInLinkResponse
        {
            Code = code,
            ExpiresIn = (long)SignInLinks.Lifetime.TotalSeconds,
            // In the fragment: browsers never send it to a server, so it stays out of logs and Referer headers.
            Path = "/ui/#code=" + code,
        }, SpindleJsonContext.Default.SignInLinkResponse, 201);
    }

    public static async Task<IResult> Redeem(HttpRequest request, SignInLinks links, AccessTokens tokens, CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        var fields = new Fields(body!);
        var code = fields.String("code", required: true, maxLength: 100);
        if (fields.HasErrors)
        {
            return ApiErrors.Validation(fields.Errors);
        }
        var principal = links.Redeem(code!);
        if (principal is null)
        {
            return ApiErrors.Envelope(401, "UNAUTHORIZED", "This sign-in link is unknown, expired or already used; run `spindle ui` for a new one");
        }
        return Json.Result(new TokenResponse
        {
            AccessToken = tokens.Issue(principal.ClientId, principal.Scopes),
            TokenType = "Bearer",
            ExpiresIn = (long)tokens.Lifetime.TotalSeconds,
            Scope = string.Join(' ', principal.Scopes),
        }, SpindleJsonContext.Default.TokenResponse);
    }
}
