using System.Globalization;
using Spindle.Core.Common;
using Spindle.Core.Costs;
using Spindle.Protocol;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>
/// Spend over time (docs/api.md): cost per UTC day or hour, split by definition, model or provider; what the web
/// UI's costs chart draws. Budget abort markers cost nothing and are left out, as in the analytics.
/// </summary>
public static class CostSpendApi
{
    private const int MaxBuckets = 1000;
    private const int DefaultTop = 8;
    private static readonly string[] Buckets = ["day", "hour"];
    private static readonly string[] Dimensions = ["definition", "model", "provider"];

    public static RouteGroupBuilder MapCostSpendApi(this RouteGroupBuilder api)
    {
        api.MapGet("/cost/spend", GetSpend).WithTags("Costs").WithSummary("Spend per day or hour, by definition, model or provider")
            .Query(("bucket", "day (default) or hour, UTC"), ("by", "definition (default), model or provider"),
                ("start_date", "Date or RFC 3339 timestamp; default 30 days (day) or 48 hours (hour) before end_date"),
                ("end_date", "Date or RFC 3339 timestamp; default now"), ("top", "Keys listed separately, 1-50 (default 8); the rest is other"))
            .Answers<CostSpend>(200, 400);
        return api;
    }

    public static async Task<IResult> GetSpend(HttpRequest request, IWorkflowReader store, CancellationToken cancellationToken)
    {
        var bucket = request.Query["bucket"].ToString() is { Length: > 0 } b ? b : "day";
        if (!Buckets.Contains(bucket, StringComparer.Ordinal))
        {
            return ApiErrors.BadRequest($"bucket must be one of {string.Join(", ", Buckets)}; got '{bucket}'");
        }
        var by = request.Query["by"].ToString() is { Length: > 0 } d ? d : "definition";
        if (!Dimensions.Contains(by, StringComparer.Ordinal))
        {
            return ApiErrors.BadRequest($"by must be one of {string.Join(", ", Dimensions)}; got '{by}'");
        }
        var top = DefaultTop;
        if (request.Query["top"].ToString() is { Length: > 0 } topText
            && (!int.TryParse(topText, NumberStyles.Integer, CultureInfo.InvariantCulture, out top) || top is < 1 or > 50))
        {
            return ApiErrors.BadRequest("top must be an integer from 1 to 50");
        }
        var step = bucket == "day" ? TimeSpan.FromDays(1) : TimeSpan.FromHours(1);
        var now = DateTimeOffset.UtcNow;
        if (!CostsApi.TryTime(request.Query["end_date"], now, out var end)
            || !CostsApi.TryTime(request.Query["start_date"], SafeSubtract(end, bucket == "day" ? TimeSpan.FromDays(30) : TimeSpan.FromHours(48)), out var start))
        {
            return ApiErrors.BadRequest("start_date and end_date must be dates or RFC 3339 timestamps, e.g. 2026-03-01 or 2026-03-01T10:00:00Z");
        }
        if (start > end)
        {
            return ApiErrors.BadRequest("start_date must not be after end_date");
        }
        var first = Floor(start, step);
        // The bucket holding end_date is included whole, so the last bar is not cut short.
        var last = Floor(end, step);
        var count = (long)((last - first).Ticks / step.Ticks) + 1;
        if (count > MaxBuckets)
        {
            return ApiErrors.BadRequest($"The range holds {count} {bucket} buckets; at most {MaxBuckets} fit in one answer (narrow the dates or use bucket=day)");
        }
        var to = DateTimeOffset.MaxValue - last < step ? DateTimeOffset.MaxValue : last + step;
        var lines = await store.GetCostLinesAsync(new CostLineQuery(null, Timestamps.ToMicros(first), Timestamps.ToMicros(to) - 1), cancellationToken);
        Func<StoredCostLine, string> key = by switch
        {
            "provider" => l => l.Line.Provider ?? "unknown",
            "model" => l => l.Line.Model is { } m ? ModelIds.Join(l.Line.Provider ?? "unknown", m) : "unknown",
            _ => l => l.DefinitionName,
        };
        var counted = lines.Where(l => !l.Line.IsAbortMarker).ToList();
        var series = counted.GroupBy(key, StringComparer.Ordinal).Select(g => (Key: g.Key, Cost: g.Sum(l => l.Line.CostUsd)))
            .OrderByDescending(g => g.Cost).ThenBy(g => g.Key, StringComparer.Ordinal).Take(top).ToList();
        var named = series.Select(s => s.Key).ToHashSet(StringComparer.Ordinal);
        var perBucket = counted.GroupBy(l => (Timestamps.FromMicros(l.CreatedAt) - first).Ticks / step.Ticks).ToDictionary(g => g.Key, g => g.ToList());
        var buckets = new List<SpendBucket>((int)count);
        for (var i = 0L; i < count; i++)
        {
            var inBucket = perBucket.GetValueOrDefault(i) ?? [];
            buckets.Add(new SpendBucket
            {
                Start = Timestamps.Format(Timestamps.ToMicros(first + step * i)),
                TotalCostUsd = Json.Money(inBucket.Sum(l => l.Line.CostUsd)),
                Costs = inBucket.Where(l => named.Contains(key(l))).GroupBy(key, StringComparer.Ordinal)
                    .OrderBy(g => series.FindIndex(s => s.Key == g.Key))
                    .Select(g => new SpendPoint { Key = g.Key, CostUsd = Json.Money(g.Sum(l => l.Line.CostUsd)) }).ToList(),
                OtherCostUsd = Json.Money(inBucket.Where(l => !named.Contains(key(l))).Sum(l => l.Line.CostUsd)),
            });
        }
        var total = counted.Sum(l => l.Line.CostUsd);
        return Json.Result(new CostSpend
        {
            Bucket = bucket,
            By = by,
            StartDate = Timestamps.Format(Timestamps.ToMicros(first)),
            EndDate = Timestamps.Format(Timestamps.ToMicros(to)),
            TotalCostUsd = Json.Money(total),
            Series = series.Select(s => new SpendSeries { Key = s.Key, TotalCostUsd = Json.Money(s.Cost) }).ToList(),
            OtherCostUsd = Json.Money(total - series.Sum(s => s.Cost)),
            Buckets = buckets,
        }, SpindleJsonContext.Default.CostSpend);
    }

    private static DateTimeOffset Floor(DateTimeOffset value, TimeSpan step) =>
        new(value.UtcTicks - value.UtcTicks % step.Ticks, TimeSpan.Zero);

    private static DateTimeOffset SafeSubtract(DateTimeOffset value, TimeSpan span) =>
        value - DateTimeOffset.MinValue > span ? value - span : DateTimeOffset.MinValue;
}
