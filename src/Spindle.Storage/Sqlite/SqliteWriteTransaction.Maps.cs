using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Maps;
using Spindle.Core.Orchestration;
using Spindle.Storage.Maps;

namespace Spindle.Storage.Sqlite;

// Map item rows (docs/architecture.md#maps) on the writer connection.
internal sealed partial class SqliteWriteTransaction : IMapItemRows
{
    public Task<IReadOnlyList<ActivityState>> LoadItemsAsync(string workflowId, IReadOnlyCollection<string> ids,
        IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
    {
        var items = new List<ActivityState>();
        foreach (var id in ids)
        {
            var cmd = Command($"SELECT {Rows.RowReader.ActivityColumns} FROM activity_runs WHERE id = $1 AND workflow_id = $2 AND map_of IS NOT NULL");
            ActivityRows.Set(cmd, "$1", id);
            ActivityRows.Set(cmd, "$2", workflowId);
            items.AddRange(ReadActivities(cmd));
        }
        foreach (var key in keys)
        {
            var cmd = Command($"SELECT {Rows.RowReader.ActivityColumns} FROM activity_runs WHERE workflow_id = $1 AND activity_key = $2 AND map_of IS NOT NULL");
            ActivityRows.Set(cmd, "$1", workflowId);
            ActivityRows.Set(cmd, "$2", key);
            items.AddRange(ReadActivities(cmd));
        }
        return Task.FromResult<IReadOnlyList<ActivityState>>(items);
    }

    public Task<IReadOnlyList<ActivityState>> LoadItemRangeAsync(string workflowId, string mapKey, int from, int count,
        CancellationToken cancellationToken)
    {
        var cmd = Command(MapItemSql.Range);
        ActivityRows.Set(cmd, "$1", workflowId);
        ActivityRows.Set(cmd, "$2", mapKey);
        ActivityRows.Set(cmd, "$3", from);
        ActivityRows.Set(cmd, "$4", (long)from + count);
        return Task.FromResult<IReadOnlyList<ActivityState>>(ReadActivities(cmd));
    }

    public Task<IReadOnlyList<MapItemResult>> ReadItemResultsAsync(string workflowId, string mapKey, CancellationToken cancellationToken)
    {
        var cmd = Command(MapItemSql.Results);
        ActivityRows.Set(cmd, "$1", workflowId);
        ActivityRows.Set(cmd, "$2", mapKey);
        var results = new List<MapItemResult>();
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            results.Add(new MapItemResult(r.GetInt32(0), r.GetString(1), r.GetString(2),
                r.IsDBNull(3) ? null : JsonLimits.ParseStored(r.GetString(3)) as JsonObject,
                r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5)));
        }
        return Task.FromResult<IReadOnlyList<MapItemResult>>(results);
    }

    public Task<IReadOnlyList<int>> DeleteUnfinishedItemsAsync(string workflowId, string mapKey, CancellationToken cancellationToken)
    {
        var delete = Command(MapItemSql.DeleteUnfinished);
        ActivityRows.Set(delete, "$1", workflowId);
        ActivityRows.Set(delete, "$2", mapKey);
        delete.ExecuteNonQuery();
        var kept = Command(MapItemSql.KeptIndexes);
        ActivityRows.Set(kept, "$1", workflowId);
        ActivityRows.Set(kept, "$2", mapKey);
        var indexes = new List<int>();
        using var r = kept.ExecuteReader();
        while (r.Read())
        {
            indexes.Add(r.GetInt32(0));
        }
        return Task.FromResult<IReadOnlyList<int>>(indexes);
    }

    public Task DeleteItemsAsync(string workflowId, string mapKey, CancellationToken cancellationToken)
    {
        var cmd = Command(MapItemSql.Delete);
        ActivityRows.Set(cmd, "$1", workflowId);
        ActivityRows.Set(cmd, "$2", mapKey);
        cmd.ExecuteNonQuery();
        return Task.CompletedTask;
    }

    public Task StopItemsAsync(string workflowId, string mapKey, IReadOnlyCollection<string> exceptKeys, long now,
        CancellationToken cancellationToken)
    {
        // The few rows this transaction writes itself are left out by key; SQLite has no array parameter.
        var sql = MapItemSql.StopSet.Replace("{TRUE}", "1", StringComparison.Ordinal);
        if (exceptKeys.Count > 0)
        {
            sql += " AND activity_key NOT IN (" + string.Join(", ", exceptKeys.Select((_, i) => "$k" + i.ToString(System.Globalization.CultureInfo.InvariantCulture))) + ")";
        }
        var cmd = Command(sql);
        ActivityRows.Set(cmd, "$1", workflowId);
        ActivityRows.Set(cmd, "$2", mapKey);
        ActivityRows.Set(cmd, "$3", now);
        var k = 0;
        foreach (var key in exceptKeys)
        {
            ActivityRows.Set(cmd, "$k" + (k++).ToString(System.Globalization.CultureInfo.InvariantCulture), key);
        }
        cmd.ExecuteNonQuery();
        return Task.CompletedTask;
    }

    /// <summary>New and changed map items, after the workflow's own rows (<see cref="PersistAsync"/>).</summary>
    private void PersistItems(WorkflowState wf)
    {
        foreach (var a in wf.Items.Values)
        {
            if (!a.IsNew && !a.IsDirty)
            {
                continue;
            }
            var cmd = Command(a.IsNew ? ActivityRows.InsertSql : ActivityRows.UpdateSql);
            ActivityRows.Bind(cmd, a, wf.Definition.Find(a.MapOf!)?.Index ?? 0);
            cmd.ExecuteNonQuery();
            a.IsNew = false;
            a.IsDirty = false;
        }
    }

    private static List<ActivityState> ReadActivities(Microsoft.Data.Sqlite.SqliteCommand cmd)
    {
        var list = new List<ActivityState>();
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            list.Add(SqliteRowReader.Instance.Activity(r));
        }
        return list;
    }
}
