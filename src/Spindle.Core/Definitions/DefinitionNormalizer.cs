// Longer than the project's ~600 lines: every section of a definition (settings, dependencies, loops, outputs,
// budgets) is validated here with its own scalar and money readers. It is to be split by section around one shared
// field reader; until then, keep new sections out of it.
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Spindle.Core.Definitions;

/// <summary>
/// Validation (workflow-format.md §2, checks 1–10) and normalisation (§1.4, §1.5, §2.2) of a definition that was
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
        ["INPUT", "SECRET", "WORKFLOW", "ACTIVITY", "SIGNAL", "ACTIVITIES", "FILE", "FOLDER", "parameters"];

    private static readonly HashSet<string> TopKeys = ["name", "activities", "settings", "description", "schedules"]; // schedules: DefinitionSchedules
    private static readonly HashSet<string> WorkflowSettingsKeys = ["timeout", "max_retries", "budget"];
    private static readonly HashSet<string> BudgetKeys = ["limit", "limit_usd", "action"];
    private static readonly HashSet<string> ActivityKeys =
    [
        "key", "worker", "activity_name", "parameters", "outputs", "depends_on", "dependency_of", "settings",
        "iteration_limit", "iteration_scoped", "streaming", "is_loop_activity",
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
        public string? Worker { get; set; }
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
    }

    // ------------------------------------------------------------------------------------------------ entry

    /// <summary>Validates and normalises; returns null when any error was recorded.</summary>
    public JsonObject? Normalize(JsonObject root)
    {
        WarnUnknown(root, "", TopKeys);

        var name = ValidateName(root["name"], root.ContainsKey("name"));
        var settings = root["settings"] is { } s ? WorkflowSettings(s) : null;

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

        // check 10 and loop flags (§2.1)
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

    private JsonObject? Budget(JsonNode node, string path, bool limitRequired)
    {
        if (node is not JsonObject obj)
        {
            Error(path, $"'budget' must be a mapping such as {{limit: \"0.50\", action: abort}}, got {JsonUtil.Describe(node)}.");
            return null;
        }
        WarnUnknown(obj, path, BudgetKeys);
        var result = new JsonObject();
        var limit = Money(obj["limit"], path + ".limit");
        var limitUsd = Money(obj["limit_usd"], path + ".limit_usd");
        if (limit is not null && limitUsd is not null && limit != limitUsd)
        {
            Error(path + ".limit", $"'limit' ({limit}) and its alias 'limit_usd' ({limitUsd}) differ; give only one of them.");
        }
        else if ((limit ?? limitUsd) is { } l)
        {
            result["limit"] = l;
        }
        else if (limitRequired && obj["limit"] is null && obj["limit_usd"] is null)
        {
            Error(path + ".limit", "'budget.limit' is required: give the limit in USD, e.g. budget: {limit: \"0.50\"}.");
        }
        if (Enum(obj["action"], path + ".action", ["abort", "continue"]) is { } action)
        {
            result["action"] = action;
        }
        return result;
    }

    // ------------------------------------------------------------------------------------------------ activity

    private Draft? Activity(JsonNode? node, int index)
    {
        var path = $"activities[{index}]";
        if (node is not JsonObject obj)
        {
            Error(path, $"Each activity must be a mapping with at least 'key', got {JsonUtil.Describe(node)}.");
            return null;
        }
        WarnUnknown(obj, path, ActivityKeys);
        var d = new Draft { Index = index, Prefix = path };

        // check 4 (key); uniqueness is checked once all keys are known
        var keyNode = obj["key"];
        if (keyNode is null)
        {
            Error(path + ".key", "Activity 'key' is required: give an identifier (letters, digits, '_' and '-'), unique within the workflow.");
        }
        else if (!JsonUtil.IsString(keyNode, out var key))
        {
            Error(path + ".key", $"Activity 'key' must be a string identifier, got {JsonUtil.Describe(keyNode)}{QuoteHint(keyNode, "key")}.");
        }
        else
        {
            d.Key = key;
            if (key.Length > 0)
            {
                d.Prefix = "activity." + key;
            }
            if (key.Length == 0)
            {
                Error(path + ".key", "Activity 'key' must not be empty.");
            }
            else if (!Identifier().IsMatch(key))
            {
                Error(path + ".key", $"Activity key \"{key}\" is not an identifier: use only letters, digits, '_' and '-'.");
            }
            else
            {
                d.KeyValid = true;
                if (NamespaceNames.Contains(key))
                {
                    Warn($"Activity key '{key}' is spelled like the template namespace name {key}, which hides it: templates cannot reach this activity's outputs. Rename the activity.");
                }
            }
        }

        // check 5 (worker)
        var workerNode = obj["worker"];
        if (workerNode is not null)
        {
            if (!JsonUtil.IsString(workerNode, out var worker))
            {
                Error(path + ".worker", $"'worker' must be a string routing key such as std, got {JsonUtil.Describe(workerNode)}.");
            }
            else if (worker.Length == 0)
            {
                Error(path + ".worker", "'worker' must not be empty: give the routing key of the worker that runs this activity (default std), or leave the field out.");
            }
            else
            {
                d.Worker = worker;
            }
        }

        var nameNode = obj["activity_name"];
        var nameOk = true;
        if (nameNode is not null)
        {
            if (JsonUtil.IsString(nameNode, out var an))
            {
                d.ActivityName = an;
            }
            else
            {
                nameOk = false;
                Error(path + ".activity_name", $"'activity_name' must be a string such as echo, http_request or script, got {JsonUtil.Describe(nameNode)}.");
            }
        }
        if (nameOk && string.IsNullOrEmpty(d.ActivityName))
        {
            Warn($"{Who(d)} has an empty activity_name; set activity_name to the handler the worker should run (e.g. echo, http_request, script).");
        }

        if (obj.ContainsKey("parameters"))
        {
            switch (obj["parameters"])
            {
                case null:
                    d.Parameters = [];
                    break;
                case JsonObject p:
                    d.Parameters = (JsonObject)p.DeepClone();
                    break;
                case var other:
                    Error(path + ".parameters", $"'parameters' must be a mapping (object), got {JsonUtil.Describe(other)}; write e.g. parameters: {{url: \"https://…\"}}.");
                    break;
            }
        }

        if (obj["outputs"] is { } outputs)
        {
            d.Outputs = Outputs(outputs, path + ".outputs");
        }

        Dependencies(obj["depends_on"], path + ".depends_on", d.Prefix + ".depends_on", d.DependsOn);
        Dependencies(obj["dependency_of"], path + ".dependency_of", d.Prefix + ".dependency_of", d.DependencyOf);

        // activity-level loop fields (these win over the same fields inside settings)
        var iterationLimit = Integer(obj["iteration_limit"], path + ".iteration_limit", 1);
        var iterationScoped = Bool(obj["iteration_scoped"], path + ".iteration_scoped");
        var streaming = Streaming(obj["streaming"], path + ".streaming");

        if (obj["settings"] is { } settings)
        {
            d.Settings = ActivitySettings(settings, path + ".settings", d.Prefix + ".settings", out var sLimit, out var sScoped, out var sStreaming);
            iterationLimit ??= sLimit;
            iterationScoped ??= sScoped;
            streaming ??= sStreaming;
        }
        d.IterationLimit = iterationLimit;
        d.IterationScoped = iterationScoped;
        d.Streaming = streaming;
        return d;
    }

    private JsonArray? Outputs(JsonNode node, string path)
    {
        if (node is not JsonArray arr)
        {
            Error(path, $"'outputs' must be a list of output names or {{name, type}} objects, got {JsonUtil.Describe(node)}.");
            return null;
        }
        var result = new JsonArray();
        for (var j = 0; j < arr.Count; j++)
        {
            var itemPath = $"{path}[{j}]";
            switch (arr[j])
            {
                case JsonValue v when JsonUtil.IsString(v, out var n):
                    if (n.Length == 0)
                    {
                        Error(itemPath, "An output name must not be empty.");
                    }
                    else
                    {
                        result.Add(new JsonObject { ["name"] = n, ["type"] = "value" });
                    }
                    break;
                case JsonObject o:
                    WarnUnknown(o, itemPath, OutputKeys);
                    string? outName = null;
                    if (!JsonUtil.IsString(o["name"], out var on) || on.Length == 0)
                    {
                        Error(itemPath + ".name", $"An output needs a non-empty string 'name', got {JsonUtil.Describe(o["name"])}.");
                    }
                    else
                    {
                        outName = on;
                    }
                    var type = o["type"] is null ? "value" : Enum(o["type"], itemPath + ".type", ["value", "file", "folder"]);
                    if (outName is not null && type is not null)
                    {
                        result.Add(new JsonObject { ["name"] = outName, ["type"] = type });
                    }
                    break;
                case var other:
                    Error(itemPath, $"An output must be a name (string) or an object {{name, type}}, got {JsonUtil.Describe(other)}.");
                    break;
            }
        }
        return result;
    }

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

    private bool? Streaming(JsonNode? node, string path)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonValue v when JsonUtil.IsBool(v, out var b):
                return b;
            case JsonObject o:
                WarnUnknown(o, path, StreamingKeys);
                return o["enabled"] is null ? true : Bool(o["enabled"], path + ".enabled");
            default:
                Error(path, $"'streaming' must be true/false or {{enabled: true|false}}, got {JsonUtil.Describe(node)}.");
                return null;
        }
    }

    // ------------------------------------------------------------------------------------------------ settings

    private JsonObject? ActivitySettings(JsonNode node, string path, string field, out long? iterationLimit,
        out bool? iterationScoped, out bool? streaming)
    {
        iterationLimit = null;
        iterationScoped = null;
        streaming = null;
        if (node is not JsonObject obj)
        {
            Error(path, $"'settings' must be a mapping such as {{timeout_seconds: 30}}, got {JsonUtil.Describe(node)}.");
            return null;
        }
        WarnUnknown(obj, path, ActivitySettingsKeys);
        var result = new JsonObject();

        if (Integer(obj["timeout_seconds"], path + ".timeout_seconds", 1) is { } timeout)
        {
            result["timeout_seconds"] = timeout;
        }
        // A resource hint for the worker (py-std caps a script's address space with it); the engine only passes it on.
        if (Integer(obj["memory_mb"], path + ".memory_mb", 1) is { } memoryMb)
        {
            result["memory_mb"] = memoryMb;
        }
        if (obj["retry"] is { } retry && Retry(retry, path + ".retry") is { } r)
        {
            result["retry"] = r;
        }
        if (obj["budget"] is { } budget && Budget(budget, path + ".budget", limitRequired: true) is { } b)
        {
            result["budget"] = b;
        }
        Cache(obj, path, field, result);

        // check 6: delay / scheduled_for
        var delay = TemplateString(obj["delay"], path + ".delay", "a duration such as \"30s\" or \"5m\"");
        var scheduled = TemplateString(obj["scheduled_for"], path + ".scheduled_for", "an RFC 3339 timestamp such as \"2026-03-01T14:30:00Z\"");
        if (obj["delay"] is not null && obj["scheduled_for"] is not null)
        {
            Error(field, "'delay' and 'scheduled_for' cannot be combined: use 'delay' for a relative start or 'scheduled_for' for an absolute one.");
        }
        if (delay is not null)
        {
            if (!IsTemplate(delay) && !DurationParser.TryParseDelay(delay, DateTimeOffset.UtcNow, out _))
            {
                Error(field, $"Invalid delay \"{delay}\": expected a whole number followed by a unit (ms, s, m, mi, h, d, w, mo, y) without spaces, e.g. \"30s\", \"5m\" or \"1d\".");
            }
            result["delay"] = delay;
        }
        if (scheduled is not null)
        {
            if (!IsTemplate(scheduled) && !ScheduledForParser.TryParse(scheduled, out _))
            {
                Error(field, $"Invalid scheduled_for \"{scheduled}\": expected an RFC 3339 timestamp with an offset, e.g. \"2026-03-01T14:30:00Z\" or \"2026-03-01T15:30:00+01:00\".");
            }
            result["scheduled_for"] = scheduled;
        }

        if (obj["wait_for_signal"] is { } wait && WaitForSignal(wait, path + ".wait_for_signal", field) is { } w)
        {
            result["wait_for_signal"] = w;
        }

        iterationLimit = Integer(obj["iteration_limit"], path + ".iteration_limit", 1);
        iterationScoped = Bool(obj["iteration_scoped"], path + ".iteration_scoped");
        streaming = Streaming(obj["streaming"], path + ".streaming");
        return result;
    }

    private JsonObject? Retry(JsonNode node, string path)
    {
        if (node is not JsonObject obj)
        {
            Error(path, $"'retry' must be a mapping such as {{max_attempts: 3, strategy: exponential}}, got {JsonUtil.Describe(node)}.");
            return null;
        }
        WarnUnknown(obj, path, RetryKeys);
        var result = new JsonObject();
        if (Integer(obj["max_attempts"], path + ".max_attempts", 1) is { } attempts)
        {
            result["max_attempts"] = attempts;
        }
        if (Enum(obj["strategy"], path + ".strategy", ["exponential", "fixed"]) is { } strategy)
        {
            result["strategy"] = strategy;
        }
        foreach (var (name, min) in new[] { ("base_seconds", 0d), ("factor", 1d), ("max_seconds", 0d) })
        {
            if (Number(obj[name], $"{path}.{name}", min) is { } value)
            {
                result[name] = JsonUtil.Number(value);
            }
        }
        return result;
    }

    private void Cache(JsonObject settings, string path, string field, JsonObject result)
    {
        bool? enabled = null;
        long? objectTtl = null;
        JsonNode? objectKey = null;
        var cache = settings["cache"];
        switch (cache)
        {
            case null:
                break;
            case JsonValue v when JsonUtil.IsBool(v, out var b):
                enabled = b;
                break;
            case JsonObject o:
                WarnUnknown(o, path + ".cache", CacheKeys);
                enabled = o["enabled"] is null ? true : Bool(o["enabled"], path + ".cache.enabled");
                var ttlSeconds = Integer(o["ttl_seconds"], path + ".cache.ttl_seconds", 1);
                var ttl = Integer(o["ttl"], path + ".cache.ttl", 1);
                if (ttlSeconds is not null && ttl is not null && ttlSeconds != ttl)
                {
                    Error(field, $"Conflicting cache TTLs: cache.ttl_seconds is {ttlSeconds} but its alias cache.ttl is {ttl}; give only one.");
                }
                objectTtl = ttlSeconds ?? ttl;
                objectKey = CacheKey(o["key"], path + ".cache.key");
                break;
            default:
                Error(path + ".cache", $"'cache' must be true/false or a mapping {{enabled, ttl_seconds, key}}, got {JsonUtil.Describe(cache)}.");
                break;
        }
        var cacheTtl = Integer(settings["cache_ttl"], path + ".cache_ttl", 1);
        var cacheKey = CacheKey(settings["cache_key"], path + ".cache_key");
        if (objectTtl is not null && cacheTtl is not null && objectTtl != cacheTtl)
        {
            Error(field, $"Conflicting cache TTLs: the cache object gives {objectTtl} but cache_ttl is {cacheTtl}; give the TTL once.");
        }
        if (objectKey is not null && cacheKey is not null && !JsonNode.DeepEquals(objectKey, cacheKey))
        {
            Error(field, "Conflicting cache keys: cache.key and cache_key differ; give the key once.");
        }
        if (enabled is not null)
        {
            result["cache"] = enabled.Value;
        }
        if ((objectTtl ?? cacheTtl) is { } t)
        {
            result["cache_ttl"] = t;
        }
        if ((objectKey ?? cacheKey) is { } k)
        {
            result["cache_key"] = k.DeepClone();
        }
    }

    private JsonNode? CacheKey(JsonNode? node, string path)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonValue v when JsonUtil.IsString(v, out var s):
                return JsonValue.Create(s);
            case JsonArray arr when arr.All(x => JsonUtil.IsString(x, out _)):
                return arr.DeepClone();
            default:
                Error(path, $"A cache key must be a string template or a list of strings, got {JsonUtil.Describe(node)}.");
                return null;
        }
    }

    private JsonObject? WaitForSignal(JsonNode node, string path, string field)
    {
        if (JsonUtil.IsString(node, out var shorthand))
        {
            if (shorthand.Length == 0)
            {
                Error(field, "'wait_for_signal' needs a non-empty event name, e.g. wait_for_signal: approval.");
                return null;
            }
            return new JsonObject { ["event_name"] = shorthand };
        }
        if (node is not JsonObject obj)
        {
            Error(path, $"'wait_for_signal' must be an event name (string) or a mapping {{event_name, timeout_seconds, on_timeout}}, got {JsonUtil.Describe(node)}.");
            return null;
        }
        WarnUnknown(obj, path, SignalKeys);
        var result = new JsonObject();
        var eventNode = obj["event_name"];
        if (eventNode is null || (JsonUtil.IsString(eventNode, out var empty) && empty.Length == 0))
        {
            Error(field, "'wait_for_signal' requires a non-empty 'event_name', e.g. wait_for_signal: {event_name: approval}.");
        }
        else if (!JsonUtil.IsString(eventNode, out var eventName))
        {
            Error(path + ".event_name", $"'event_name' must be a string, got {JsonUtil.Describe(eventNode)}{QuoteHint(eventNode, "event_name")}.");
        }
        else
        {
            result["event_name"] = eventName;
        }
        if (Integer(obj["timeout_seconds"], path + ".timeout_seconds", 1) is { } timeout)
        {
            result["timeout_seconds"] = timeout;
        }
        var onTimeout = obj["on_timeout"];
        if (onTimeout is not null)
        {
            if (JsonUtil.IsString(onTimeout, out var ot) && ot is "continue" or "skip" or "fail")
            {
                result["on_timeout"] = ot;
            }
            else
            {
                Error(field, $"'wait_for_signal.on_timeout' must be one of continue, skip, fail; got {JsonUtil.Describe(onTimeout)}.");
            }
        }
        return result;
    }

    private string? TemplateString(JsonNode? node, string path, string example)
    {
        if (node is null)
        {
            return null;
        }
        if (JsonUtil.IsString(node, out var s))
        {
            return s;
        }
        var field = path[(path.LastIndexOf('.') + 1)..];
        Error(path, $"'{field}' must be a string ({example}), got {JsonUtil.Describe(node)}.");
        return null;
    }

    private static bool IsTemplate(string s) => s.Contains("{{", StringComparison.Ordinal) || s.Contains("{%", StringComparison.Ordinal);

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

    /// <summary>§1.4: dependency_of moves to the target's depends_on; equal entries merge; sorted by activity_key.</summary>
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

    private static JsonObject ToJson(Draft d)
    {
        var o = new JsonObject { ["key"] = d.Key };
        if (d.Worker is not null)
        {
            o["worker"] = d.Worker;
        }
        if (d.ActivityName is not null)
        {
            o["activity_name"] = d.ActivityName;
        }
        if (d.Parameters is not null)
        {
            o["parameters"] = d.Parameters;
        }
        if (d.Outputs is not null)
        {
            o["outputs"] = d.Outputs;
        }
        o["depends_on"] = new JsonArray(d.Merged.Select(e => (JsonNode?)new JsonObject
        {
            ["activity_key"] = e.ActivityKey,
            ["conditions"] = new JsonArray(e.Conditions.Select(c => (JsonNode?)JsonValue.Create(c)).ToArray()),
            ["is_back_edge"] = e.IsBackEdge,
        }).ToArray());
        if (d.Settings is { Count: > 0 })
        {
            o["settings"] = d.Settings;
        }
        if (d.IterationLimit is { } limit)
        {
            o["iteration_limit"] = limit;
        }
        if (d.IterationScoped is { } scoped)
        {
            o["iteration_scoped"] = scoped;
        }
        if (d.Streaming is { } streaming)
        {
            o["streaming"] = streaming;
        }
        o["is_loop_activity"] = d.IsLoopActivity;
        return o;
    }

    /// <summary>The §2.1 graph: an edge D → A for every depends_on entry of A naming D.</summary>
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

    // ------------------------------------------------------------------------------------------------ scalars

    private void WarnUnknown(JsonObject obj, string path, HashSet<string> known)
    {
        foreach (var (k, _) in obj)
        {
            if (!known.Contains(k))
            {
                Warn($"Unknown key ignored: {(path.Length == 0 ? k : path + "." + k)}");
            }
        }
    }

    private static string Who(Draft d) => d.Key is { Length: > 0 } k ? $"Activity '{k}'" : $"activities[{d.Index}]";

    /// <summary>" — remove the quotes" hint for numbers/booleans written as strings, or a quoting hint the other way.</summary>
    private static string QuoteHint(JsonNode? node, string field)
    {
        if (JsonUtil.IsString(node, out var s) &&
            double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
        {
            return $"; write it without quotes, e.g. {field}: {s}";
        }
        if (JsonUtil.IsNumber(node) || JsonUtil.IsBool(node, out _))
        {
            return $"; quote it to make it a string, e.g. {field}: \"{node!.ToJsonString()}\"";
        }
        return "";
    }

    private static string FieldName(string path) => path[(path.LastIndexOf('.') + 1)..];

    /// <summary>An integer in [min, int.MaxValue]; integral floats (30.0) are accepted. Null when absent or invalid.</summary>
    private long? Integer(JsonNode? node, string path, long min)
    {
        if (node is null)
        {
            return null;
        }
        var field = FieldName(path);
        var expected = $"a whole number >= {min}";
        if (!JsonUtil.TryGetInteger(node, out var value))
        {
            Error(path, JsonUtil.TryGetDouble(node, out _)
                ? $"'{field}' must be {expected}, got {JsonUtil.Describe(node)}; fractions are not allowed."
                : $"'{field}' must be {expected}, got {JsonUtil.Describe(node)}{QuoteHint(node, field)}.");
            return null;
        }
        if (value < min || value > int.MaxValue)
        {
            Error(path, $"'{field}' must be {expected} and at most {int.MaxValue}, got {value}.");
            return null;
        }
        return value;
    }

    private double? Number(JsonNode? node, string path, double min)
    {
        if (node is null)
        {
            return null;
        }
        var field = FieldName(path);
        var minText = min.ToString(CultureInfo.InvariantCulture);
        if (!JsonUtil.TryGetDouble(node, out var value))
        {
            Error(path, $"'{field}' must be a number >= {minText}, got {JsonUtil.Describe(node)}{QuoteHint(node, field)}.");
            return null;
        }
        if (value < min)
        {
            Error(path, $"'{field}' must be a number >= {minText}, got {value.ToString("R", CultureInfo.InvariantCulture)}.");
            return null;
        }
        return value;
    }

    private bool? Bool(JsonNode? node, string path)
    {
        if (node is null)
        {
            return null;
        }
        if (JsonUtil.IsBool(node, out var b))
        {
            return b;
        }
        var field = FieldName(path);
        Error(path, $"'{field}' must be true or false (unquoted), got {JsonUtil.Describe(node)}.");
        return null;
    }

    private string? Enum(JsonNode? node, string path, string[] allowed)
    {
        if (node is null)
        {
            return null;
        }
        if (JsonUtil.IsString(node, out var s) && allowed.Contains(s, StringComparer.Ordinal))
        {
            return s;
        }
        Error(path, $"'{FieldName(path)}' must be one of {string.Join(", ", allowed)}; got {JsonUtil.Describe(node)}.");
        return null;
    }

    /// <summary>Decimal USD ≥ 0 given as a string or a number; returns the normalised string ("0.50" → "0.5").</summary>
    private string? Money(JsonNode? node, string path)
    {
        if (node is null)
        {
            return null;
        }
        decimal value;
        if (JsonUtil.IsString(node, out var s))
        {
            if (!decimal.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out value))
            {
                Error(path, $"'{FieldName(path)}' must be a decimal amount in USD such as \"0.50\" or 0.5, got {JsonUtil.Describe(node)}.");
                return null;
            }
        }
        else if (node is JsonValue jv && jv.TryGetValue(out long l))
        {
            value = l;
        }
        else if (JsonUtil.TryGetDouble(node, out var d))
        {
            try
            {
                value = (decimal)d;
            }
            catch (OverflowException)
            {
                Error(path, $"'{FieldName(path)}' is too large for a USD amount.");
                return null;
            }
        }
        else
        {
            Error(path, $"'{FieldName(path)}' must be a decimal amount in USD such as \"0.50\" or 0.5, got {JsonUtil.Describe(node)}.");
            return null;
        }
        if (value < 0)
        {
            Error(path, $"'{FieldName(path)}' must be >= 0, got {value.ToString(CultureInfo.InvariantCulture)}.");
            return null;
        }
        return FormatMoney(value);
    }

    /// <summary>Minimal-scale invariant text of a decimal: 0.50 → "0.5", 2.000 → "2".</summary>
    public static string FormatMoney(decimal value)
    {
        var normalized = value / 1.000000000000000000000000000000000m;
        var text = normalized.ToString(CultureInfo.InvariantCulture);
        return text == "-0" ? "0" : text;
    }
}
