using System.Text.Json.Nodes;

namespace Spindle.Core.Definitions;

// depends_on / dependency_of with their conditions, and the cross-activity checks that need every key: uniqueness,
// references, the fold of dependency_of into depends_on and the graph the loop analysis runs on.
internal sealed partial class DefinitionNormalizer
{
    private void Dependencies(JsonNode? node, string path, string conditionField, List<Edge> into)
    {
        if (node is null)
        {
            return;
        }
        var field = path[(path.LastIndexOf('.') + 1)..];
        if (node is not JsonArray arr)
        {
            Error(path, $"'{field}' must be a list of activity keys or {{activity_key, conditions}} objects, got {JsonUtil.Describe(node)}; write e.g. {field}: [fetch].");
            return;
        }
        for (var j = 0; j < arr.Count; j++)
        {
            var itemPath = $"{path}[{j}]";
            switch (arr[j])
            {
                case JsonValue v when JsonUtil.IsString(v, out var key):
                    into.Add(new Edge { ActivityKey = key, Conditions = [] });
                    break;
                case JsonObject o:
                    WarnUnknown(o, itemPath, EdgeKeys);
                    if (!JsonUtil.IsString(o["activity_key"], out var ak) || ak.Length == 0)
                    {
                        Error(itemPath + ".activity_key", o["activity_key"] is null
                            ? "'activity_key' is required in a dependency object: name the activity, e.g. {activity_key: fetch, conditions: [\"{{fetch.ok}}\"]}."
                            : $"'activity_key' must be a non-empty activity key (string), got {JsonUtil.Describe(o["activity_key"])}.");
                        continue;
                    }
                    var conditions = Conditions(o, ak, conditionField);
                    if (conditions is not null)
                    {
                        into.Add(new Edge { ActivityKey = ak, Conditions = conditions });
                    }
                    break;
                case var other:
                    Error(itemPath, $"A dependency must be an activity key (string) or an object {{activity_key, conditions}}, got {JsonUtil.Describe(other)}.");
                    break;
            }
        }
    }

    private List<string>? Conditions(JsonObject edge, string activityKey, string field)
    {
        var single = edge["condition"];
        var plural = edge["conditions"];
        if (single is not null && plural is not null)
        {
            Error(field, $"The dependency on '{activityKey}' gives both 'condition' and 'conditions'; use only one ('conditions' takes a string or a list of strings).");
            return null;
        }
        var given = single ?? plural;
        var name = single is not null ? "condition" : "conditions";
        switch (given)
        {
            case null:
                return [];
            case JsonValue v when JsonUtil.IsString(v, out var s):
                return [s];
            case JsonArray arr:
                var list = new List<string>();
                var ok = true;
                foreach (var c in arr)
                {
                    if (JsonUtil.IsString(c, out var cs))
                    {
                        list.Add(cs);
                    }
                    else
                    {
                        ok = false;
                        Error(field, $"Each condition of the dependency on '{activityKey}' must be a string template such as \"{{{{{activityKey}.status == 'completed'}}}}\", got {JsonUtil.Describe(c)}.");
                    }
                }
                return ok ? list : null;
            default:
                Error(field, $"'{name}' of the dependency on '{activityKey}' must be a string template such as \"{{{{{activityKey}.status == 'completed'}}}}\" or a list of them, got {JsonUtil.Describe(given)}.");
                return null;
        }
    }

    // ------------------------------------------------------------------------------------------------ cross-activity

    private void CheckKeysAndReferences(List<Draft> drafts)
    {
        var firstIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var d in drafts)
        {
            if (d.Key is null || !d.KeyValid)
            {
                continue;
            }
            if (firstIndex.TryGetValue(d.Key, out var first))
            {
                Error($"activities[{d.Index}].key", $"Duplicate activity key \"{d.Key}\" (also used by activities[{first}]); activity keys must be unique.");
            }
            else
            {
                firstIndex[d.Key] = d.Index;
            }
        }
        var known = new HashSet<string>(drafts.Where(d => d.Key is not null).Select(d => d.Key!), StringComparer.Ordinal);
        foreach (var d in drafts)
        {
            foreach (var e in d.DependsOn.Where(e => !known.Contains(e.ActivityKey)))
            {
                Error(d.Prefix + ".depends_on", $"Referenced activity not found: {e.ActivityKey}");
            }
            foreach (var e in d.DependencyOf.Where(e => !known.Contains(e.ActivityKey)))
            {
                Error(d.Prefix + ".dependency_of", $"Referenced activity not found: {e.ActivityKey}");
            }
        }
    }

    /// <summary>dependency_of moves to the target's depends_on; equal entries merge; sorted by activity_key.</summary>
    private static void FoldAndMerge(List<Draft> drafts)
    {
        var incoming = drafts.ToDictionary(d => d.Key!, d => new List<Edge>(d.DependsOn), StringComparer.Ordinal);
        foreach (var d in drafts)
        {
            foreach (var e in d.DependencyOf)
            {
                incoming[e.ActivityKey].Add(new Edge { ActivityKey = d.Key!, Conditions = e.Conditions });
            }
        }
        foreach (var d in drafts)
        {
            foreach (var e in incoming[d.Key!])
            {
                if (!d.Merged.Any(m => m.SameAs(e)))
                {
                    d.Merged.Add(new Edge { ActivityKey = e.ActivityKey, Conditions = [.. e.Conditions] });
                }
            }
            // List.Sort is unstable; order by (key, first appearance) explicitly.
            var ordered = d.Merged.Select((e, i) => (e, i))
                .OrderBy(x => x.e.ActivityKey, StringComparer.Ordinal).ThenBy(x => x.i)
                .Select(x => x.e).ToList();
            d.Merged.Clear();
            d.Merged.AddRange(ordered);
        }
    }

    /// <summary>The loop analysis graph: an edge D → A for every depends_on entry of A naming D.</summary>
    internal static List<LoopAnalyzer.GraphEdge> Graph(IReadOnlyList<string> keys, IReadOnlyList<IReadOnlyList<Edge>> dependsOn)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < keys.Count; i++)
        {
            index.TryAdd(keys[i], i);
        }
        var edges = new List<LoopAnalyzer.GraphEdge>();
        for (var a = 0; a < dependsOn.Count; a++)
        {
            for (var j = 0; j < dependsOn[a].Count; j++)
            {
                var e = dependsOn[a][j];
                if (index.TryGetValue(e.ActivityKey, out var from)) // always true for validated definitions
                {
                    edges.Add(new LoopAnalyzer.GraphEdge(from, a, j, e.Conditions.Count > 0));
                }
            }
        }
        return edges;
    }
}
