using System.Text.Json.Nodes;

namespace Spindle.Core.Definitions;

// A map activity's fields (docs/workflow-format.md#maps): for_each, max_parallel, continue_on_failure.
internal sealed partial class DefinitionNormalizer
{
    /// <summary>Upper bound of <c>max_parallel</c>: as many items as a map may have.</summary>
    private const int MaxParallelLimit = MapSettings.MaxItems;

    /// <summary>The map fields as normalised, or null when the activity is no map (errors recorded under their paths).</summary>
    private JsonObject? Map(JsonObject activity, string path)
    {
        var forEach = activity["for_each"];
        var maxParallel = Integer(activity["max_parallel"], path + ".max_parallel", 1);
        var continueOnFailure = Bool(activity["continue_on_failure"], path + ".continue_on_failure");
        if (forEach is null)
        {
            if (activity["max_parallel"] is not null)
            {
                Error(path + ".max_parallel", "'max_parallel' only applies to a map: add for_each: \"{{…}}\" (a template that yields a list), or remove max_parallel.");
            }
            if (activity["continue_on_failure"] is not null)
            {
                Error(path + ".continue_on_failure", "'continue_on_failure' only applies to a map: add for_each: \"{{…}}\" (a template that yields a list), or remove continue_on_failure.");
            }
            return null;
        }
        switch (forEach)
        {
            case JsonValue v when JsonUtil.IsString(v, out var text):
                if (!text.Contains("{{", StringComparison.Ordinal) && !text.Contains("{%", StringComparison.Ordinal))
                {
                    Error(path + ".for_each", $"'for_each' must be a template that yields a list, such as \"{{{{search.result.hits}}}}\", or a list; got the plain string \"{text}\".");
                    return null;
                }
                break;
            case JsonArray:
                break;
            default:
                Error(path + ".for_each", $"'for_each' must be a template that yields a list, such as \"{{{{search.result.hits}}}}\", or a list; got {JsonUtil.Describe(forEach)}.");
                return null;
        }
        if (forEach is JsonArray literal && literal.Count > MapSettings.MaxItems)
        {
            Error(path + ".for_each", $"'for_each' may list at most {MapSettings.MaxItems} items, got {literal.Count}.");
        }
        if (maxParallel > MaxParallelLimit)
        {
            Error(path + ".max_parallel", $"'max_parallel' must be at most {MaxParallelLimit} (the most items a map may have), got {maxParallel}.");
        }
        var map = new JsonObject { ["for_each"] = forEach.DeepClone() };
        if (maxParallel is { } mp)
        {
            map["max_parallel"] = mp;
        }
        if (continueOnFailure is { } cf)
        {
            map["continue_on_failure"] = cf;
        }
        return map;
    }
}
