using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Spindle.Core.Definitions;

/// <summary>
/// Validation (docs/workflow-format.md, checks 1–10) and normalisation (dependencies, settings defaults, the normalised form) of a definition that was
/// already read into a JSON tree. Collects every problem; produces the normalised JSON only when there is none.
/// </summary>
/// <remarks>
/// Normalised form (what is stored, hashed and returned):
/// <code>
/// { "name": "...",
///   "activities": [ { "key", "worker"?, "activity_name"?, "parameters"?, "outputs"?: [{name, type}],
///                     "depends_on": [{activity_key, conditions: [...], is_back_edge}],
///                     "settings"?, "iteration_limit"?, "iteration_scoped"?, "streaming"?, "is_loop_activity" } ],
///   "settings"?: { "timeout"?, "max_retries"?, "budget"?: {limit: "&lt;decimal string&gt;", action?} } }
/// </code>
/// Rules: fields absent from the input stay absent (no defaults filled in); a <c>null</c> value counts as absent,
/// except <c>parameters: null</c>, which becomes <c>{}</c>. Computed fields are always present: <c>depends_on</c>
/// (possibly empty, object form, merged and sorted by <c>activity_key</c>), <c>is_back_edge</c> and
/// <c>is_loop_activity</c>. <c>description</c> and unknown keys are dropped. Outputs always take the object form with
/// <c>type</c> (default <c>value</c>). <c>condition</c> becomes <c>conditions</c>; <c>limit_usd</c> becomes <c>limit</c>;
/// money is a normalised decimal string (<c>0.50</c> → <c>"0.5"</c>); integral floats in integer fields become
/// integers; <c>streaming: {enabled: x}</c> becomes <c>streaming: x</c> (<c>enabled</c> defaults to true);
/// <c>wait_for_signal: "evt"</c> becomes <c>{event_name: "evt"}</c>; <c>cache</c> becomes <c>cache: bool</c> +
/// <c>cache_ttl</c> + <c>cache_key</c>; <c>iteration_limit</c>, <c>iteration_scoped</c> and <c>streaming</c> move from
/// <c>settings</c> to the activity (the activity-level value wins). An empty <c>settings</c> object (given as
/// <c>{}</c> or emptied by that move) is dropped, at activity and at workflow level, since it means the same as none.
/// </remarks>
internal sealed partial class DefinitionNormalizer
{
    public static readonly IReadOnlyList<string> NamespaceNames =
        ["INPUT", "SECRET", "WORKFLOW", "ACTIVITY", "SIGNAL", "ACTIVITIES", "FILE", "FOLDER", "parameters", "ITEM", "ITEM_INDEX"];

    private static readonly HashSet<string> TopKeys = ["name", "activities", "settings", "description", "schedules", "concurrency"]; // schedules: DefinitionSchedules; concurrency: DefinitionNormalizer.RunConcurrency.cs
    private static readonly HashSet<string> WorkflowSettingsKeys = ["timeout", "max_retries", "budget"];
    private static readonly HashSet<string> BudgetKeys = ["limit", "limit_usd", "action"];
    private static readonly HashSet<string> ActivityKeys =
    [
        "key", "worker", "activity_name", "parameters", "outputs", "depends_on", "dependency_of", "settings",
        "iteration_limit", "iteration_scoped", "streaming", "is_loop_activity",
        "for_each", "max_parallel", "continue_on_failure", // DefinitionNormalizer.Map.cs
        "concurrency", "rate_limit", "priority", // DefinitionNormalizer.Queueing.cs
        "workflow", "version", "input", // DefinitionNormalizer.Child.cs
    ];
    private static readonly HashSet<string> ActivitySettingsKeys =
    [
        "timeout_seconds", "retry", "budget", "cache", "cache_ttl", "cache_key", "delay", "scheduled_for",
        "wait_for_signal", "iteration_limit", "iteration_scoped", "streaming", "memory_mb",
    ];
    private static readonly HashSet<string> EdgeKeys = ["activity_key", "conditions", "condition", "is_back_edge"];
    private static readonly HashSet<string> RetryKeys = ["max_attempts", "strategy", "base_seconds", "factor", "max_seconds"];
    private static readonly HashSet<string> CacheKeys = ["enabled", "ttl_seconds", "ttl", "key"];
    private static readonly HashSet<string> SignalKeys = ["event_name", "timeout_seconds", "on_timeout"];
    private static readonly HashSet<string> OutputKeys = ["name", "type"];
    private static readonly HashSet<string> StreamingKeys = ["enabled"];

    [GeneratedRegex("^[a-zA-Z0-9_-]+$")]
    private static partial Regex Identifier();

    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);
    private readonly List<string> _warnings = [];

    public IReadOnlyDictionary<string, IReadOnlyList<string>> Errors =>
        _errors.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string>)kv.Value.AsReadOnly(), StringComparer.Ordinal);

    public IReadOnlyList<string> Warnings => _warnings;

    public bool HasErrors => _errors.Count > 0;

    public void Error(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list))
        {
            _errors[field] = list = [];
        }
        list.Add(message);
    }

    private void Warn(string message) => _warnings.Add(message);

    // ------------------------------------------------------------------------------------------------ drafts

    internal sealed class Edge
    {
        public required string ActivityKey { get; init; }
        public required List<string> Conditions { get; init; }
        public bool IsBackEdge { get; set; }

        public bool SameAs(Edge other) =>
            ActivityKey == other.ActivityKey && Conditions.SequenceEqual(other.Conditions, StringComparer.Ordinal);
    }

    private sealed class Draft
    {
        public int Index { get; init; }
        public string? Key { get; set; }
        public bool KeyValid { get; set; }
        public string Prefix { get; set; } = "";
        public string? RoutingKey { get; set; }
        public string? ActivityName { get; set; }
        public JsonObject? Parameters { get; set; }
        public JsonArray? Outputs { get; set; }
        public List<Edge> DependsOn { get; } = [];
        public List<Edge> DependencyOf { get; } = [];
        public List<Edge> Merged { get; } = [];
        public JsonObject? Settings { get; set; }
        public long? IterationLimit { get; set; }
        public bool? IterationScoped { get; set; }
        public bool? Streaming { get; set; }
        public bool IsLoopActivity { get; set; }

        /// <summary><c>for_each</c>, <c>max_parallel</c>, <c>continue_on_failure</c> as normalised (DefinitionNormalizer.Map.cs).</summary>
        public JsonObject? Map { get; set; }
        public JsonObject? Queueing { get; set; }

        /// <summary><c>workflow</c>, <c>version</c>, <c>input</c> as normalised (DefinitionNormalizer.Child.cs).</summary>
        public JsonObject? Child { get; set; }
    }

    // ------------------------------------------------------------------------------------------------ entry

    /// <summary>Validates and normalises; returns null when any error was recorded.</summary>
    public JsonObject? Normalize(JsonObject root)
    {
        WarnUnknown(root, "", TopKeys);

        var name = ValidateName(root["name"], root.ContainsKey("name"));
        var settings = root["settings"] is { } s ? WorkflowSettings(s) : null;
        var concurrency = root["concurrency"] is { } c ? RunConcurrency(c) : null;

        var drafts = new List<Draft>();
        var activitiesNode = root["activities"];
        switch (activitiesNode)
        {
            case null:
                Error("activities", "'activities' is required: give a list with at least one activity, e.g. activities: [{key: step1, activity_name: echo}].");
                break;
            case JsonArray { Count: 0 }:
                Error("activities", "'activities' must contain at least one activity.");
                break;
            case JsonArray arr:
                for (var i = 0; i < arr.Count; i++)
                {
                    if (Activity(arr[i], i) is { } d)
                    {
                        drafts.Add(d);
                    }
                }
                break;
            case JsonObject:
                Error("activities", "'activities' must be a list, not a mapping keyed by name; write each activity as a list item '- key: <name>'.");
                break;
            default:
                Error("activities", $"'activities' must be a list of activities, got {JsonUtil.Describe(activitiesNode)}.");
                break;
        }

        CheckKeysAndReferences(drafts);
        if (HasErrors)
        {
            return null;
        }

        FoldAndMerge(drafts);

        // check 10 and loop flags (docs/workflow-format.md, Loops)
        var keys = drafts.Select(d => d.Key!).ToList();
        var graph = Graph(keys, drafts.Select(d => (IReadOnlyList<Edge>)d.Merged).ToList());
        var analysis = LoopAnalyzer.FindBackEdges(drafts.Count, graph,
            drafts.Select(d => d.IterationLimit.HasValue).ToList(), keys);
        foreach (var message in analysis.InvalidCycles)
        {
            Error("activities", message);
        }
        if (HasErrors)
        {
            return null;
        }
        var backEdges = analysis.BackEdges.ToHashSet();
        var members = new SortedSet<int>();
        foreach (var back in analysis.BackEdges)
        {
            drafts[back.To].Merged[back.Entry].IsBackEdge = true;
            members.UnionWith(LoopAnalyzer.Body(drafts.Count, graph, backEdges, back.To, back.From));
        }
        foreach (var member in members)
        {
            var d = drafts[member];
            d.IsLoopActivity = true;
            if (d.IterationScoped is null)
            {
                Warn($"Activity '{d.Key}' is a loop member without iteration_scoped: its outputs keep only the latest iteration. " +
                     "Set iteration_scoped: true to keep every iteration's outputs as arrays (or iteration_scoped: false to silence this warning).");
            }
        }

        var normalized = new JsonObject
        {
            ["name"] = name,
            ["activities"] = new JsonArray(drafts.Select(ToJson).ToArray<JsonNode?>()),
        };
        if (settings is { Count: > 0 })
        {
            normalized["settings"] = settings;
        }
        if (concurrency is not null)
        {
            normalized["concurrency"] = concurrency;
        }
        return normalized;
    }

    // ------------------------------------------------------------------------------------------------ workflow

    private string? ValidateName(JsonNode? node, bool present)
    {
        if (node is null)
        {
            Error("name", present
                ? "'name' must not be empty: give an identifier such as order_flow."
                : "'name' is required: give an identifier (letters, digits, '_' and '-'), e.g. name: order_flow.");
            return null;
        }
        if (!JsonUtil.IsString(node, out var name))
        {
            Error("name", $"'name' must be a string identifier, got {JsonUtil.Describe(node)}{QuoteHint(node, "name")}.");
            return null;
        }
        if (name.Length == 0)
        {
            Error("name", "'name' must not be empty: give an identifier such as order_flow.");
            return null;
        }
        if (name.Length > 255)
        {
            Error("name", $"'name' must be at most 255 characters, got {name.Length}.");
            return null;
        }
        if (!Identifier().IsMatch(name))
        {
            Error("name", $"'name' must be an identifier (letters, digits, '_' and '-' only), got \"{name}\".");
            return null;
        }
        return name;
    }

    private JsonObject? WorkflowSettings(JsonNode node)
    {
        if (node is not JsonObject obj)
        {
            Error("settings", $"'settings' must be a mapping such as {{timeout: 3600, max_retries: 3}}, got {JsonUtil.Describe(node)}.");
            return null;
        }
        WarnUnknown(obj, "settings", WorkflowSettingsKeys);
        var result = new JsonObject();
        if (Integer(obj["timeout"], "settings.timeout", 1) is { } timeout)
        {
            result["timeout"] = timeout;
        }
        if (Integer(obj["max_retries"], "settings.max_retries", 0) is { } retries)
        {
            result["max_retries"] = retries;
        }
        if (obj["budget"] is { } budget && Budget(budget, "settings.budget", limitRequired: false) is { } b)
        {
            result["budget"] = b;
        }
        return result;
    }
}
