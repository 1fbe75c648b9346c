using System.Data.Common;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Schedules;

namespace Spindle.Storage.Schedules;

/// <summary>The schedule columns both backends select, in this order, and how a row becomes a <see cref="StoredSchedule"/>.</summary>
internal static class ScheduleRowReader
{
    public const string Columns =
        "id, spec, anchor_at, next_run_at, due_at, last_run_at, last_workflow_id, buffered_at, run_count, skipped_count, pause_note, " +
        "declared_by, created_by, created_at, updated_at";

    public const string RunColumns = "occurrence_at, outcome, workflow_id, message, created_at";

    /// <summary>Runs kept per schedule; older ones are dropped as new ones are recorded.</summary>
    public const int RunsKept = 200;

    public static StoredSchedule Read(DbDataReader r) => new(
        r.GetString(0), Spec(r.GetString(1)), r.GetInt64(2), Long(r, 3), Long(r, 4), Long(r, 5), Text(r, 6), Long(r, 7),
        r.GetInt32(8), r.GetInt32(9), Text(r, 10), Text(r, 11), Text(r, 12), r.GetInt64(13), r.GetInt64(14));

    public static ScheduleRun ReadRun(DbDataReader r) => new(r.GetInt64(0), r.GetString(1), Text(r, 2), Text(r, 3), r.GetInt64(4));

    public static string SpecJson(ScheduleSpec spec) => spec.ToJson().ToJsonString();

    private static ScheduleSpec Spec(string json)
    {
        var (spec, errors) = ScheduleSpecReader.Read(JsonLimits.ParseStored(json)!.AsObject());
        return spec ?? throw new InvalidOperationException(
            $"A stored schedule no longer reads: {string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(", ", e.Value)}"))}");
    }

    private static long? Long(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt64(i);

    private static string? Text(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);
}
