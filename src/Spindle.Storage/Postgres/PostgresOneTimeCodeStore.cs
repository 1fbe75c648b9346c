using Npgsql;

namespace Spindle.Storage.Postgres;

/// <summary>One-time codes in PostgreSQL (migration 16), so that every server of a cluster redeems them.</summary>
public sealed class PostgresOneTimeCodeStore(NpgsqlDataSource dataSource) : IOneTimeCodeStore
{
    public async Task<bool> AddAsync(string codeHash, OneTimeCode code, long nowMs, int limitPerClient, CancellationToken cancellationToken)
    {
        // One statement: the purge and the count see the same snapshot, so the count skips expired rows itself.
        await using var cmd = dataSource.CreateCommand("""
            WITH purged AS (DELETE FROM one_time_codes WHERE expires_at <= $6)
            INSERT INTO one_time_codes (code_hash, kind, client_id, scopes, issued_at, expires_at)
            SELECT $1, $2, $3, $4, $5, $7
            WHERE (SELECT COUNT(*) FROM one_time_codes WHERE client_id = $3 AND kind = $2 AND expires_at > $6) < $8
            """);
        cmd.Parameters.AddWithValue(codeHash);
        cmd.Parameters.AddWithValue(code.Kind);
        cmd.Parameters.AddWithValue(code.ClientId);
        cmd.Parameters.AddWithValue(string.Join(' ', code.Scopes));
        cmd.Parameters.AddWithValue(code.IssuedAtMs);
        cmd.Parameters.AddWithValue(nowMs);
        cmd.Parameters.AddWithValue(code.ExpiresAtMs);
        cmd.Parameters.AddWithValue((long)limitPerClient);
        return await cmd.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task<OneTimeCode?> TakeAsync(string codeHash, string kind, long nowMs, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand(OneTimeCodeRows.Take);
        cmd.Parameters.AddWithValue(codeHash);
        cmd.Parameters.AddWithValue(kind);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        return await OneTimeCodeRows.ReadTakenAsync(r, kind, nowMs, cancellationToken);
    }
}
