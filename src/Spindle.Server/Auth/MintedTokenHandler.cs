using System.Net.Http.Headers;

namespace Spindle.Server.Auth;

/// <summary>
/// Gives the in-process std worker a token minted by this server for its own least-privilege client, renewed well
/// before expiry: the worker still goes through HTTP and the normal token checks, without a stored secret.
/// </summary>
public sealed class MintedTokenHandler(AccessTokens tokens, string clientId, IReadOnlyCollection<string> scopes) : DelegatingHandler
{
    private string? _token;
    private DateTimeOffset _renewAt;

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (_token is null || DateTimeOffset.UtcNow >= _renewAt)
        {
            _token = tokens.Issue(clientId, scopes);
            _renewAt = DateTimeOffset.UtcNow + tokens.Lifetime / 2;
        }
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        return base.SendAsync(request, cancellationToken);
    }
}
