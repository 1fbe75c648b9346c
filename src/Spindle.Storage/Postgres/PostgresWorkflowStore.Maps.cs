using Npgsql;
using Spindle.Core.Orchestration;
using Spindle.Storage.Maps;

namespace Spindle.Storage.Postgres;

// Reading map items (docs/api.md: GET /workflows/{id}/activities/{key}/items).
public sealed partial class PostgresWorkflowStore
{
    public override async Task<IReadOnlyList<ActivityState>> GetMapItemsAsync(string workflowId, string mapKey, int offset, int limit,
        CancellationToken cancellationToken)
    {
        await using var conn = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand(MapItemSql.Range, conn);
        cmd.Parameters.Add(PgParameters.Text(workflowId));
        cmd.Parameters.Add(PgParameters.Text(mapKey));
        cmd.Parameters.Add(PgParameters.Integer(offset));
        cmd.Parameters.Add(PgParameters.Integer((int)Math.Min(int.MaxValue, (long)offset + limit)));
        var items = new List<ActivityState>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            items.Add(PostgresRowReader.Instance.Activity(r));
        }
        return items;
    }
}
