namespace Spindle.Storage;

/// <summary>What redeeming a one-time code grants: a client's identity with some scopes, until it expires.</summary>
public sealed record OneTimeCode(string Kind, string ClientId, IReadOnlyList<string> Scopes, long IssuedAtMs, long ExpiresAtMs);

/// <summary>
/// One-time credentials (stream tickets, web UI sign-in codes) in the engine's database rather than one server's
/// memory: behind a load balancer the browser's next request may reach another server of the cluster, and that
/// server must redeem the code, exactly once. Only a hash of each code is stored.
/// </summary>
public interface IOneTimeCodeStore
{
    /// <summary>
    /// Stores a code unless its client already holds <paramref name="limitPerClient"/> unexpired codes of that kind
    /// (a bound on what one token can make the database keep; two servers adding at once may pass it by one each).
    /// Expired codes of every client are dropped on the way.
    /// </summary>
    /// <returns>false when the client is at its limit.</returns>
    Task<bool> AddAsync(string codeHash, OneTimeCode code, long nowMs, int limitPerClient, CancellationToken cancellationToken);

    /// <summary>
    /// Removes the code and returns what it grants, once across every server: null for an unknown or used code, or
    /// one that expired. A code of another kind is left alone and gets null.
    /// </summary>
    Task<OneTimeCode?> TakeAsync(string codeHash, string kind, long nowMs, CancellationToken cancellationToken);
}
