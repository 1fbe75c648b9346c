using System.Text.Json.Nodes;

namespace Spindle.Core.Definitions;

/// <summary>
/// A map activity (docs/workflow-format.md#maps): it runs once per item of <see cref="ForEach"/> (a template string
/// or a list whose leaves may be templates), at most <see cref="MaxParallel"/> items at a time.
/// </summary>
public sealed record MapSettings(JsonNode ForEach, int? MaxParallel, bool ContinueOnFailure)
{
    /// <summary>The most items one map may have; a longer list fails the activity with FOR_EACH_TOO_LARGE.</summary>
    public const int MaxItems = 10_000;

    /// <summary>The map fields of a normalised activity, or null when it has no <c>for_each</c>.</summary>
    internal static MapSettings? Read(JsonObject activity)
    {
        if (activity["for_each"] is not { } forEach)
        {
            return null;
        }
        int? maxParallel = JsonUtil.TryGetInteger(activity["max_parallel"], out var mp) ? (int)Math.Clamp(mp, 1, MaxItems) : null;
        var continueOnFailure = JsonUtil.IsBool(activity["continue_on_failure"], out var cf) && cf;
        return new MapSettings(forEach.DeepClone(), maxParallel, continueOnFailure);
    }
}
