using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;

namespace Spindle.Storage.Postgres;

/// <summary>
/// The row writes of one decision (workflow row, changed and new activity rows, events) as one statement: each write
/// a data-modifying CTE, and the final SELECT raises (<see cref="PostgresActivityRows.UpdateGuard"/>) unless every
/// guarded activity update matched its row. Every CTE runs once and to completion in the statement's snapshot; the
/// writes touch different rows, so nothing depends on their order. A completion always writes the workflow row, an
/// activity row and an event, and each statement costs PostgreSQL a bind, an executor start-up and shutdown and its
/// bookkeeping on top of the row work; one statement instead of three to five is that much less per step. The text
/// depends only on which writes are present and how many rows are updated, so there are a handful of shapes, each
/// prepared once per connection.
/// </summary>
internal static partial class PostgresCombinedWrite
{
    /// <summary>Row updates beyond this many go as statements of their own (a wide fan-out would make a shape per width).</summary>
    public const int MaxUpdates = 4;

    /// <summary>The kinds of write, in statement order.</summary>
    public enum Part
    {
        InsertWorkflow,
        UpdateWorkflow,
        UpdateActivity,
        InsertActivities,
        InsertEvents,
    }

    private static readonly ConcurrentDictionary<int, string> Shapes = new();

    /// <summary>
    /// One command with the parameters of <paramref name="writes"/> in order, or the single write itself when there is
    /// one (an <see cref="Part.UpdateActivity"/> is then the statement with its own guard, <see cref="PostgresActivityRows.UpdateSql"/>).
    /// </summary>
    public static NpgsqlBatchCommand Combine(IReadOnlyList<(Part Part, NpgsqlBatchCommand Command)> writes)
    {
        if (writes.Count == 1)
        {
            return writes[0].Command;
        }
        var shape = 0;
        foreach (var (part, _) in writes)
        {
            shape = shape * 8 + (int)part + 1;
        }
        var command = new NpgsqlBatchCommand(Shapes.GetOrAdd(shape, _ => Compose(writes)));
        foreach (var (_, write) in writes)
        {
            foreach (NpgsqlParameter p in write.Parameters)
            {
                command.Parameters.Add(p.Clone());
            }
        }
        return command;
    }

    private static string Compose(IReadOnlyList<(Part Part, NpgsqlBatchCommand Command)> writes)
    {
        var sql = new StringBuilder("WITH ");
        var guards = new List<string>();
        var offset = 0;
        for (var i = 0; i < writes.Count; i++)
        {
            var (part, write) = writes[i];
            var name = "w" + i.ToString(CultureInfo.InvariantCulture);
            var text = part == Part.UpdateActivity ? PostgresActivityRows.UpdateDml : write.CommandText;
            sql.Append(i == 0 ? "" : ", ").Append(name).Append(" AS (").Append(Renumber(text, offset)).Append(')');
            if (part == Part.UpdateActivity)
            {
                guards.Add(Renumber(PostgresActivityRows.UpdateGuard, offset)
                    .Replace("count(*)", $"(SELECT count(*) FROM {name})", StringComparison.Ordinal));
            }
            offset += write.Parameters.Count;
        }
        return sql.Append(" SELECT ").Append(guards.Count == 0 ? "1" : string.Join(", ", guards)).ToString();
    }

    private static string Renumber(string sql, int offset) =>
        offset == 0 ? sql : Placeholder().Replace(sql, m => "$" + (int.Parse(m.Groups[1].ValueSpan, CultureInfo.InvariantCulture) + offset));

    [GeneratedRegex(@"\$(\d+)")]
    private static partial Regex Placeholder();
}
