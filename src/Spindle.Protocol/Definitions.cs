using System.ComponentModel;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Spindle.Protocol;

// Workflow definitions (docs/api.md). A definition itself is the user's document (YAML or JSON), so it travels
// as JSON nodes in its normalized form.

[Description("The version stored for a deployed definition (YAML or JSON request body).")]
public sealed record DeployDefinitionResponse
{
    public required string Name { get; init; }

    public required string Version { get; init; }

    public required string CreatedAt { get; init; }

    [Description("Present (true) when the content matched the latest version, which was kept.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? Unchanged { get; init; }

    [Description("The schedules the definition declares that this deploy created, updated or disabled (present when any).")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DeclaredSchedulesChange? Schedules { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Warnings { get; init; }
}

/// <summary>What a deploy did to the schedules its definition declares (<c>schedules:</c>), by name.</summary>
public sealed record DeclaredSchedulesChange
{
    public required IReadOnlyList<string> Created { get; init; }

    public required IReadOnlyList<string> Updated { get; init; }

    public required IReadOnlyList<string> Disabled { get; init; }
}

public sealed record DefinitionListItem
{
    public required string Name { get; init; }

    public required string Version { get; init; }

    public required int ActivityCount { get; init; }

    public required string CreatedAt { get; init; }
}

public sealed record DefinitionList
{
    public required IReadOnlyList<DefinitionListItem> Definitions { get; init; }

    public required int Total { get; init; }
}

[Description("One version of a definition in its normalized form.")]
public sealed record DefinitionDetail
{
    public required string Name { get; init; }

    public required string Version { get; init; }

    public required JsonNode? Activities { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonNode? Settings { get; init; }

    public required string CreatedAt { get; init; }
}
