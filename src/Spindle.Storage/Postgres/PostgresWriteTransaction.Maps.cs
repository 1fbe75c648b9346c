using System.Text.Json.Nodes;
using Npgsql;
using Spindle.Core.Common;
using Spindle.Core.Definitions;
using Spindle.Core.Maps;
using Spindle.Core.Orchestration;
using Spindle.Storage.Maps;
using Spindle.Storage.Rows;

namespace Spindle.Storage.Postgres;

// Map item rows (docs/architecture.md#maps). Items read here are remembered like the workflow's rows, so their writes
// are guarded by the status read (a claim may change a pending item without the workflow's lock).
internal sealed partial class PostgresWriteTransaction : IMapItemRows
{
    public async Task<IReadOnlyList<ActivityState>> LoadItemsAsync(string workflowId, IReadOnlyCollection<string> ids,
        IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(
            $"SELECT {RowReader.ActivityColumns} FROM activity_runs WHERE workflow_id = $1 AND map_of IS NOT NULL " +
            "AND (id = ANY($2) OR activity_key = ANY($3))", _conn, _tx);
        cmd.Parameters.Add(PgParameters.Text(workflowId));
        cmd.Parameters.Add(PgParameters.TextArray([.. ids]));
        cmd.Parameters.Add(PgParameters.TextArray([.. keys]));
        return await ReadItemsAsync(cmd, cancellationToken);
    }

    public async Task<IReadOnlyList<ActivityState>> LoadItemRangeAsync(string workflowId, string mapKey, int from, int count,
        CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(MapItemSql.Range, _conn, _tx);
        cmd.Parameters.Add(PgParameters.Text(workflowId));
        cmd.Parameters.Add(PgParameters.Text(mapKey));
        cmd.Parameters.Add(PgParameters.Integer(from));
        cmd.Parameters.Add(PgParameters.Integer((int)Math.Min(int.MaxValue, (long)from + count)));
        return await ReadItemsAsync(cmd, cancellationToken);
    }

    public async Task<IReadOnlyList<MapItemResult>> ReadItemResultsAsync(string workflowId, string mapKey, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(MapItemSql.Results, _conn, _tx);
        cmd.Parameters.Add(PgParameters.Text(workflowId));
        cmd.Parameters.Add(PgParameters.Text(mapKey));
        var results = new List<MapItemResult>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            results.Add(new MapItemResult(r.GetInt32(0), r.GetString(1), r.GetString(2),
                r.IsDBNull(3) ? null : JsonLimits.ParseStored(r.GetString(3)) as JsonObject,
                r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5)));
        }
        return results;
    }

    public async Task<IReadOnlyList<int>> DeleteUnfinishedItemsAsync(string workflowId, string mapKey, CancellationToken cancellationToken)
    {
        await using (var delete = new NpgsqlCommand(MapItemSql.DeleteUnfinished, _conn, _tx))
        {
            delete.Parameters.Add(PgParameters.Text(workflowId));
            delete.Parameters.Add(PgParameters.Text(mapKey));
            await delete.ExecuteNonQueryAsync(cancellationToken);
        }
        await using var kept = new NpgsqlCommand(MapItemSql.KeptIndexes, _conn, _tx);
        kept.Parameters.Add(PgParameters.Text(workflowId));
        kept.Parameters.Add(PgParameters.Text(mapKey));
        var indexes = new List<int>();
        await using var r = await kept.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            indexes.Add(r.GetInt32(0));
        }
        return indexes;
    }

    public async Task DeleteItemsAsync(string workflowId, string mapKey, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(MapItemSql.Delete, _conn, _tx);
        cmd.Parameters.Add(PgParameters.Text(workflowId));
        cmd.Parameters.Add(PgParameters.Text(mapKey));
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task StopItemsAsync(string workflowId, string mapKey, IReadOnlyCollection<string> exceptKeys, long now,
        CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(
            MapItemSql.StopSet.Replace("{TRUE}", "true", StringComparison.Ordinal) + " AND NOT (activity_key = ANY($4))", _conn, _tx);
        cmd.Parameters.Add(PgParameters.Text(workflowId));
        cmd.Parameters.Add(PgParameters.Text(mapKey));
        cmd.Parameters.Add(PgParameters.Bigint(now));
        cmd.Parameters.Add(PgParameters.TextArray([.. exceptKeys]));
        await cmd.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task<IReadOnlyList<ActivityState>> ReadItemsAsync(NpgsqlCommand cmd, CancellationToken cancellationToken)
    {
        var items = new List<ActivityState>();
        await using (var r = await cmd.ExecuteReaderAsync(cancellationToken))
        {
            while (await r.ReadAsync(cancellationToken))
            {
                items.Add(PostgresRowReader.Instance.Activity(r));
            }
        }
        foreach (var a in items)
        {
            _read[(a.WorkflowId, a.Key)] = PostgresActivityRows.ReadRow.Of(a);
        }
        return items;
    }

    /// <summary>New map items join the workflow's inserts; changed ones are guarded updates (<see cref="PersistAsync"/>).</summary>
    private void AddItemWrites(WorkflowState wf, NpgsqlBatch batch, List<(ActivityState, ActivityDefinition)> inserts)
    {
        foreach (var a in wf.Items.Values)
        {
            var definition = wf.Definition.Find(a.MapOf!)!;
            if (a.IsNew)
            {
                inserts.Add((a, definition));
            }
            else if (a.IsDirty)
            {
                batch.BatchCommands.Add(PostgresActivityRows.Update(a, definition.Index, ReadOf(wf.Id, a)));
            }
        }
    }
}
