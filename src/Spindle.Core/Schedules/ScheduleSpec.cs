using System.Text.Json.Nodes;
using Spindle.Core.Common;

namespace Spindle.Core.Schedules;

/// <summary>What happens when an occurrence comes due while the schedule's previous run is still unfinished.</summary>
public static class OverlapPolicies
{
    /// <summary>Do not start; the occurrence is recorded as skipped (the default, as the reference).</summary>
    public const string Skip = "skip";

    /// <summary>Start anyway; runs may overlap.</summary>
    public const string Allow = "allow";

    /// <summary>Keep one occurrence waiting and start it as soon as the running one ends; further ones are skipped.</summary>
    public const string BufferOne = "buffer_one";

    /// <summary>Cancel the running one, then start the new one.</summary>
    public const string CancelOther = "cancel_other";

    public static readonly IReadOnlyList<string> All = [Skip, Allow, BufferOne, CancelOther];

    public static bool IsKnown(string? policy) => policy is Skip or Allow or BufferOne or CancelOther;
}

/// <summary>
/// The user-given part of a schedule (docs/api.md "Schedules"): what to submit and when. Times are engine
/// microseconds. Exactly one of <see cref="Cron"/> and <see cref="IntervalSeconds"/> is set.
/// </summary>
public sealed record ScheduleSpec
{
    public required string Name { get; init; }
    public required string DefinitionName { get; init; }
    public string? DefinitionVersion { get; init; }
    public JsonObject Input { get; init; } = new();
    public string? Cron { get; init; }
    public long? IntervalSeconds { get; init; }
    public string Timezone { get; init; } = "UTC";
    public string OverlapPolicy { get; init; } = OverlapPolicies.Skip;
    public bool Enabled { get; init; } = true;
    public int JitterSeconds { get; init; }
    public long? StartAt { get; init; }
    public long? EndAt { get; init; }
    public int? RemainingRuns { get; init; }

    /// <summary>Null: after downtime at most one catch-up run. Otherwise every missed occurrence inside the window runs, oldest first.</summary>
    public long? CatchupWindowSeconds { get; init; }

    /// <summary>The fields as the API and the YAML spell them (the body a PATCH is merged into).</summary>
    public JsonObject ToJson() => new()
    {
        ["name"] = Name,
        ["definition_name"] = DefinitionName,
        ["definition_version"] = DefinitionVersion,
        ["input"] = Input.DeepClone(),
        ["cron"] = Cron,
        ["interval_seconds"] = IntervalSeconds,
        ["timezone"] = Timezone,
        ["overlap_policy"] = OverlapPolicy,
        ["enabled"] = Enabled,
        ["jitter_seconds"] = JitterSeconds,
        ["start_at"] = Timestamps.Format(StartAt),
        ["end_at"] = Timestamps.Format(EndAt),
        ["remaining_runs"] = RemainingRuns,
        ["catchup_window_seconds"] = CatchupWindowSeconds,
    };

    /// <summary>Whether the two specs fire at the same times (a change of cadence recomputes the next run).</summary>
    public bool SameCadence(ScheduleSpec other) =>
        Cron == other.Cron && IntervalSeconds == other.IntervalSeconds && Timezone == other.Timezone && StartAt == other.StartAt
        && EndAt == other.EndAt && JitterSeconds == other.JitterSeconds;
}
