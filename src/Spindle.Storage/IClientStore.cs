namespace Spindle.Storage;

/// <summary>An OAuth2 client (docs/api.md): only the salted hash of its secret is stored.</summary>
public sealed record OAuthClient(string ClientId, string Name, string SecretHash, IReadOnlyList<string> Scopes, long CreatedAt, long? RevokedAt)
{
    public bool IsActive => RevokedAt is null;
}

/// <summary>Clients live in the engine's database so that every server of a cluster sees the same ones.</summary>
public interface IClientStore
{
    Task<OAuthClient?> GetClientAsync(string clientId, CancellationToken cancellationToken);

    Task<IReadOnlyList<OAuthClient>> ListClientsAsync(CancellationToken cancellationToken);

    /// <returns>false when a client with that id already exists.</returns>
    Task<bool> CreateClientAsync(OAuthClient client, CancellationToken cancellationToken);

    Task UpdateSecretAsync(string clientId, string secretHash, CancellationToken cancellationToken);

    /// <returns>false when the client does not exist.</returns>
    Task<bool> RevokeClientAsync(string clientId, long revokedAt, CancellationToken cancellationToken);

    /// <summary>Ids of revoked clients, for the per-request check.</summary>
    Task<IReadOnlyList<string>> ListRevokedClientIdsAsync(CancellationToken cancellationToken);
}
