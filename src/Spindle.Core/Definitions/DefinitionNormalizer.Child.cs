using System.Globalization;
using System.Text.Json.Nodes;

namespace Spindle.Core.Definitions;

// A child-workflow activity's fields (docs/workflow-format.md#child-workflows): workflow, version, input.
internal sealed partial class DefinitionNormalizer
{
    /// <summary>The child fields as normalised, or null when the activity runs no child (errors recorded under their paths).</summary>
    private JsonObject? Child(JsonObject activity, string path)
    {
        var workflow = activity["workflow"];
        if (workflow is null)
        {
            foreach (var field in (string[])["version", "input"])
            {
                if (activity[field] is not null)
                {
                    Error($"{path}.{field}", $"'{field}' only applies to a child workflow: add workflow: <definition name>, or remove {field}.");
                }
            }
            return null;
        }
        var child = new JsonObject();
        if (!JsonUtil.IsString(workflow, out var name) || name.Length == 0)
        {
            Error(path + ".workflow", $"'workflow' must be the name of a deployed workflow definition, got {JsonUtil.Describe(workflow)}.");
        }
        else if (name.Contains("{{", StringComparison.Ordinal) || name.Contains("{%", StringComparison.Ordinal))
        {
            Error(path + ".workflow", "'workflow' must name a definition literally; it is not a template.");
        }
        else
        {
            child["workflow"] = name;
        }
        foreach (var field in (string[])["worker", "activity_name", "parameters"])
        {
            if (activity[field] is not null)
            {
                Error($"{path}.{field}", $"'{field}' does not apply to a child workflow (no worker runs it): give the child's input as 'input' and remove {field}.");
            }
        }
        // A child is not claimed by a worker, so the claim's limits would never apply to it: refuse them rather than
        // ignore them. `priority` is meaningful (the child's activities queue at it) and is kept.
        foreach (var field in (string[])["concurrency", "rate_limit"])
        {
            if (activity[field] is not null)
            {
                Error($"{path}.{field}", $"'{field}' does not apply to a child workflow activity (no worker claims it): put it on the " +
                    (field == "concurrency"
                        ? "child definition instead (a top-level concurrency: {key, limit} limits its runs, or an activity's limits its activities)."
                        : "child definition's activities instead."));
            }
        }
        switch (activity["version"])
        {
            case null:
                break;
            case JsonValue v when JsonUtil.IsString(v, out var text) && text.Length > 0:
                child["version"] = text;
                break;
            case JsonValue v when JsonUtil.TryGetInteger(v, out var number) && number > 0:
                child["version"] = number.ToString(CultureInfo.InvariantCulture);
                break;
            case var other:
                Error(path + ".version", $"'version' must be a version of the child definition (a positive number or its version string), got {JsonUtil.Describe(other)}.");
                break;
        }
        switch (activity["input"])
        {
            case null:
                break;
            case JsonObject input:
                child["input"] = input.DeepClone();
                break;
            case JsonValue v when JsonUtil.IsString(v, out var text) && (text.Contains("{{", StringComparison.Ordinal) || text.Contains("{%", StringComparison.Ordinal)):
                child["input"] = text;
                break;
            case var other:
                Error(path + ".input", $"'input' must be a mapping (its leaves may be templates) or a template that yields one, got {JsonUtil.Describe(other)}.");
                break;
        }
        return child;
    }
}
