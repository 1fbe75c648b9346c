using Spindle.Protocol;
using Spindle.Server.Api;
using Spindle.Storage;

namespace Spindle.Server.Auth;

/// <summary>
/// One-time sign-in links for the web UI (<c>spindle ui</c>, as Jupyter prints one): an admin asks for a code,
/// the browser trades it once, within five minutes, for a token with the asker's identity and scopes. Codes live in
/// the engine's database as hashes (<see cref="IOneTimeCodeStore"/>): any server of a cluster redeems a link, and a
/// restart keeps it.
/// </summary>
public sealed class SignInLinks(IOneTimeCodeStore codes, TimeProvider time)
{
    public const string Kind = "ui-sign-in";

    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);

    /// <summary>Unused links one client may hold at once: bounds what an admin token asking in a loop can store.</summary>
    public const int LimitPerClient = 1000;

    /// <returns>The code, or null when the asker holds too many unused ones.</returns>
    public async Task<string?> CreateAsync(TokenPrincipal principal, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var code = OneTimeCodeText.New();
        var grant = new OneTimeCode(Kind, principal.ClientId, [.. principal.Scopes], now.ToUnixTimeMilliseconds(), (now + Lifetime).ToUnixTimeMilliseconds());
        return await codes.AddAsync(OneTimeCodeText.Hash(code), grant, now.ToUnixTimeMilliseconds(), LimitPerClient, cancellationToken) ? code : null;
    }

    /// <summary>The principal the code was made for, once; null for an unknown, used or expired code.</summary>
    public async Task<TokenPrincipal?> RedeemAsync(string code, CancellationToken cancellationToken) =>
        (await codes.TakeAsync(OneTimeCodeText.Hash(code), Kind, time.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken))?.ToPrincipal();
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

    public static async Task<IResult> CreateLink(HttpContext context, SignInLinks links, CancellationToken cancellationToken)
    {
        if (context.Request.Headers.Authorization.Count == 0)
        {
            // Only an --insecure-dev server lets a request without a token this far; its UI needs no sign-in.
            return ApiErrors.BadRequest("This server runs with --insecure-dev: open /ui directly, no sign-in needed");
        }
        var principal = (TokenPrincipal)context.Items[BearerAuthMiddleware.PrincipalKey]!;
        if (await links.CreateAsync(principal, cancellationToken) is not { } code)
        {
            return ApiErrors.Envelope(429, "RATE_LIMIT_EXCEEDED", "Too many unused sign-in links; wait a few minutes for them to expire");
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
        var principal = await links.RedeemAsync(code!, cancellationToken);
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
