using System.Text.Json.Nodes;

namespace Spindle.Core.Maps;

/// <summary>
/// The counts a map keeps on its own row while its items run (docs/architecture.md#maps). Items start in list order,
/// so <see cref="Next"/> is both how many started and the index of the next one; <c>Next − Done</c> are in flight.
/// The item rows hold everything else; this stays a few numbers however long the list is.
/// </summary>
public sealed class MapProgress
{
    public MapProgress(int total) => Total = total;

    public int Total { get; }

    /// <summary>Items started so far; the next to start has this index.</summary>
    public int Next { get; set; }

    /// <summary>Items that reached a terminal status.</summary>
    public int Done { get; set; }

    /// <summary>Of <see cref="Done"/>, those that did not complete (failed or cancelled).</summary>
    public int Failed { get; set; }

    /// <summary>The items that did not complete (<c>{index, key, status, error_code, error_message}</c>), once the map finished.</summary>
    public JsonArray? Failures { get; set; }

    /// <summary>Set while the store collects the items' outputs in this transaction; never stored.</summary>
    internal bool Collecting { get; set; }

    /// <summary>The last item walked was one a retry kept (no work, no slot): load the next ones in larger windows
    /// than <c>max_parallel</c>. Never stored.</summary>
    internal bool WalkingKept { get; set; }

    public int InFlight => Next - Done;

    /// <summary>
    /// The round (iteration) and a hash of the <c>for_each</c> list this progress counts. A workflow retry that
    /// expands the map again in the same round to the same list keeps the items that completed
    /// (docs/workflow-format.md#maps).
    /// </summary>
    public int Iteration { get; init; }

    public string? ListHash { get; init; }

    /// <summary>What templates read as <c>key.map</c> and the API shows as the activity's <c>map</c>.</summary>
    public JsonObject ToView() => new()
    {
        ["total"] = Total,
        ["started"] = Next,
        ["completed"] = Done - Failed,
        ["failed"] = Failed,
        ["running"] = Next - Done,
        ["failures"] = Failures?.DeepClone() ?? new JsonArray(),
    };

    /// <summary>The stored form (the <c>map_state</c> column).</summary>
    public string ToJson()
    {
        var o = new JsonObject { ["total"] = Total, ["next"] = Next, ["done"] = Done, ["failed"] = Failed, ["iteration"] = Iteration };
        if (ListHash is not null)
        {
            o["list_hash"] = ListHash;
        }
        if (Failures is not null)
        {
            o["failures"] = Failures.DeepClone();
        }
        return o.ToJsonString();
    }

    public static MapProgress? Parse(string? json)
    {
        if (json is null || JsonNode.Parse(json) is not JsonObject o)
        {
            return null;
        }
        return new MapProgress(Int(o["total"]))
        {
            Next = Int(o["next"]),
            Done = Int(o["done"]),
            Failed = Int(o["failed"]),
            Failures = o["failures"]?.DeepClone() as JsonArray,
            Iteration = Int(o["iteration"]),
            ListHash = o["list_hash"] is JsonValue h && h.TryGetValue<string>(out var hash) ? hash : null,
        };
    }

    private static int Int(JsonNode? node) => node is JsonValue v && v.TryGetValue<int>(out var i) ? i : 0;
}
