using Spindle.Core.Common;
using Spindle.Protocol;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>The items of a map activity (docs/api.md#map-items), a page at a time: a map may have 10,000.</summary>
public static class MapItemsApi
{
    public static RouteGroupBuilder MapMapItemsApi(this RouteGroupBuilder api)
    {
        api.MapGet("/workflows/{id}/activities/{key}/items", GetMapItems).WithTags("Workflows")
            .WithSummary("Items of a map activity (for_each), in item order")
            .Query(("offset", "Items to skip, default 0"), ("limit", "1-1000, default 100"))
            .Answers<MapItemList>(200, 404, 422);
        return api;
    }

    /// <summary>
    /// The activity of <paramref name="wf"/> keyed <paramref name="key"/>, or the map item so keyed (<c>map[index]</c>),
    /// which does not load with the workflow; null when there is neither.
    /// </summary>
    public static async Task<Spindle.Core.Orchestration.ActivityState?> FindActivityOrItemAsync(IWorkflowReader store,
        Spindle.Core.Orchestration.WorkflowState wf, string key, CancellationToken cancellationToken)
    {
        if (wf.Activities.TryGetValue(key, out var activity))
        {
            return activity;
        }
        var open = key.LastIndexOf('[');
        if (open <= 0 || !key.EndsWith(']') || wf.Definition.Find(key[..open])?.Map is null
            || !int.TryParse(key.AsSpan(open + 1, key.Length - open - 2), System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out var index))
        {
            return null;
        }
        var items = await store.GetMapItemsAsync(wf.Id, key[..open], index, 1, cancellationToken);
        return items.FirstOrDefault(i => i.Key == key);
    }

    public static async Task<IResult> GetMapItems(string id, string key, HttpRequest request, IWorkflowStore store,
        CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var offset = WorkflowsApi.QueryInt(request.Query["offset"], 0, 0, int.MaxValue, "offset", errors);
        var limit = WorkflowsApi.QueryInt(request.Query["limit"], 100, 1, 1000, "limit", errors);
        if (errors.Count > 0)
        {
            return ApiErrors.Validation(errors);
        }
        var wf = Ids.IsValid(id) ? await store.GetWorkflowAsync(id, cancellationToken) : null;
        if (wf is null)
        {
            return ApiErrors.NotFound($"Workflow {id} not found");
        }
        if (!wf.Activities.TryGetValue(key, out var map))
        {
            return ApiErrors.NotFound($"Activity '{key}' not found in workflow {id}");
        }
        if (wf.Definition.Find(key)?.Map is null)
        {
            return ApiErrors.NotFound($"Activity '{key}' is not a map (it has no for_each)");
        }
        var items = map.Map is null ? [] : await store.GetMapItemsAsync(id, key, offset, limit, cancellationToken);
        return Json.Result(new MapItemList
        {
            WorkflowId = id,
            ActivityKey = key,
            Total = map.Map?.Total ?? 0,
            Offset = offset,
            Limit = limit,
            Items = items.Select(a => new MapItemRecord
            {
                Index = a.MapIndex ?? 0,
                ActivityKey = a.Key,
                Item = a.MapItem?.DeepClone(),
                Status = a.Status,
                Outputs = WorkflowJson.OutputList(a),
                ErrorDetail = a.ErrorCode is null ? null : new ActivityErrorDetail { Code = a.ErrorCode, Message = a.ErrorMessage },
                Attempt = a.Attempt,
                CostUsd = Json.Money(a.Cost),
                StartedAt = Timestamps.Format(a.StartedAt),
                CompletedAt = Timestamps.Format(a.CompletedAt),
            }).ToList(),
        }, SpindleJsonContext.Default.MapItemList);
    }
}
