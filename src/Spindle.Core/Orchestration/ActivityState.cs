using System.Text.Json.Nodes;

namespace Spindle.Core.Orchestration;

/// <summary>
/// One activity of one workflow run: its current execution and what earlier executions left behind
/// (outputs, the count of finished executions). This row is also the queue entry.
/// </summary>
public sealed class ActivityState
{
    /// <summary>Identifies the current execution (workflow, key, iteration); a new loop round gets a new id.</summary>
    public required string Id { get; set; }
    public required string WorkflowId { get; init; }
    public required string Key { get; init; }
    public required string RoutingKey { get; init; }
    public required string ActivityName { get; init; }
    public string Status { get; set; } = ActivityStatus.NotScheduled;
    public int Attempt { get; set; } = 1;

    /// <summary>First attempt number of the current retry allowance (the retry extension grants a fresh one).</summary>
    public int AttemptBase { get; set; } = 1;
    public int MaxAttempts { get; set; } = 4;
    public int Iteration { get; set; }

    /// <summary>Finished executions: what templates read as <c>key.iteration</c>.</summary>
    public int Runs { get; set; }
    /// <summary>Resolved parameters, with <c>{{SECRET.name}}</c> in place of each secret's value.</summary>
    public JsonObject? Parameters { get; set; }

    /// <summary>Which parameter leaves printed secrets and how to rebuild them at hand-out (<see cref="SecretParameters"/>); null when none.</summary>
    public JsonArray? SecretParameters { get; set; }

    /// <summary>What a worker receives beside the parameters: settings, timeout_seconds, output_definitions.</summary>
    public JsonObject? Delivery { get; set; }
    public int LeaseSeconds { get; set; } = 60;
    public long? ReadyAt { get; set; }
    public string? LeaseOwner { get; set; }
    public long? LeaseUntil { get; set; }
    public JsonObject? Outputs { get; set; }
    public string? ErrorCode { get; set; }
    public string? ErrorMessage { get; set; }
    public long? StartedAt { get; set; }
    public long? ClaimedAt { get; set; }
    public long? CompletedAt { get; set; }
    public decimal Cost { get; set; }
    public bool CancelRequested { get; set; }
    public JsonNode? SignalData { get; set; }
    public long? SignalWaitUntil { get; set; }

    /// <summary>The current execution got its signal (or a continue timeout) and never waits again.</summary>
    public bool SignalSatisfied { get; set; }

    /// <summary>For an item of a map: the map's activity key (the item's own key is <c>key[index]</c>); else null.</summary>
    public string? MapOf { get; init; }

    /// <summary>For an item of a map: its 0-based position in the list (<c>ITEM_INDEX</c>).</summary>
    public int? MapIndex { get; init; }

    /// <summary>For an item of a map: the list element it runs for (<c>ITEM</c>).</summary>
    public JsonNode? MapItem { get; init; }

    /// <summary>For a map activity once expanded: its counts (the items themselves are rows of their own).</summary>
    public Maps.MapProgress? Map { get; set; }

    /// <summary>Claim order (<see cref="Definitions.ActivityQueueing"/>): higher first, ageing with time waited.</summary>
    public int Priority { get; set; }

    /// <summary>Rendered <c>concurrency.key</c> and its limit; null without one.</summary>
    public string? ConcurrencyKey { get; set; }
    public int? ConcurrencyLimit { get; set; }

    /// <summary>Rendered <c>rate_limit.key</c> and its bucket; null without one.</summary>
    public string? RateKey { get; set; }
    public double? RatePerSecond { get; set; }
    public double? RateBurst { get; set; }

    /// <summary>Whether only the claim statement may lease it (it has a concurrency or rate limit to respect).</summary>
    public bool IsGated => ConcurrencyKey is not null || RateKey is not null;

    public bool IsNew { get; set; }
    public bool IsDirty { get; set; }

    public bool IsTerminal => ActivityStatus.IsTerminal(Status);

    public int RetriesUsed => Attempt - AttemptBase;
}
