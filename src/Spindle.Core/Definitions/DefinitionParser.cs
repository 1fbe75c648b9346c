using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using YamlDotNet.Core;

namespace Spindle.Core.Definitions;

/// <summary>
/// Entry point for workflow definitions (docs/workflow-format.md): parse YAML/JSON, validate, normalise, analyse
/// loops, hash. See <see cref="DefinitionNormalizer"/> for the exact normalised form.
/// </summary>
public static class DefinitionParser
{
    private static readonly IReadOnlyDictionary<string, IReadOnlyList<string>> NoErrors =
        new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>
    /// Parses YAML or JSON text (JSON is read as YAML) and collects every problem: checks 0–9, then check 10 (invalid
    /// cycles) only if they all pass. On success the result carries the typed, normalised definition and its hash.
    /// </summary>
    public static DefinitionParseResult Parse(string text)
    {
        JsonNode? root;
        try
        {
            var read = YamlJsonReader.Read(text ?? "");
            if (read.Empty || read.Root is null)
            {
                return Failure("Failed to parse YAML: the document is empty; expected a mapping with 'name' and 'activities'.");
            }
            root = read.Root;
        }
        catch (YamlException e)
        {
            return Failure($"Failed to parse YAML: {e.Message} (line {e.Start.Line}, column {e.Start.Column})");
        }
        catch (Exception e)
        {
            return Failure($"Failed to parse YAML: {e.Message}");
        }
        if (root is not JsonObject obj)
        {
            return Failure($"Failed to parse YAML: the top level must be a mapping with 'name' and 'activities', got {JsonUtil.Describe(root)}.");
        }

        var normalizer = new DefinitionNormalizer();
        var normalized = normalizer.Normalize(obj);
        if (normalized is null || normalizer.HasErrors)
        {
            return new DefinitionParseResult(null, normalizer.Errors, normalizer.Warnings);
        }
        var definition = Build(normalized);
        if (SecretTemplateRules.Find(definition) is { Count: > 0 } secretErrors)
        {
            return new DefinitionParseResult(null, secretErrors, normalizer.Warnings);
        }
        return new DefinitionParseResult(definition, NoErrors, [.. normalizer.Warnings, .. TemplateSyntaxWarnings.Find(definition)]);
    }

    /// <summary>
    /// Rebuilds the model from a stored normalised JSON (trusted input, as produced by <see cref="Parse"/>): no
    /// validation; the stored <c>is_back_edge</c>/<c>is_loop_activity</c> flags are used as they are. Only
    /// <c>name</c>, <c>activities</c>, <c>settings</c> and <c>concurrency</c> are read (a stored <c>version</c> etc. is ignored), so the
    /// hash equals the one computed by <see cref="Parse"/>. The argument is not modified or retained.
    /// </summary>
    public static WorkflowDefinition FromNormalized(JsonObject normalized)
    {
        ArgumentNullException.ThrowIfNull(normalized);
        var copy = new JsonObject
        {
            ["name"] = JsonUtil.Canonicalize(normalized["name"]),
            ["activities"] = JsonUtil.Canonicalize(normalized["activities"]) ?? new JsonArray(),
        };
        if (normalized["settings"] is { } settings)
        {
            copy["settings"] = JsonUtil.Canonicalize(settings);
        }
        if (normalized["concurrency"] is { } concurrency)
        {
            copy["concurrency"] = JsonUtil.Canonicalize(concurrency);
        }
        return Build(copy);
    }

    private static DefinitionParseResult Failure(string message) =>
        new(null, new Dictionary<string, IReadOnlyList<string>> { ["definition"] = [message] }, []);

    // ------------------------------------------------------------------------------------------------ model

    /// <summary>Builds the typed model (defaults applied) from a normalised object, which becomes NormalizedJson.</summary>
    private static WorkflowDefinition Build(JsonObject normalized)
    {
        var activitiesJson = normalized["activities"]!.AsArray();
        var activities = new List<ActivityDefinition>(activitiesJson.Count);
        var keys = new List<string>(activitiesJson.Count);
        var dependsOn = new List<IReadOnlyList<DefinitionNormalizer.Edge>>();
        for (var i = 0; i < activitiesJson.Count; i++)
        {
            var a = activitiesJson[i]!.AsObject();
            var edges = new List<DependencyEdge>();
            var graphEdges = new List<DefinitionNormalizer.Edge>();
            if (a["depends_on"] is JsonArray deps)
            {
                foreach (var dep in deps)
                {
                    var conditions = dep?["conditions"] is JsonArray cs
                        ? cs.Select(c => Str(c) ?? "").ToList()
                        : [];
                    var edge = new DependencyEdge(Str(dep?["activity_key"]) ?? "", conditions, Bool(dep?["is_back_edge"]) ?? false);
                    edges.Add(edge);
                    graphEdges.Add(new DefinitionNormalizer.Edge
                    {
                        ActivityKey = edge.ActivityKey,
                        Conditions = conditions,
                        IsBackEdge = edge.IsBackEdge,
                    });
                }
            }
            var key = Str(a["key"]) ?? "";
            keys.Add(key);
            dependsOn.Add(graphEdges);
            var settingsJson = a["settings"] as JsonObject;
            activities.Add(new ActivityDefinition
            {
                Key = key,
                RoutingKey = Str(a["worker"]) ?? "std",
                ActivityName = Str(a["activity_name"]) ?? "",
                Parameters = a["parameters"] is JsonObject p ? (JsonObject)p.DeepClone() : [],
                Outputs = a["outputs"] is JsonArray outs
                    ? outs.Select(o => new OutputDefinition(Str(o?["name"]) ?? "", Str(o?["type"]) ?? "value")).ToList()
                    : [],
                DependsOn = edges,
                IterationLimit = Int(a["iteration_limit"]),
                IterationScoped = Bool(a["iteration_scoped"]) ?? false,
                Streaming = Bool(a["streaming"]),
                IsLoopActivity = Bool(a["is_loop_activity"]) ?? false,
                Queueing = ActivityQueueing.From(a),
                Settings = settingsJson is null ? new ActivitySettings() : Settings(settingsJson),
                SettingsJson = (JsonObject?)settingsJson?.DeepClone(),
                Map = MapSettings.Read(a),
                Workflow = ChildWorkflow.Read(a),
                Index = i,
            });
        }

        // Loops from the stored back-edge flags, ordered by head (definition order), then by the entry's position.
        var graph = DefinitionNormalizer.Graph(keys, dependsOn);
        var backEdges = graph.Where(e => dependsOn[e.To][e.Entry].IsBackEdge).ToHashSet();
        var loops = backEdges
            .OrderBy(e => e.To).ThenBy(e => e.Entry)
            .Select(e => new LoopDefinition(keys[e.To], keys[e.From],
                LoopAnalyzer.Body(keys.Count, graph, backEdges, e.To, e.From).Select(i => keys[i]).ToList()))
            .ToList();

        WorkflowSettings? workflowSettings = null;
        if (normalized["settings"] is JsonObject ws)
        {
            var budget = ws["budget"] as JsonObject;
            workflowSettings = new WorkflowSettings(
                Int(ws["timeout"]),
                Int(ws["max_retries"]),
                Money(budget?["limit"]),
                Str(budget?["action"]));
        }

        return new WorkflowDefinition
        {
            Name = Str(normalized["name"]) ?? "",
            Activities = activities,
            Settings = workflowSettings,
            Concurrency = normalized["concurrency"] is JsonObject c ? ActivityQueueing.ConcurrencyFrom(c) : null,
            NormalizedJson = normalized,
            ContentHash = CanonicalJson.Sha256Hex(normalized),
            Loops = loops,
        };
    }

    private static ActivitySettings Settings(JsonObject s)
    {
        RetryPolicy? retry = null;
        if (s["retry"] is JsonObject r)
        {
            retry = new RetryPolicy(
                Int(r["max_attempts"]) ?? 1,
                Str(r["strategy"]) ?? "exponential",
                Double(r["base_seconds"]) ?? 2,
                Double(r["factor"]) ?? 2.0,
                Double(r["max_seconds"]) ?? 300);
        }
        BudgetSettings? budget = null;
        if (s["budget"] is JsonObject b)
        {
            budget = new BudgetSettings(Money(b["limit"]) ?? 0m, Str(b["action"]) ?? "abort");
        }
        SignalWait? wait = null;
        if (s["wait_for_signal"] is JsonObject w)
        {
            wait = new SignalWait(Str(w["event_name"]) ?? "", Int(w["timeout_seconds"]), Str(w["on_timeout"]) ?? "fail");
        }
        return new ActivitySettings
        {
            TimeoutSeconds = Int(s["timeout_seconds"]),
            Retry = retry,
            Budget = budget,
            Cache = Bool(s["cache"]) ?? false,
            CacheTtl = Int(s["cache_ttl"]),
            CacheKey = s["cache_key"]?.DeepClone(),
            Delay = Str(s["delay"]),
            ScheduledFor = Str(s["scheduled_for"]),
            WaitForSignal = wait,
        };
    }

    private static string? Str(JsonNode? n) => JsonUtil.IsString(n, out var s) ? s : null;

    private static bool? Bool(JsonNode? n) => JsonUtil.IsBool(n, out var b) ? b : null;

    private static int? Int(JsonNode? n) =>
        JsonUtil.TryGetInteger(n, out var l) ? (int)Math.Clamp(l, int.MinValue, int.MaxValue) : null;

    private static double? Double(JsonNode? n) => JsonUtil.TryGetDouble(n, out var d) ? d : null;

    private static decimal? Money(JsonNode? n) => MoneyReader.Read(n, out var m) == MoneyRead.Ok ? m : null;
}
