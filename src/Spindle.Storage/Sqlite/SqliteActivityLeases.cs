using Microsoft.Data.Sqlite;

namespace Spindle.Storage.Sqlite;

/// <summary>Activity leases read from the SQLite file (read-only connections, like the event log).</summary>
public sealed class SqliteActivityLeases(string databasePath) : IActivityLeases
{
    private readonly string _connectionString =
        new SqliteConnectionStringBuilder { DataSource = databasePath, Pooling = true, DefaultTimeout = 30, Mode = SqliteOpenMode.ReadOnly }.ToString();

    public async Task<ActivityLease?> GetLeaseAsync(string activityId, CancellationToken cancellationToken)
    {
        await using var conn = new SqliteConnection(_connectionString);
        await conn.OpenAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT status, lease_owner, lease_until FROM activity_runs WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", activityId);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await r.ReadAsync(cancellationToken))
        {
            return null;
        }
        return new ActivityLease(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.IsDBNull(2) ? null : r.GetInt64(2));
    }
}
