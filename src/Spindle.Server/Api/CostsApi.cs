using System.Globalization;
using Spindle.Core.Common;
using Spindle.Core.Costs;
using Spindle.Protocol;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>Costs (docs/api.md): a workflow's total and budget, its cost lines, and analytics over a time range.</summary>
public static class CostsApi
{
    private const int MaxBudgetEvents = 50;
    private static readonly string[] GroupKinds = ["provider", "model", "definition", "day"];

    public static RouteGroupBuilder MapCostsApi(this RouteGroupBuilder api)
    {
        api.MapGet("/workflows/{id}/cost", GetWorkflowCost).WithTags("Costs").WithSummary("Cost of one workflow, by activity")
            .Answers<WorkflowCost>(200, 404);
        api.MapGet("/workflows/{id}/cost/history", GetWorkflowCostHistory).WithTags("Costs").WithSummary("Cost lines of one workflow in time order")
            .Answers<List<CostHistoryLine>>(200, 404);
        api.MapGet("/cost/analytics", GetAnalytics).WithTags("Costs").WithSummary("Cost totals over a date range, grouped")
            .Query(("start_date", "Date or RFC 3339 timestamp"), ("end_date", "Date or RFC 3339 timestamp"), ("group_by", "Grouping, e.g. provider, model, workflow"), ("limit", "1-10000"))
            .Answers<CostAnalytics>(200, 400);
        return api;
    }

    public static async Task<IResult> GetWorkflowCost(string id, IWorkflowStore store, CancellationToken cancellationToken)
    {
        var wf = await store.GetWorkflowAsync(id, cancellationToken);
        if (wf is null)
        {
            return ApiErrors.NotFound($"Workflow {id} not found");
        }
        var lines = await store.GetCostLinesAsync(new CostLineQuery(id, null, null), cancellationToken);
        return Json.Result(new WorkflowCost
        {
            WorkflowId = wf.Id,
            WorkflowName = wf.Definition.Name,
            TotalCostUsd = Json.Money(wf.TotalCost),
            BudgetLimitUsd = wf.BudgetLimit is { } limit ? Json.Money(limit) : null,
            BudgetRemainingUsd = wf.BudgetLimit is { } l ? Json.Money(Math.Max(l - wf.TotalCost, 0m)) : null,
            TotalActivities = lines.Count,
        }, SpindleJsonContext.Default.WorkflowCost);
    }

    public static async Task<IResult> GetWorkflowCostHistory(string id, IWorkflowStore store, CancellationToken cancellationToken)
    {
        if (await store.GetWorkflowStatusAsync(id, cancellationToken) is null)
        {
            return ApiErrors.NotFound($"Workflow {id} not found");
        }
        var lines = await store.GetCostLinesAsync(new CostLineQuery(id, null, null), cancellationToken);
        var list = new List<CostHistoryLine>(lines.Count);
        foreach (var stored in lines)
        {
            var line = stored.Line;
            list.Add(new CostHistoryLine
            {
                ActivityKey = line.ActivityKey,
                Attempt = line.Attempt,
                Iteration = line.Iteration,
                CostUsd = Json.Money(line.CostUsd),
                PromptTokens = line.Tokens.PromptTokens,
                OutputTokens = line.Tokens.OutputTokens,
                TotalTokens = line.Tokens.TotalTokens,
                CachedTokens = line.Tokens.CacheReadTokens,
                Provider = line.Provider,
                Model = line.Model,
                BudgetLimitUsd = line.BudgetLimitUsd is { } limit ? Json.Money(limit) : null,
                BudgetExceeded = line.IsAbortMarker,
                BudgetEvent = line.BudgetEvent,
                EstimatedCostUsd = line.EstimatedCostUsd is { } estimate ? Json.Money(estimate) : null,
                CreatedAt = Timestamps.Format(stored.CreatedAt),
            });
        }
        return Json.Result(list, SpindleJsonContext.Default.ListCostHistoryLine);
    }

    public static async Task<IResult> GetAnalytics(HttpRequest request, IWorkflowStore store, CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        // The default window is the 30 days before end_date, clamped so that an end_date near year 1 cannot underflow.
        if (!TryTime(request.Query["end_date"], now, out var end)
            || !TryTime(request.Query["start_date"], end - DateTimeOffset.MinValue > TimeSpan.FromDays(30) ? end.AddDays(-30) : DateTimeOffset.MinValue, out var start))
        {
            return ApiErrors.BadRequest("start_date and end_date must be dates or RFC 3339 timestamps, e.g. 2026-03-01 or 2026-03-01T10:00:00Z");
        }
        if (start > end)
        {
            return ApiErrors.BadRequest("start_date must not be after end_date");
        }
        string? groupBy = request.Query["group_by"];
        if (groupBy is not null && !GroupKinds.Contains(groupBy, StringComparer.Ordinal))
        {
            return ApiErrors.BadRequest($"group_by must be one of {string.Join(", ", GroupKinds)}; got '{groupBy}'");
        }
        var limit = 10;
        if (request.Query["limit"].ToString() is { Length: > 0 } limitText
            && (!int.TryParse(limitText, NumberStyles.Integer, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 10_000))
        {
            return ApiErrors.BadRequest("limit must be an integer from 1 to 10000");
        }

        var all = await store.GetCostLinesAsync(new CostLineQuery(null, Timestamps.ToMicros(start), Timestamps.ToMicros(end)), cancellationToken);
        var counted = all.Where(l => !l.Line.IsAbortMarker).ToList();
        var totalCost = counted.Sum(l => l.Line.CostUsd);
        var workflows = counted.Select(l => l.WorkflowId).Distinct(StringComparer.Ordinal).Count();
        var promptTokens = counted.Sum(l => l.Line.Tokens.PromptTokens);
        var cachedTokens = counted.Sum(l => l.Line.Tokens.CacheReadTokens);
        var events = all.Where(l => l.Line.BudgetEvent is not null).OrderByDescending(l => l.Seq).Take(MaxBudgetEvents)
            .Select(stored => new BudgetEventLine
            {
                WorkflowId = stored.WorkflowId,
                DefinitionName = stored.DefinitionName,
                ActivityKey = stored.Line.ActivityKey,
                Event = stored.Line.BudgetEvent!,
                EstimatedCostUsd = stored.Line.EstimatedCostUsd is { } e ? Json.Money(e) : null,
                BudgetLimitUsd = stored.Line.BudgetLimitUsd is { } b ? Json.Money(b) : null,
                CreatedAt = Timestamps.Format(stored.CreatedAt),
            }).ToList();
        return Json.Result(new CostAnalytics
        {
            TotalWorkflows = workflows,
            TotalCostUsd = Json.Money(totalCost),
            AvgCostPerActivity = Json.Money(counted.Count == 0 ? 0m : totalCost / counted.Count),
            AvgCostPerWorkflow = Json.Money(workflows == 0 ? 0m : totalCost / workflows),
            StartDate = start.ToString("O", CultureInfo.InvariantCulture),
            EndDate = end.ToString("O", CultureInfo.InvariantCulture),
            TotalActivities = counted.Count,
            TotalTokens = counted.Sum(l => l.Line.Tokens.TotalTokens),
            CachedTokens = cachedTokens,
            CacheHitRate = promptTokens == 0 ? null : Math.Round((double)cachedTokens / promptTokens, 6),
            BudgetAborts = all.Count(l => l.Line.BudgetEvent == CostLine.Abort),
            BudgetDowngrades = all.Count(l => l.Line.BudgetEvent == CostLine.Downgrade),
            GroupBy = groupBy,
            Groups = groupBy is null ? null : Groups(counted, groupBy, limit),
            TopWorkflows = TopWorkflows(counted, limit),
            TopDefinitions = TopDefinitions(counted, limit),
            BudgetEvents = events,
        }, SpindleJsonContext.Default.CostAnalytics);
    }

    private static List<CostGroup> Groups(List<StoredCostLine> lines, string groupBy, int limit)
    {
        Func<StoredCostLine, string> key = groupBy switch
        {
            "provider" => l => l.Line.Provider ?? "unknown",
            "model" => l => l.Line.Model is { } m ? ModelIds.Join(l.Line.Provider ?? "unknown", m) : "unknown",
            "definition" => l => l.DefinitionName,
            _ => l => Timestamps.FromMicros(l.CreatedAt).UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        };
        var groups = lines.GroupBy(key, StringComparer.Ordinal)
            .Select(g => (Key: g.Key, Cost: g.Sum(l => l.Line.CostUsd), Lines: g.ToList()));
        groups = groupBy == "day" ? groups.OrderBy(g => g.Key, StringComparer.Ordinal) : groups.OrderByDescending(g => g.Cost).ThenBy(g => g.Key, StringComparer.Ordinal);
        return groups.Take(limit).Select(g => new CostGroup
        {
            Key = g.Key,
            TotalCostUsd = Json.Money(g.Cost),
            Activities = g.Lines.Count,
            Workflows = g.Lines.Select(l => l.WorkflowId).Distinct(StringComparer.Ordinal).Count(),
            TotalTokens = g.Lines.Sum(l => l.Line.Tokens.TotalTokens),
        }).ToList();
    }

    private static List<WorkflowCostTotal> TopWorkflows(List<StoredCostLine> lines, int limit)
    {
        var list = new List<WorkflowCostTotal>();
        foreach (var g in lines.GroupBy(l => l.WorkflowId, StringComparer.Ordinal)
                     .Select(g => (First: g.First(), Cost: g.Sum(l => l.Line.CostUsd), Count: g.Count()))
                     .OrderByDescending(g => g.Cost).ThenBy(g => g.First.WorkflowId, StringComparer.Ordinal).Take(limit))
        {
            list.Add(new WorkflowCostTotal
            {
                WorkflowId = g.First.WorkflowId,
                DefinitionName = g.First.DefinitionName,
                Status = g.First.WorkflowStatus,
                CreatedAt = Timestamps.Format(g.First.WorkflowCreatedAt),
                TotalCostUsd = Json.Money(g.Cost),
                Activities = g.Count,
                BudgetLimitUsd = g.First.WorkflowBudgetLimit is { } b ? Json.Money(b) : null,
            });
        }
        return list;
    }

    private static List<DefinitionCostTotal> TopDefinitions(List<StoredCostLine> lines, int limit)
    {
        var list = new List<DefinitionCostTotal>();
        foreach (var g in lines.GroupBy(l => l.DefinitionName, StringComparer.Ordinal)
                     .Select(g => (Name: g.Key, Cost: g.Sum(l => l.Line.CostUsd), Workflows: g.Select(l => l.WorkflowId).Distinct(StringComparer.Ordinal).Count()))
                     .OrderByDescending(g => g.Cost).ThenBy(g => g.Name, StringComparer.Ordinal).Take(limit))
        {
            list.Add(new DefinitionCostTotal
            {
                DefinitionName = g.Name,
                Workflows = g.Workflows,
                TotalCostUsd = Json.Money(g.Cost),
                AvgCostPerWorkflow = Json.Money(g.Cost / g.Workflows),
            });
        }
        return list;
    }

    /// <summary>A date (<c>2026-03-01</c>, start of day UTC) or an RFC 3339 timestamp; <paramref name="fallback"/> when absent.</summary>
    internal static bool TryTime(string? text, DateTimeOffset fallback, out DateTimeOffset value)
    {
        value = fallback;
        if (string.IsNullOrEmpty(text))
        {
            return true;
        }
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);
    }
}
