using Spindle.Core.Common;
using Spindle.Core.Definitions;
using Spindle.Protocol;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>Workflow definitions (docs/api.md).</summary>
public static class DefinitionsApi
{
    public static RouteGroupBuilder MapDefinitionsApi(this RouteGroupBuilder api)
    {
        api.MapPost("/workflow_definitions", DeployDefinition).WithTags("Definitions").WithSummary("Deploy a workflow definition (YAML or JSON body); unchanged content keeps its version")
            .Body(typeof(string), "application/yaml", "application/json").Answers<DeployDefinitionResponse>(201, 400, 422);
        api.MapGet("/workflow_definitions", ListDefinitions).WithTags("Definitions").WithSummary("List deployed definitions with their latest versions")
            .Answers<DefinitionList>();
        api.MapGet("/workflow_definitions/{name}", GetDefinition).WithTags("Definitions").WithSummary("Get a definition (the latest version, or ?version=)")
            .Answers<DefinitionDetail>(200, 400, 404);
        return api;
    }

    public static async Task<IResult> DeployDefinition(HttpRequest request, IWorkflowStore store, CancellationToken cancellationToken)
    {
        var text = await RequestBody.ReadTextAsync(request, cancellationToken);
        return await DeployTextAsync(text, store, cancellationToken);
    }

    /// <summary>Shared with the Kruxia Flow client alias (a definition POSTed to /workflows).</summary>
    public static async Task<IResult> DeployTextAsync(string text, IWorkflowStore store, CancellationToken cancellationToken)
    {
        var parsed = DefinitionParser.Parse(text);
        if (!parsed.IsValid)
        {
            return ApiErrors.Validation(parsed.FieldErrors);
        }
        var declared = DefinitionSchedules.Parse(text, parsed.Definition!.Name);
        if (declared.Errors.Count > 0)
        {
            return ApiErrors.Validation(declared.Errors);
        }
        var outcome = await store.DeployAsync(parsed.Definition!, cancellationToken);
        var schedules = store is IScheduleStore scheduleStore
            ? await scheduleStore.SyncDeclaredSchedulesAsync(outcome.Name, declared.Specs, cancellationToken)
            : null;
        if (schedules is { Status: StoreStatus.Conflict })
        {
            return ApiErrors.Conflict($"The definition was deployed (version {outcome.Version}) but its schedules were not: {schedules.Message}");
        }
        return Json.Result(new DeployDefinitionResponse
        {
            Name = outcome.Name,
            Version = outcome.Version,
            CreatedAt = Timestamps.Format(outcome.CreatedAt),
            Unchanged = outcome.Unchanged ? true : null, // present only when true
            Schedules = schedules is { } synced && synced.Created.Count + synced.Updated.Count + synced.Disabled.Count > 0
                ? new DeclaredSchedulesChange { Created = synced.Created, Updated = synced.Updated, Disabled = synced.Disabled }
                : null,
            Warnings = parsed.Warnings.Count > 0 ? parsed.Warnings : null,
        }, SpindleJsonContext.Default.DeployDefinitionResponse, outcome.Unchanged ? 200 : 201);
    }

    public static async Task<IResult> ListDefinitions(IWorkflowStore store, CancellationToken cancellationToken)
    {
        var all = await store.ListDefinitionsAsync(cancellationToken);
        var list = all.Select(d => new DefinitionListItem
        {
            Name = d.Name,
            Version = d.Version,
            ActivityCount = d.ActivityCount,
            CreatedAt = Timestamps.Format(d.CreatedAt),
        }).ToList();
        return Json.Result(new DefinitionList { Definitions = list, Total = all.Count }, SpindleJsonContext.Default.DefinitionList);
    }

    public static async Task<IResult> GetDefinition(string name, string? version, IWorkflowStore store, CancellationToken cancellationToken)
    {
        if (version is not null && !DefinitionVersions.TryParse(version, out _))
        {
            return ApiErrors.BadRequest($"Invalid version '{version}': expected YYYYmmdd.HHMMSS.uuuuuu, e.g. 20260301.143022.123456");
        }
        var stored = await store.GetDefinitionAsync(name, version, cancellationToken);
        if (stored is null)
        {
            return ApiErrors.NotFound(version is null
                ? $"Workflow definition '{name}' not found"
                : $"Workflow definition '{name}' version {version} not found");
        }
        return Json.Result(new DefinitionDetail
        {
            Name = stored.Name,
            Version = stored.Version,
            Activities = stored.Definition.NormalizedJson["activities"],
            Settings = stored.Definition.NormalizedJson["settings"],
            CreatedAt = Timestamps.Format(stored.CreatedAt),
        }, SpindleJsonContext.Default.DefinitionDetail);
    }
}
