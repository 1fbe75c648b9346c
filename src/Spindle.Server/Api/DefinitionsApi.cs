using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Definitions;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>Workflow definitions (http-api.md §7).</summary>
public static class DefinitionsApi
{
    public static RouteGroupBuilder MapDefinitionsApi(this RouteGroupBuilder api)
    {
        api.MapPost("/workflow_definitions", DeployDefinition).WithTags("Definitions").WithSummary("Deploy a workflow definition (YAML or JSON body); unchanged content keeps its version")
            .Body(typeof(string), "application/yaml", "application/json").Answers<DeployDefinitionResponse>(201, 400, 422);
        api.MapGet("/workflow_definitions", ListDefinitions).WithTags("Definitions").WithSummary("List deployed definitions with their latest versions");
        api.MapGet("/workflow_definitions/{name}", GetDefinition).WithTags("Definitions").WithSummary("Get a definition (the latest version, or ?version=)").Errors(400, 404);
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
        var body = new JsonObject
        {
            ["name"] = outcome.Name,
            ["version"] = outcome.Version,
            ["created_at"] = Timestamps.Format(outcome.CreatedAt),
        };
        if (outcome.Unchanged)
        {
            body["unchanged"] = true;
        }
        if (schedules is { } synced && synced.Created.Count + synced.Updated.Count + synced.Disabled.Count > 0)
        {
            body["schedules"] = new JsonObject
            {
                ["created"] = new JsonArray(synced.Created.Select(n => (JsonNode)n).ToArray()),
                ["updated"] = new JsonArray(synced.Updated.Select(n => (JsonNode)n).ToArray()),
                ["disabled"] = new JsonArray(synced.Disabled.Select(n => (JsonNode)n).ToArray()),
            };
        }
        if (parsed.Warnings.Count > 0)
        {
            body["warnings"] = new JsonArray(parsed.Warnings.Select(w => (JsonNode)w).ToArray());
        }
        return Json.Result(body, outcome.Unchanged ? 200 : 201);
    }

    public static async Task<IResult> ListDefinitions(IWorkflowStore store, CancellationToken cancellationToken)
    {
        var all = await store.ListDefinitionsAsync(cancellationToken);
        var list = new JsonArray();
        foreach (var d in all)
        {
            list.Add(new JsonObject
            {
                ["name"] = d.Name,
                ["version"] = d.Version,
                ["activity_count"] = d.ActivityCount,
                ["created_at"] = Timestamps.Format(d.CreatedAt),
            });
        }
        return Json.Result(new JsonObject { ["definitions"] = list, ["total"] = all.Count });
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
        var body = new JsonObject
        {
            ["name"] = stored.Name,
            ["version"] = stored.Version,
            ["activities"] = stored.Definition.NormalizedJson["activities"]?.DeepClone(),
        };
        if (stored.Definition.NormalizedJson["settings"] is { } settings)
        {
            body["settings"] = settings.DeepClone();
        }
        body["created_at"] = Timestamps.Format(stored.CreatedAt);
        return Json.Result(body);
    }
}
