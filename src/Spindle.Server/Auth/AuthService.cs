using System.Collections.Concurrent;
using Spindle.Core.Common;
using Spindle.Storage;

namespace Spindle.Server.Auth;

public enum TokenIssueStatus
{
    Issued,
    InvalidClient,
    InvalidScope,
    RateLimited,
}

public sealed record TokenIssueResult(TokenIssueStatus Status, string? AccessToken, IReadOnlyList<string> Scopes, TimeSpan? RetryAfter);

/// <summary>Issues tokens for client credentials and authenticates bearer tokens, honouring revocation.</summary>
public sealed class AuthService
{
    private static readonly TimeSpan RevocationRefresh = TimeSpan.FromSeconds(2);
    private readonly AccessTokens _tokens;
    private readonly IClientStore _clients;
    private readonly FailedAttemptLimiter _limiter;
    private readonly ISecretVerifier _verifier;
    private readonly ConcurrentDictionary<string, TokenPrincipal> _validated = new(StringComparer.Ordinal);
    private readonly Lock _revocationLock = new();
    private HashSet<string> _revoked = new(StringComparer.Ordinal);
    private DateTimeOffset _revokedLoadedAt = DateTimeOffset.MinValue;

    public AuthService(AccessTokens tokens, IClientStore clients, FailedAttemptLimiter limiter, ISecretVerifier verifier)
    {
        _tokens = tokens;
        _clients = clients;
        _limiter = limiter;
        _verifier = verifier;
    }

    public AccessTokens Tokens => _tokens;

    public IClientStore Clients => _clients;

    public async Task<TokenIssueResult> IssueAsync(string clientId, string secret, IReadOnlyList<string>? requestedScopes, string address, CancellationToken cancellationToken)
    {
        if (_limiter.RetryAfter(clientId, address) is { } wait)
        {
            return new TokenIssueResult(TokenIssueStatus.RateLimited, null, [], wait);
        }
        var client = await _clients.GetClientAsync(clientId, cancellationToken);
        // The hash runs whether or not the id is known, so refusing an unknown id takes as long as a wrong secret.
        var verified = _verifier.Verify(secret, client is { IsActive: true } ? client.SecretHash : SecretHasher.DummyHash);
        if (client is not { IsActive: true } || !verified)
        {
            _limiter.RecordFailure(clientId, address);
            return new TokenIssueResult(TokenIssueStatus.InvalidClient, null, [], null);
        }
        var scopes = client.Scopes;
        if (requestedScopes is { Count: > 0 })
        {
            if (requestedScopes.Any(s => !client.Scopes.Contains(s)))
            {
                return new TokenIssueResult(TokenIssueStatus.InvalidScope, null, [], null);
            }
            scopes = requestedScopes;
        }
        return new TokenIssueResult(TokenIssueStatus.Issued, _tokens.Issue(client.ClientId, scopes), scopes, null);
    }

    /// <summary>The principal of a valid, unrevoked token; null otherwise.</summary>
    public async ValueTask<TokenPrincipal?> AuthenticateAsync(string token, CancellationToken cancellationToken)
    {
        if (!_validated.TryGetValue(token, out var principal))
        {
            principal = _tokens.Validate(token);
            if (principal is null)
            {
                return null;
            }
            if (_validated.Count > 10_000)
            {
                _validated.Clear(); // bounded: a flood of distinct tokens cannot grow memory
            }
            _validated[token] = principal;
        }
        if (principal.ExpiresAt < DateTimeOffset.UtcNow.ToUnixTimeSeconds())
        {
            _validated.TryRemove(token, out _);
            return null;
        }
        var revoked = await RevokedAsync(cancellationToken);
        return revoked.Contains(principal.ClientId) ? null : principal;
    }

    /// <summary>Whether the client is revoked, as this server last loaded the revocations (a couple of seconds).</summary>
    public async ValueTask<bool> IsRevokedAsync(string clientId, CancellationToken cancellationToken) =>
        (await RevokedAsync(cancellationToken)).Contains(clientId);

    public async Task<bool> RevokeAsync(string clientId, CancellationToken cancellationToken)
    {
        var found = await _clients.RevokeClientAsync(clientId, Timestamps.Now(), cancellationToken);
        if (found)
        {
            lock (_revocationLock)
            {
                _revoked = new HashSet<string>(_revoked, StringComparer.Ordinal) { clientId };
            }
        }
        return found;
    }

    /// <summary>Revocations by other servers of a cluster are seen within a couple of seconds.</summary>
    private async ValueTask<HashSet<string>> RevokedAsync(CancellationToken cancellationToken)
    {
        if (DateTimeOffset.UtcNow - _revokedLoadedAt < RevocationRefresh)
        {
            return _revoked;
        }
        var ids = await _clients.ListRevokedClientIdsAsync(cancellationToken);
        lock (_revocationLock)
        {
            _revoked = new HashSet<string>(ids, StringComparer.Ordinal);
            _revokedLoadedAt = DateTimeOffset.UtcNow;
            return _revoked;
        }
    }
}
