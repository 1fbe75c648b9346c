using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Core.Common;

namespace Spindle.Core.Schedules;

/// <summary>
/// Reads and checks a schedule from its JSON fields (an API body, a PATCH merged over the stored fields, or an entry
/// of a definition's <c>schedules:</c>), collecting every problem under its field name.
/// </summary>
public static class ScheduleSpecReader
{
    public const int MaxNameLength = 200;

    /// <summary>Longest interval and widest windows: ten years, far beyond any real use and far from overflow.</summary>
    public const long MaxSeconds = 10L * 366 * 24 * 3600;

    public const int MaxJitterSeconds = 86_400;

    /// <param name="prefix">Put before each field name in the errors (e.g. <c>schedules[0].</c>).</param>
    /// <param name="definitionName">The definition when the body cannot name another (a definition's own schedules).</param>
    public static (ScheduleSpec? Spec, Dictionary<string, List<string>> Errors) Read(JsonObject body, string prefix = "",
        string? definitionName = null)
    {
        var errors = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        void Error(string field, string message)
        {
            var key = prefix + field;
            if (!errors.TryGetValue(key, out var list))
            {
                errors[key] = list = [];
            }
            list.Add(message);
        }

        string? Str(string field, bool required)
        {
            var node = body[field];
            if (node is null || node.GetValueKind() == JsonValueKind.Null)
            {
                if (required)
                {
                    Error(field, $"{field} is required");
                }
                return null;
            }
            if (node.GetValueKind() != JsonValueKind.String)
            {
                Error(field, $"{field} must be a string");
                return null;
            }
            var value = node.GetValue<string>();
            if (value.Trim().Length == 0)
            {
                Error(field, $"{field} must not be empty");
                return null;
            }
            return value;
        }

        long? Long(string field, long min, long max)
        {
            var node = body[field];
            if (node is null || node.GetValueKind() == JsonValueKind.Null)
            {
                return null;
            }
            if (node.GetValueKind() == JsonValueKind.Number && decimal.TryParse(node.ToJsonString(), NumberStyles.Float,
                    CultureInfo.InvariantCulture, out var d) && d == decimal.Truncate(d) && d >= min && d <= max)
            {
                return (long)d;
            }
            Error(field, $"{field} must be an integer from {min} to {max}");
            return null;
        }

        long? Time(string field)
        {
            var text = Str(field, required: false);
            if (text is null)
            {
                return null;
            }
            if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var t)
                && (text.EndsWith('Z') || text.EndsWith('z') || text.Length > 6 && text[^6] is '+' or '-'))
            {
                return Timestamps.ToMicros(t);
            }
            Error(field, $"{field} must be an RFC 3339 time with an offset, e.g. 2026-03-01T09:00:00Z");
            return null;
        }

        var name = Str("name", required: true);
        if (name is not null && (name.Length > MaxNameLength || name.Any(char.IsControl)))
        {
            Error("name", $"name must be at most {MaxNameLength} characters without control characters");
        }
        var definition = definitionName ?? Str("definition_name", required: true);
        var version = Str("definition_version", required: false);
        JsonObject input = new();
        switch (body["input"])
        {
            case null:
                break;
            case JsonObject o:
                input = o.DeepClone().AsObject();
                break;
            case var other when other.GetValueKind() == JsonValueKind.Null:
                break;
            default:
                Error("input", "input must be a JSON object");
                break;
        }

        var cron = Str("cron", required: false);
        var interval = Long("interval_seconds", 1, MaxSeconds);
        var timezone = Str("timezone", required: false) ?? "UTC";
        if (cron is not null && interval is not null)
        {
            Error("cron", "give exactly one of cron and interval_seconds, not both");
        }
        else if (cron is null && interval is null && !errors.ContainsKey(prefix + "interval_seconds") && !errors.ContainsKey(prefix + "cron"))
        {
            Error("cron", "give exactly one of cron (e.g. \"0 9 * * *\") and interval_seconds");
        }
        if (!ScheduleCadence.TryFindZone(timezone, out _))
        {
            Error("timezone", $"unknown time zone '{timezone}': use an IANA name such as UTC, Europe/Berlin or America/New_York");
        }
        if (cron is not null && !ScheduleCadence.TryParseCron(cron, out _, out var cronProblem))
        {
            Error("cron", cronProblem!);
        }

        var policy = Str("overlap_policy", required: false) ?? OverlapPolicies.Skip;
        if (!OverlapPolicies.IsKnown(policy))
        {
            Error("overlap_policy", $"overlap_policy must be one of {string.Join(", ", OverlapPolicies.All)}");
        }
        var enabled = true;
        switch (body["enabled"]?.GetValueKind())
        {
            case null or JsonValueKind.Null or JsonValueKind.True:
                break;
            case JsonValueKind.False:
                enabled = false;
                break;
            default:
                Error("enabled", "enabled must be a boolean");
                break;
        }
        var jitter = Long("jitter_seconds", 0, MaxJitterSeconds) ?? 0;
        var startAt = Time("start_at");
        var endAt = Time("end_at");
        if (startAt is not null && endAt is not null && endAt <= startAt)
        {
            Error("end_at", "end_at must be later than start_at");
        }
        var remaining = Long("remaining_runs", 0, int.MaxValue);
        var catchup = Long("catchup_window_seconds", 0, MaxSeconds);

        if (errors.Count > 0)
        {
            return (null, errors);
        }
        return (new ScheduleSpec
        {
            Name = name!,
            DefinitionName = definition!,
            DefinitionVersion = version,
            Input = input,
            Cron = cron,
            IntervalSeconds = interval,
            Timezone = timezone,
            OverlapPolicy = policy,
            Enabled = enabled,
            JitterSeconds = (int)jitter,
            StartAt = startAt,
            EndAt = endAt,
            RemainingRuns = remaining is { } r ? (int)r : null,
            CatchupWindowSeconds = catchup,
        }, errors);
    }
}
