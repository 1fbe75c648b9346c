using Npgsql;

namespace Spindle.Storage.Postgres;

/// <summary>OAuth clients in PostgreSQL (migration 2), shared by every server of a cluster.</summary>
public sealed class PostgresClientStore(NpgsqlDataSource dataSource) : IClientStore
{
    private const string Columns = "client_id, name, secret_hash, scopes, created_at, revoked_at";

    public async Task<OAuthClient?> GetClientAsync(string clientId, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand($"SELECT {Columns} FROM oauth_clients WHERE client_id = $1");
        cmd.Parameters.AddWithValue(clientId);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        return await r.ReadAsync(cancellationToken) ? Read(r) : null;
    }

    public async Task<IReadOnlyList<OAuthClient>> ListClientsAsync(CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand($"SELECT {Columns} FROM oauth_clients ORDER BY created_at, client_id");
        var list = new List<OAuthClient>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            list.Add(Read(r));
        }
        return list;
    }

    public async Task<bool> CreateClientAsync(OAuthClient client, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand(
            $"INSERT INTO oauth_clients ({Columns}) VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT (client_id) DO NOTHING");
        cmd.Parameters.AddWithValue(client.ClientId);
        cmd.Parameters.AddWithValue(client.Name);
        cmd.Parameters.AddWithValue(client.SecretHash);
        cmd.Parameters.AddWithValue(string.Join(' ', client.Scopes));
        cmd.Parameters.AddWithValue(client.CreatedAt);
        return await cmd.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task UpdateSecretAsync(string clientId, string secretHash, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("UPDATE oauth_clients SET secret_hash = $2 WHERE client_id = $1");
        cmd.Parameters.AddWithValue(clientId);
        cmd.Parameters.AddWithValue(secretHash);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<bool> RevokeClientAsync(string clientId, long revokedAt, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("UPDATE oauth_clients SET revoked_at = COALESCE(revoked_at, $2) WHERE client_id = $1");
        cmd.Parameters.AddWithValue(clientId);
        cmd.Parameters.AddWithValue(revokedAt);
        return await cmd.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task<IReadOnlyList<string>> ListRevokedClientIdsAsync(CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("SELECT client_id FROM oauth_clients WHERE revoked_at IS NOT NULL");
        var list = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            list.Add(r.GetString(0));
        }
        return list;
    }

    private static OAuthClient Read(NpgsqlDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3).Split(' ', StringSplitOptions.RemoveEmptyEntries),
        r.GetInt64(4), r.IsDBNull(5) ? null : r.GetInt64(5));
}
