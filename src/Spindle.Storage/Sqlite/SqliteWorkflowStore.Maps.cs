using Spindle.Core.Orchestration;
using Spindle.Storage.Maps;

namespace Spindle.Storage.Sqlite;

// Reading map items (docs/api.md: GET /workflows/{id}/activities/{key}/items).
public sealed partial class SqliteWorkflowStore
{
    public override async Task<IReadOnlyList<ActivityState>> GetMapItemsAsync(string workflowId, string mapKey, int offset, int limit,
        CancellationToken cancellationToken)
    {
        await using var conn = await OpenReaderAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = MapItemSql.Range;
        cmd.Parameters.AddWithValue("$1", workflowId);
        cmd.Parameters.AddWithValue("$2", mapKey);
        cmd.Parameters.AddWithValue("$3", offset);
        cmd.Parameters.AddWithValue("$4", (long)offset + limit);
        var items = new List<ActivityState>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            items.Add(Row.Activity(r));
        }
        return items;
    }
}
