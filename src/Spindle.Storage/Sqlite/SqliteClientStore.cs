using Microsoft.Data.Sqlite;

namespace Spindle.Storage.Sqlite;

/// <summary>OAuth clients in the SQLite file (table from migration 2). Writes are rare, so it uses its own connections.</summary>
public sealed class SqliteClientStore : IClientStore
{
    private const string Columns = "client_id, name, secret_hash, scopes, created_at, revoked_at";
    private readonly string _connectionString;

    public SqliteClientStore(string databasePath)
    {
        PrivateDatabaseFile.Ensure(databasePath);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = databasePath, Pooling = true, DefaultTimeout = 30 }.ToString();
    }

    public async Task<OAuthClient?> GetClientAsync(string clientId, CancellationToken cancellationToken)
    {
        await using var conn = await OpenAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = $"SELECT {Columns} FROM oauth_clients WHERE client_id = $id";
        cmd.Parameters.AddWithValue("$id", clientId);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        return await r.ReadAsync(cancellationToken) ? Read(r) : null;
    }

    public async Task<IReadOnlyList<OAuthClient>> ListClientsAsync(CancellationToken cancellationToken)
    {
        await using var conn = await OpenAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = $"SELECT {Columns} FROM oauth_clients ORDER BY created_at, client_id";
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
        await using var conn = await OpenAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = $"INSERT INTO oauth_clients ({Columns}) VALUES ($id, $name, $hash, $scopes, $created, NULL) ON CONFLICT (client_id) DO NOTHING";
        cmd.Parameters.AddWithValue("$id", client.ClientId);
        cmd.Parameters.AddWithValue("$name", client.Name);
        cmd.Parameters.AddWithValue("$hash", client.SecretHash);
        cmd.Parameters.AddWithValue("$scopes", string.Join(' ', client.Scopes));
        cmd.Parameters.AddWithValue("$created", client.CreatedAt);
        return await cmd.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task UpdateSecretAsync(string clientId, string secretHash, CancellationToken cancellationToken)
    {
        await using var conn = await OpenAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "UPDATE oauth_clients SET secret_hash = $hash WHERE client_id = $id";
        cmd.Parameters.AddWithValue("$id", clientId);
        cmd.Parameters.AddWithValue("$hash", secretHash);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<bool> RevokeClientAsync(string clientId, long revokedAt, CancellationToken cancellationToken)
    {
        await using var conn = await OpenAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "UPDATE oauth_clients SET revoked_at = COALESCE(revoked_at, $at) WHERE client_id = $id";
        cmd.Parameters.AddWithValue("$id", clientId);
        cmd.Parameters.AddWithValue("$at", revokedAt);
        return await cmd.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task<IReadOnlyList<string>> ListRevokedClientIdsAsync(CancellationToken cancellationToken)
    {
        await using var conn = await OpenAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT client_id FROM oauth_clients WHERE revoked_at IS NOT NULL";
        var list = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            list.Add(r.GetString(0));
        }
        return list;
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var conn = new SqliteConnection(_connectionString);
        await conn.OpenAsync(cancellationToken);
        return conn;
    }

    private static OAuthClient Read(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3).Split(' ', StringSplitOptions.RemoveEmptyEntries),
        r.GetInt64(4), r.IsDBNull(5) ? null : r.GetInt64(5));
}
