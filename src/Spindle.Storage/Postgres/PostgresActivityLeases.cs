using Npgsql;

namespace Spindle.Storage.Postgres;

/// <summary>Activity leases read from PostgreSQL, on the server's one pool.</summary>
public sealed class PostgresActivityLeases(NpgsqlDataSource dataSource) : IActivityLeases
{
    public async Task<ActivityLease?> GetLeaseAsync(string activityId, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand("SELECT status, lease_owner, lease_until FROM activity_runs WHERE id = $1");
        cmd.Parameters.AddWithValue(activityId);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await r.ReadAsync(cancellationToken))
        {
            return null;
        }
        return new ActivityLease(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.IsDBNull(2) ? null : r.GetInt64(2));
    }
}
