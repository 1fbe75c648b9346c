using System.ComponentModel;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Spindle.Protocol;

// Schedules (docs/api.md, Schedules). Times are RFC 3339 strings in UTC with microseconds, formatted by the server.
// The request records describe the bodies in the OpenAPI document; the server reads them field by field, so that a
// bad field gets a 422 naming it.

[Description("A schedule: what to submit and when, with its run counters and next occurrences.")]
public sealed record Schedule
{
    public required string Id { get; init; }

    public required string Name { get; init; }

    public required string DefinitionName { get; init; }

    [Description("Null: the latest version at each occurrence.")]
    public required string? DefinitionVersion { get; init; }

    public required JsonObject Input { get; init; }

    [Description("Set when the schedule runs on a cron expression (then interval_seconds is null).")]
    public required string? Cron { get; init; }

    [Description("Set when the schedule runs every N seconds (then cron is null).")]
    public required long? IntervalSeconds { get; init; }

    [Description("IANA time zone the cron expression is evaluated in.")]
    public required string Timezone { get; init; }

    [Description("skip, allow, buffer_one or cancel_other.")]
    public required string OverlapPolicy { get; init; }

    public required bool Enabled { get; init; }

    public required int JitterSeconds { get; init; }

    public required string? StartAt { get; init; }

    public required string? EndAt { get; init; }

    public required int? RemainingRuns { get; init; }

    [Description("Null: after downtime at most one catch-up run; otherwise every missed occurrence inside the window runs.")]
    public required long? CatchupWindowSeconds { get; init; }

    [Description("Null when no occurrence is left (paused, ended or out of runs).")]
    public required string? NextRunAt { get; init; }

    public required string? LastRunAt { get; init; }

    public required string? LastWorkflowId { get; init; }

    public required string? CreatedBy { get; init; }

    public required string CreatedAt { get; init; }

    public required string UpdatedAt { get; init; }

    [Description("The note given when the schedule was paused.")]
    public required string? Note { get; init; }

    public required int RunCount { get; init; }

    public required int SkippedCount { get; init; }

    [Description("The occurrence waiting for the running workflow to end (overlap_policy buffer_one).")]
    public required string? BufferedAt { get; init; }

    [Description("The definition whose YAML declares this schedule, if one does.")]
    public required string? DeclaredBy { get; init; }

    [Description("The next occurrences (up to five).")]
    public required IReadOnlyList<string> Upcoming { get; init; }

    [Description("The latest runs, newest first: only in GET /schedules/{id}.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<ScheduleRunRecord>? RecentRuns { get; init; }
}

[Description("One occurrence of a schedule and what became of it.")]
public sealed record ScheduleRunRecord
{
    public required string OccurrenceAt { get; init; }

    [Description("submitted, skipped, buffered, duplicate or failed.")]
    public required string Outcome { get; init; }

    public required string? WorkflowId { get; init; }

    public required string? Message { get; init; }

    public required string RecordedAt { get; init; }
}

public sealed record ScheduleList
{
    [Description("Ordered by name.")]
    public required IReadOnlyList<Schedule> Schedules { get; init; }

    public required int Count { get; init; }
}

public sealed record TriggerScheduleResponse
{
    public required string ScheduleId { get; init; }

    [Description("submitted (201), skipped or buffered.")]
    public required string Outcome { get; init; }

    public required string? WorkflowId { get; init; }

    public required string? Message { get; init; }
}

public sealed record BackfillScheduleResponse
{
    public required string ScheduleId { get; init; }

    [Description("The range's occurrences, oldest first.")]
    public required IReadOnlyList<ScheduleRunRecord> Runs { get; init; }

    public required int Count { get; init; }

    [Description("How many of the runs were submitted.")]
    public required int Submitted { get; init; }
}

[Description("A new schedule: exactly one of cron and interval_seconds.")]
public sealed record CreateScheduleRequest
{
    [Description("Unique, at most 200 characters; part of each occurrence's unique key.")]
    public required string Name { get; init; }

    public required string DefinitionName { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? DefinitionVersion { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonObject? Input { get; init; }

    [Description("5 fields, or 6 with seconds first; macros such as @daily.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Cron { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? IntervalSeconds { get; init; }

    [Description("IANA time zone, default UTC.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Timezone { get; init; }

    [Description("skip (default), allow, buffer_one or cancel_other.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? OverlapPolicy { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? Enabled { get; init; }

    [Description("0-86400.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? JitterSeconds { get; init; }

    [Description("RFC 3339.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? StartAt { get; init; }

    [Description("RFC 3339.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? EndAt { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? RemainingRuns { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? CatchupWindowSeconds { get; init; }
}

[Description("The fields to change (any but name); giving cron or interval_seconds replaces the other.")]
public sealed record UpdateScheduleRequest
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? DefinitionName { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? DefinitionVersion { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonObject? Input { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Cron { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? IntervalSeconds { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Timezone { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? OverlapPolicy { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? Enabled { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? JitterSeconds { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? StartAt { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? EndAt { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? RemainingRuns { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? CatchupWindowSeconds { get; init; }
}

public sealed record PauseScheduleRequest
{
    [Description("Why the schedule is paused (at most 1000 characters); shown as note.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Note { get; init; }
}

public sealed record TriggerScheduleRequest
{
    [Description("Start the occurrence even while the last run is going.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? IgnoreOverlap { get; init; }
}

public sealed record BackfillScheduleRequest
{
    [Description("RFC 3339, inclusive.")]
    public required string Start { get; init; }

    [Description("RFC 3339, exclusive.")]
    public required string End { get; init; }
}
