using System.Text.Json.Nodes;

namespace Spindle.Core.Definitions;

/// <summary>
/// An activity that runs a child workflow (docs/workflow-format.md#child-workflows): the definition
/// <see cref="Name"/> (at <see cref="Version"/>, else its latest), submitted with <see cref="Input"/> (a mapping whose
/// leaves may be templates, or one template that yields a mapping) when the activity becomes ready.
/// </summary>
public sealed record ChildWorkflow(string Name, string? Version, JsonNode Input)
{
    /// <summary>The child fields of a normalised activity, or null when it has no <c>workflow</c>.</summary>
    internal static ChildWorkflow? Read(JsonObject activity)
    {
        if (!JsonUtil.IsString(activity["workflow"], out var name))
        {
            return null;
        }
        var version = JsonUtil.IsString(activity["version"], out var v) ? v : null;
        return new ChildWorkflow(name, version, activity["input"]?.DeepClone() ?? new JsonObject());
    }
}
