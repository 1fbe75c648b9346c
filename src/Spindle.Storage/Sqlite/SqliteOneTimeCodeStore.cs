using Microsoft.Data.Sqlite;

namespace Spindle.Storage.Sqlite;

/// <summary>
/// One-time codes in the SQLite file (migration 14). They are written once per stream or sign-in, far off the hot
/// path, so this uses its own connections, as the client store does.
/// </summary>
public sealed class SqliteOneTimeCodeStore : IOneTimeCodeStore
{
    private readonly string _connectionString;

    public SqliteOneTimeCodeStore(string databasePath)
    {
        PrivateDatabaseFile.Ensure(databasePath);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = databasePath, Pooling = true, DefaultTimeout = 30 }.ToString();
    }

    public async Task<bool> AddAsync(string codeHash, OneTimeCode code, long nowMs, int limitPerClient, CancellationToken cancellationToken)
    {
        await using var conn = new SqliteConnection(_connectionString);
        await conn.OpenAsync(cancellationToken);
        // IMMEDIATE: the count and the insert happen under the write lock, so the limit holds exactly here.
        await using var tx = (SqliteTransaction)await conn.BeginTransactionAsync(System.Data.IsolationLevel.Serializable, cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            DELETE FROM one_time_codes WHERE expires_at <= $now;
            INSERT INTO one_time_codes (code_hash, kind, client_id, scopes, issued_at, expires_at)
            SELECT $hash, $kind, $client, $scopes, $issued, $expires
            WHERE (SELECT COUNT(*) FROM one_time_codes WHERE client_id = $client AND kind = $kind) < $limit;
            SELECT changes();
            """;
        cmd.Parameters.AddWithValue("$hash", codeHash);
        cmd.Parameters.AddWithValue("$kind", code.Kind);
        cmd.Parameters.AddWithValue("$client", code.ClientId);
        cmd.Parameters.AddWithValue("$scopes", string.Join(' ', code.Scopes));
        cmd.Parameters.AddWithValue("$issued", code.IssuedAtMs);
        cmd.Parameters.AddWithValue("$expires", code.ExpiresAtMs);
        cmd.Parameters.AddWithValue("$now", nowMs);
        cmd.Parameters.AddWithValue("$limit", limitPerClient);
        var added = (long)(await cmd.ExecuteScalarAsync(cancellationToken))! == 1;
        await tx.CommitAsync(cancellationToken);
        return added;
    }

    public async Task<OneTimeCode?> TakeAsync(string codeHash, string kind, long nowMs, CancellationToken cancellationToken)
    {
        await using var conn = new SqliteConnection(_connectionString);
        await conn.OpenAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = OneTimeCodeRows.Take;
        cmd.Parameters.AddWithValue("$1", codeHash);
        cmd.Parameters.AddWithValue("$2", kind);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        return await OneTimeCodeRows.ReadTakenAsync(r, kind, nowMs, cancellationToken);
    }
}
