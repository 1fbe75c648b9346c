using System.Globalization;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Costs;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>Costs (http-api.md §9): a workflow's total and budget, its cost lines, and analytics over a time range.</summary>
public static class CostsApi
{
    private const int MaxBudgetEvents = 50;
    private static readonly string[] GroupKinds = ["provider", "model", "definition", "day"];

    public static RouteGroupBuilder MapCostsApi(this RouteGroupBuilder api)
    {
        api.MapGet("/workflows/{id}/cost", GetWorkflowCost).WithTags("Costs").WithSummary("Cost of one workflow, by activity").Errors(404);
        api.MapGet("/workflows/{id}/cost/history", GetWorkflowCostHistory).WithTags("Costs").WithSummary("Cost lines of one workflow in time order").Errors(404);
        api.MapGet("/cost/analytics", GetAnalytics).WithTags("Costs").WithSummary("Cost totals over a date range, grouped")
            .Query(("start_date", "Date or RFC 3339 timestamp"), ("end_date", "Date or RFC 3339 timestamp"), ("group_by", "Grouping, e.g. provider, model, workflow"), ("limit", "1-10000"))
            .Errors(400);
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
        return Json.Result(new JsonObject
        {
            ["workflow_id"] = wf.Id,
            ["workflow_name"] = wf.Definition.Name,
            ["total_cost_usd"] = Json.Money(wf.TotalCost),
            ["budget_limit_usd"] = wf.BudgetLimit is { } limit ? Json.Money(limit) : null,
            ["budget_remaining_usd"] = wf.BudgetLimit is { } l ? Json.Money(Math.Max(l - wf.TotalCost, 0m)) : null,
            ["total_activities"] = lines.Count,
        });
    }

    public static async Task<IResult> GetWorkflowCostHistory(string id, IWorkflowStore store, CancellationToken cancellationToken)
    {
        if (await store.GetWorkflowStatusAsync(id, cancellationToken) is null)
        {
            return ApiErrors.NotFound($"Workflow {id} not found");
        }
        var lines = await store.GetCostLinesAsync(new CostLineQuery(id, null, null), cancellationToken);
        var list = new JsonArray();
        foreach (var stored in lines)
        {
            var line = stored.Line;
            list.Add(new JsonObject
            {
                ["activity_key"] = line.ActivityKey,
                ["attempt"] = line.Attempt,
                ["iteration"] = line.Iteration,
                ["cost_usd"] = Json.Money(line.CostUsd),
                ["prompt_tokens"] = line.Tokens.PromptTokens,
                ["output_tokens"] = line.Tokens.OutputTokens,
                ["total_tokens"] = line.Tokens.TotalTokens,
                ["cached_tokens"] = line.Tokens.CacheReadTokens,
                ["provider"] = line.Provider,
                ["model"] = line.Model,
                ["budget_limit_usd"] = line.BudgetLimitUsd is { } limit ? Json.Money(limit) : null,
                ["budget_exceeded"] = line.IsAbortMarker,
                ["budget_event"] = line.BudgetEvent,
                ["estimated_cost_usd"] = line.EstimatedCostUsd is { } estimate ? Json.Money(estimate) : null,
                ["created_at"] = Timestamps.Format(stored.CreatedAt),
            });
        }
        return Json.Result(list);
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
        var answer = new JsonObject
        {
            ["total_workflows"] = workflows,
            ["total_cost_usd"] = Json.Money(totalCost),
            ["avg_cost_per_activity"] = Json.Money(counted.Count == 0 ? 0m : totalCost / counted.Count),
            ["avg_cost_per_workflow"] = Json.Money(workflows == 0 ? 0m : totalCost / workflows),
            ["start_date"] = start.ToString("O", CultureInfo.InvariantCulture),
            ["end_date"] = end.ToString("O", CultureInfo.InvariantCulture),
            ["total_activities"] = counted.Count,
            ["total_tokens"] = counted.Sum(l => l.Line.Tokens.TotalTokens),
            ["cached_tokens"] = cachedTokens,
            ["cache_hit_rate"] = promptTokens == 0 ? null : Math.Round((double)cachedTokens / promptTokens, 6),
            ["budget_aborts"] = all.Count(l => l.Line.BudgetEvent == CostLine.Abort),
            ["budget_downgrades"] = all.Count(l => l.Line.BudgetEvent == CostLine.Downgrade),
            ["group_by"] = groupBy,
        };
        if (groupBy is not null)
        {
            answer["groups"] = Groups(counted, groupBy, limit);
        }
        answer["top_workflows"] = TopWorkflows(counted, limit);
        answer["top_definitions"] = TopDefinitions(counted, limit);
        var events = new JsonArray();
        foreach (var stored in all.Where(l => l.Line.BudgetEvent is not null).OrderByDescending(l => l.Seq).Take(MaxBudgetEvents))
        {
            events.Add(new JsonObject
            {
                ["workflow_id"] = stored.WorkflowId,
                ["definition_name"] = stored.DefinitionName,
                ["activity_key"] = stored.Line.ActivityKey,
                ["event"] = stored.Line.BudgetEvent,
                ["estimated_cost_usd"] = stored.Line.EstimatedCostUsd is { } e ? Json.Money(e) : null,
                ["budget_limit_usd"] = stored.Line.BudgetLimitUsd is { } b ? Json.Money(b) : null,
                ["created_at"] = Timestamps.Format(stored.CreatedAt),
            });
        }
        answer["budget_events"] = events;
        return Json.Result(answer);
    }

    private static JsonArray Groups(List<StoredCostLine> lines, string groupBy, int limit)
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
        var list = new JsonArray();
        foreach (var g in groups.Take(limit))
        {
            list.Add(new JsonObject
            {
                ["key"] = g.Key,
                ["total_cost_usd"] = Json.Money(g.Cost),
                ["activities"] = g.Lines.Count,
                ["workflows"] = g.Lines.Select(l => l.WorkflowId).Distinct(StringComparer.Ordinal).Count(),
                ["total_tokens"] = g.Lines.Sum(l => l.Line.Tokens.TotalTokens),
            });
        }
        return list;
    }

    private static JsonArray TopWorkflows(List<StoredCostLine> lines, int limit)
    {
        var list = new JsonArray();
        foreach (var g in lines.GroupBy(l => l.WorkflowId, StringComparer.Ordinal)
                     .Select(g => (First: g.First(), Cost: g.Sum(l => l.Line.CostUsd), Count: g.Count()))
                     .OrderByDescending(g => g.Cost).ThenBy(g => g.First.WorkflowId, StringComparer.Ordinal).Take(limit))
        {
            list.Add(new JsonObject
            {
                ["workflow_id"] = g.First.WorkflowId,
                ["definition_name"] = g.First.DefinitionName,
                ["status"] = g.First.WorkflowStatus,
                ["created_at"] = Timestamps.Format(g.First.WorkflowCreatedAt),
                ["total_cost_usd"] = Json.Money(g.Cost),
                ["activities"] = g.Count,
                ["budget_limit_usd"] = g.First.WorkflowBudgetLimit is { } b ? Json.Money(b) : null,
            });
        }
        return list;
    }

    private static JsonArray TopDefinitions(List<StoredCostLine> lines, int limit)
    {
        var list = new JsonArray();
        foreach (var g in lines.GroupBy(l => l.DefinitionName, StringComparer.Ordinal)
                     .Select(g => (Name: g.Key, Cost: g.Sum(l => l.Line.CostUsd), Workflows: g.Select(l => l.WorkflowId).Distinct(StringComparer.Ordinal).Count()))
                     .OrderByDescending(g => g.Cost).ThenBy(g => g.Name, StringComparer.Ordinal).Take(limit))
        {
            list.Add(new JsonObject
            {
                ["definition_name"] = g.Name,
                ["workflows"] = g.Workflows,
                ["total_cost_usd"] = Json.Money(g.Cost),
                ["avg_cost_per_workflow"] = Json.Money(g.Cost / g.Workflows),
            });
        }
        return list;
    }

    /// <summary>A date (<c>2026-03-01</c>, start of day UTC) or an RFC 3339 timestamp; <paramref name="fallback"/> when absent.</summary>
    private static bool TryTime(string? text, DateTimeOffset fallback, out DateTimeOffset value)
    {
        value = fallback;
        if (string.IsNullOrEmpty(text))
        {
            return true;
        }
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);
    }
}
