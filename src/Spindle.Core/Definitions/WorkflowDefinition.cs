using System.Text.Json.Nodes;

namespace Spindle.Core.Definitions;

/// <summary>A validated, normalised workflow definition (docs/workflow-format.md).</summary>
public sealed class WorkflowDefinition
{
    public required string Name { get; init; }
    public required IReadOnlyList<ActivityDefinition> Activities { get; init; }
    public WorkflowSettings? Settings { get; init; }

    /// <summary>Top-level <c>concurrency</c>: at most this many runs of the definition with the same rendered key
    /// running at once (docs/workflow-format.md#workflow-level-concurrency); null when not given.</summary>
    public ConcurrencyLimit? Concurrency { get; init; }

    /// <summary>The normalised form: what is stored, hashed and returned (without <c>version</c>).</summary>
    public required JsonObject NormalizedJson { get; init; }

    /// <summary>Lower-case hex SHA-256 of the canonical JSON of the normalised form (docs/workflow-format.md, Validation and versions).</summary>
    public required string ContentHash { get; init; }

    /// <summary>Loops found by the loop analysis (docs/workflow-format.md, Loops), one per back-edge.</summary>
    public required IReadOnlyList<LoopDefinition> Loops { get; init; }

    private Dictionary<string, int>? _dependents;

    /// <summary>
    /// How many activities name <paramref name="key"/> in their <c>depends_on</c>: what its result can unblock at most
    /// (a condition that skips one can pass its turn further on). Workers use it to reserve slots for the fan-out a
    /// completion leases (docs/worker-protocol.md, claim-next).
    /// </summary>
    public int DependentsOf(string key)
    {
        // Built once per definition; definitions are shared between threads, and a race only builds it twice.
        var dependents = _dependents;
        if (dependents is null)
        {
            dependents = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var a in Activities)
            {
                foreach (var edge in a.DependsOn)
                {
                    dependents[edge.ActivityKey] = dependents.GetValueOrDefault(edge.ActivityKey) + 1;
                }
            }
            _dependents = dependents;
        }
        return dependents.GetValueOrDefault(key);
    }

    public ActivityDefinition? Find(string key)
    {
        foreach (var a in Activities)
        {
            if (a.Key == key)
            {
                return a;
            }
        }
        return null;
    }
}

public sealed record WorkflowSettings(int? TimeoutSeconds, int? MaxRetries, decimal? BudgetLimit, string? BudgetAction);

public sealed class ActivityDefinition
{
    public required string Key { get; init; }
    public string RoutingKey { get; init; } = "std";
    public string ActivityName { get; init; } = "";
    public required JsonObject Parameters { get; init; }
    public IReadOnlyList<OutputDefinition> Outputs { get; init; } = [];
    public IReadOnlyList<DependencyEdge> DependsOn { get; init; } = [];
    public int? IterationLimit { get; init; }
    public bool IterationScoped { get; init; }

    /// <summary>Activity-level <c>streaming</c> (normalised to a bool; also taken from <c>settings.streaming</c>),
    /// or null when not given. Copied into the delivered settings (worker-protocol).</summary>
    public bool? Streaming { get; init; }
    public bool IsLoopActivity { get; init; }

    /// <summary><c>concurrency</c>, <c>rate_limit</c> and <c>priority</c>; null when none is given.</summary>
    public ActivityQueueing? Queueing { get; init; }
    public ActivitySettings Settings { get; init; } = new();

    /// <summary><c>for_each</c> and its settings when the activity is a map (docs/workflow-format.md#maps), else null.</summary>
    public MapSettings? Map { get; init; }

    /// <summary>The normalised <c>settings</c> object as delivered to workers, or null when absent.</summary>
    public JsonObject? SettingsJson { get; init; }

    /// <summary><c>workflow:</c> when the activity runs a child workflow (docs/workflow-format.md#child-workflows), else null.</summary>
    public ChildWorkflow? Workflow { get; init; }

    /// <summary>Index in definition order.</summary>
    public int Index { get; init; }
}

public sealed record OutputDefinition(string Name, string Type);

public sealed record DependencyEdge(string ActivityKey, IReadOnlyList<string> Conditions, bool IsBackEdge);

public sealed class ActivitySettings
{
    public int? TimeoutSeconds { get; init; }
    public RetryPolicy? Retry { get; init; }
    public BudgetSettings? Budget { get; init; }
    public bool Cache { get; init; }
    public int? CacheTtl { get; init; }
    public JsonNode? CacheKey { get; init; }
    public string? Delay { get; init; }
    public string? ScheduledFor { get; init; }
    public SignalWait? WaitForSignal { get; init; }
}

public sealed record RetryPolicy(int MaxAttempts, string Strategy, double BaseSeconds, double Factor, double MaxSeconds)
{
    public static RetryPolicy Default(int retries) => new(retries + 1, "exponential", 2, 2.0, 300);
}

public sealed record BudgetSettings(decimal Limit, string Action);

public sealed record SignalWait(string EventName, int? TimeoutSeconds, string OnTimeout);

/// <summary>A loop: back-edge Tail → Head plus its body (every activity on a path head → tail).</summary>
public sealed record LoopDefinition(string Head, string Tail, IReadOnlyList<string> Body);
