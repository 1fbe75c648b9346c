using System.Text;
using Cronos;
using Spindle.Core.Common;

namespace Spindle.Core.Schedules;

/// <summary>
/// When a schedule fires. Cron expressions are evaluated by Cronos in the schedule's IANA time zone, which handles
/// daylight saving (a time skipped by a spring-forward fires once at the jump; a time repeated in autumn fires once);
/// intervals are phase-anchored at the schedule's creation. Times are engine microseconds.
/// </summary>
public static class ScheduleCadence
{
    private const long MicrosPerSecond = 1_000_000;

    public static bool TryFindZone(string id, out TimeZoneInfo zone)
    {
        zone = TimeZoneInfo.Utc;
        if (string.IsNullOrWhiteSpace(id) || id.Length > 100)
        {
            return false;
        }
        if (TimeZoneInfo.TryFindSystemTimeZoneById(id, out var found))
        {
            zone = found;
            return true;
        }
        return false;
    }

    /// <summary>5 fields (minute precision), 6 fields (the first is seconds), or a macro such as <c>@daily</c>.</summary>
    public static bool TryParseCron(string text, out CronExpression? expression, out string? problem)
    {
        expression = null;
        problem = null;
        var trimmed = text.Trim();
        var fields = trimmed.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
        if (!trimmed.StartsWith('@') && fields is not (5 or 6))
        {
            problem = $"cron '{text}' has {fields} fields; use 5 (minute hour day-of-month month day-of-week, e.g. \"0 9 * * *\") " +
                      "or 6 with seconds first (e.g. \"*/10 * * * * *\")";
            return false;
        }
        try
        {
            expression = CronExpression.Parse(trimmed, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
            return true;
        }
        catch (CronFormatException e)
        {
            problem = $"cron '{text}' is not valid: {e.Message}";
            return false;
        }
    }

    /// <summary>
    /// The first occurrence strictly after <paramref name="after"/> inside the schedule's start/end window, or null
    /// when there is none (past <c>end_at</c>, or a cron that never matches again).
    /// </summary>
    /// <param name="anchor">The interval phase: occurrences are anchor + k × interval (k ≥ 1 from creation on).</param>
    public static long? Next(ScheduleSpec spec, long anchor, long after)
    {
        if (spec.StartAt is { } start && after < start)
        {
            after = start - 1; // the start itself may be an occurrence
        }
        long? next;
        if (spec.IntervalSeconds is { } seconds)
        {
            var step = seconds * MicrosPerSecond;
            // Floor division: a past range (a backfill before the schedule existed) keeps the same phase.
            var k = Math.DivRem(after - anchor, step, out var rest) - (rest < 0 ? 1 : 0) + 1;
            next = anchor + k * step;
        }
        else
        {
            if (!TryParseCron(spec.Cron!, out var cron, out var problem))
            {
                throw new ArgumentException(problem, nameof(spec)); // specs are read through ScheduleSpecReader first
            }
            _ = TryFindZone(spec.Timezone, out var zone); // an unknown zone was refused on the way in; UTC otherwise
            var from = Timestamps.FromMicros(after);
            next = cron!.GetNextOccurrence(from, zone, inclusive: false) is { } at ? Timestamps.ToMicros(at) : null;
        }
        return next is { } n && spec.EndAt is { } end && n > end ? null : next;
    }

    /// <summary>Up to <paramref name="count"/> occurrences after <paramref name="after"/>, in order.</summary>
    public static IReadOnlyList<long> Upcoming(ScheduleSpec spec, long anchor, long after, int count)
    {
        var list = new List<long>(count);
        var at = after;
        while (list.Count < count && Next(spec, anchor, at) is { } next)
        {
            list.Add(next);
            at = next;
        }
        return list;
    }

    /// <summary>The occurrences in [<paramref name="from"/>, <paramref name="to"/>), oldest first, at most <paramref name="max"/>.</summary>
    public static IReadOnlyList<long> Between(ScheduleSpec spec, long anchor, long from, long to, int max)
    {
        var list = new List<long>();
        var at = from - 1;
        while (list.Count < max && Next(spec, anchor, at) is { } next && next < to)
        {
            list.Add(next);
            at = next;
        }
        return list;
    }

    /// <summary>
    /// When an occurrence actually fires: the occurrence plus a jitter in [0, jitter_seconds] derived from the
    /// schedule's name and the occurrence, so that every server computes the same instant.
    /// </summary>
    public static long DueAt(ScheduleSpec spec, long occurrence)
    {
        if (spec.JitterSeconds <= 0)
        {
            return occurrence;
        }
        var hash = 14695981039346656037UL; // FNV-1a 64: stable across processes, unlike string.GetHashCode
        foreach (var b in Encoding.UTF8.GetBytes($"{spec.Name}:{occurrence}"))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }
        return occurrence + (long)(hash % (ulong)(spec.JitterSeconds * MicrosPerSecond + 1));
    }

    /// <summary>The idempotency key of one occurrence: <c>schedule:&lt;name&gt;:&lt;epoch seconds&gt;</c>.</summary>
    public static string UniqueKey(string name, long occurrence) =>
        $"schedule:{name}:{Math.DivRem(occurrence, MicrosPerSecond).Quotient.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    /// <summary>The idempotency key of a manual trigger: <c>schedule:&lt;name&gt;:trigger:&lt;epoch microseconds&gt;</c>.</summary>
    public static string TriggerKey(string name, long now) =>
        $"schedule:{name}:trigger:{now.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
}
