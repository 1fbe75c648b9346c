using Spindle.Storage.Rows;

namespace Spindle.Storage.Maps;

/// <summary>The statements of <see cref="IMapItemRows"/> that read the same on both backends (parameters <c>$1</c>…).</summary>
internal static class MapItemSql
{
    public const string Range =
        $"SELECT {RowReader.ActivityColumns} FROM activity_runs WHERE workflow_id = $1 AND map_of = $2 AND map_index >= $3 " +
        "AND map_index < $4 ORDER BY map_index";

    public const string Results =
        "SELECT map_index, activity_key, status, outputs, error_code, error_message FROM activity_runs " +
        "WHERE workflow_id = $1 AND map_of = $2 ORDER BY map_index";

    public const string Delete = "DELETE FROM activity_runs WHERE workflow_id = $1 AND map_of = $2";

    /// <summary>A rerun after a workflow retry: the items that did not complete go, the completed ones stay.</summary>
    public const string DeleteUnfinished = "DELETE FROM activity_runs WHERE workflow_id = $1 AND map_of = $2 AND status <> 'completed'";

    public const string KeptIndexes = "SELECT map_index FROM activity_runs WHERE workflow_id = $1 AND map_of = $2 ORDER BY map_index";

    /// <summary>
    /// Every SET expression reads the row as it was, so running items keep their status and get the stop flag while
    /// the others are cancelled. On PostgreSQL a claim racing this statement holds the row; the statement then
    /// re-reads it as running.
    /// </summary>
    public const string StopSet =
        "UPDATE activity_runs SET " +
        "cancel_requested = CASE WHEN status = 'running' THEN {TRUE} ELSE cancel_requested END, " +
        "completed_at = CASE WHEN status = 'running' THEN completed_at ELSE $3 END, " +
        "ready_at = CASE WHEN status = 'running' THEN ready_at ELSE NULL END, " +
        "status = CASE WHEN status = 'running' THEN status ELSE 'cancelled' END " +
        "WHERE workflow_id = $1 AND map_of = $2 AND status IN ('not_scheduled', 'pending', 'waiting', 'running')";
}
