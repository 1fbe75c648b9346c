using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Protocol;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>
/// The result cache (docs/api.md). Entries live in Spindle's own database; keys read
/// <c>&lt;worker&gt;.&lt;activity_name&gt;:&lt;sha256&gt;</c> (see <see cref="Spindle.Core.Costs.ResultCacheKeys"/>).
/// </summary>
public static class CacheApi
{
    public static RouteGroupBuilder MapCacheApi(this RouteGroupBuilder api)
    {
        api.MapDelete("/cache/{key}", DeleteEntry).WithTags("Cache").WithSummary("Delete one result-cache entry")
            .Answers<CacheDeleteResponse>();
        api.MapPost("/cache/invalidate", Invalidate).WithTags("Cache").WithSummary("Delete result-cache entries matching a glob pattern")
            .JsonBody<CacheInvalidateRequest>().Answers<CacheDeleteResponse>(200, 400, 422);
        return api;
    }

    public static async Task<IResult> DeleteEntry(string key, IWorkflowStore store, CancellationToken cancellationToken)
    {
        var count = await store.DeleteCacheEntryAsync(key, cancellationToken);
        return Json.Result(new CacheDeleteResponse { Success = true, Count = count }, SpindleJsonContext.Default.CacheDeleteResponse);
    }

    public static async Task<IResult> Invalidate(HttpRequest request, IWorkflowStore store, CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        if (body!["pattern"] is not JsonValue p || p.GetValueKind() != JsonValueKind.String || p.GetValue<string>().Length == 0)
        {
            return ApiErrors.Validation("pattern", "pattern is required: a glob such as \"std.llm_prompt:*\" or \"*\"");
        }
        var invalidate = new CacheInvalidateRequest { Pattern = p.GetValue<string>() };
        var count = await store.InvalidateCacheAsync(invalidate.Pattern, cancellationToken);
        return Json.Result(new CacheDeleteResponse { Success = true, Count = count }, SpindleJsonContext.Default.CacheDeleteResponse);
    }
}
