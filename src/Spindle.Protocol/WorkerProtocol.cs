using System.ComponentModel;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Spindle.Protocol;

// The worker protocol (docs/worker-protocol.md-6). Optional request fields are left out of the body when null (the
// reference server rejects some nulls); response fields the server always writes are written even when null.

/// <summary>Body of <c>POST /api/v1/workers/poll</c>.</summary>
[Description("Claim up to max_activities queued activities for one routing key.")]
public sealed record PollRequest
{
    [Description("Routing key: only activities with this `worker` are claimed.")]
    [JsonPropertyName("worker")]
    public required string RoutingKey { get; init; }

    [Description("This worker process's id (1-255 characters); it owns the leases it claims.")]
    public required string WorkerId { get; init; }

    [Description("1-100, default 1.")]
    public int MaxActivities { get; set; } = 1;

    [Description("Long-poll: wait up to this many seconds (0-30, default 0) for work.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? WaitSeconds { get; init; }

    /// <summary>This worker's name for the long-poll, so that its completions can offer the poll's slots (claim-next).</summary>
    [Description("Spindle extension: names this long-poll so the worker's completions may take its slots (claim_next_from_poll).")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? PollId { get; init; }

    [Description("Claim only activities with these activity_name values.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? ActivityNames { get; init; }
}

/// <summary>Answer to a poll.</summary>
/// <remarks>
/// Activities are raw JSON (each one a <see cref="ClaimedActivity"/>) so that the worker reads them one by one and one
/// malformed entry cannot hide the others; the OpenAPI document names their schema.
/// </remarks>
public sealed record PollResponse
{
    public List<JsonNode?> Activities { get; set; } = [];

    public int Count { get; init; }
}

/// <summary>One claimed activity as delivered by a poll (docs/worker-protocol.md).</summary>
/// <remarks>Properties with defaults use <c>set</c>: the source generator would reset missing init-only members to default(T).</remarks>
public sealed record ClaimedActivity
{
    public string ActivityId { get; set; } = "";

    public string WorkflowId { get; set; } = "";

    public string ActivityKey { get; set; } = "";

    /// <summary>The routing key (<c>worker</c> on the wire).</summary>
    [JsonPropertyName("worker")]
    public string RoutingKey { get; set; } = "";

    public string ActivityName { get; set; } = "";

    public JsonNode? Parameters { get; init; }

    public JsonObject? Settings { get; init; }

    /// <summary><c>settings.timeout_seconds</c>, or null when unset.</summary>
    public int? TimeoutSeconds { get; init; }

    [Description("Outputs the worker should upload as files (from the definition's outputs list).")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonArray? OutputDefinitions { get; init; }

    [Description("The signal's data, for an activity that waited for one.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonNode? SignalData { get; init; }

    public int Attempt { get; set; } = 1;

    public int Iteration { get; init; }

    /// <summary>Effective lease length (Spindle addition); null from servers that do not send it.</summary>
    [Description("The lease; heartbeat before it runs out.")]
    public int? LeaseSeconds { get; init; }

    /// <summary>
    /// How many activities name this one in their <c>depends_on</c> (Spindle addition): what its result can unblock,
    /// so a worker knows how many slots its <c>claim_next</c> may use. Null from servers that do not send it.
    /// </summary>
    [Description("How many activities depend on this one: slots worth reserving for the completion's claim_next.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Dependents { get; init; }
}

public sealed record HeartbeatRequest
{
    public required string WorkerId { get; init; }
}

public sealed record HeartbeatResponse
{
    public bool Acknowledged { get; init; }

    [Description("Send the next heartbeat within this many seconds (30 for the default 60 s lease).")]
    public int? NextHeartbeatSeconds { get; init; }

    [Description("The workflow was cancelled or passed its deadline: stop and report fail with CANCELLED.")]
    public bool CancelRequested { get; init; }
}

/// <summary>One model call's usage line of a complete/fail report.</summary>
public sealed record UsageLine
{
    public required string Provider { get; init; }

    public required string Model { get; init; }

    public long InputTokens { get; init; }

    public long OutputTokens { get; init; }

    public long CacheReadTokens { get; init; }

    public long CacheCreationTokens { get; init; }

    [JsonNumberHandling(JsonNumberHandling.WriteAsString | JsonNumberHandling.AllowReadingFromString)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public decimal? CacheStorageTokenHours { get; init; }

    [JsonNumberHandling(JsonNumberHandling.WriteAsString | JsonNumberHandling.AllowReadingFromString)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public decimal? CostUsd { get; init; }
}

public sealed record CompleteRequest
{
    public required string WorkerId { get; init; }

    [Description("Each top-level key becomes one named output of the activity.")]
    public required JsonObject Output { get; init; }

    [Description("Decimal string or number, USD.")]
    [JsonNumberHandling(JsonNumberHandling.WriteAsString | JsonNumberHandling.AllowReadingFromString)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public decimal? CostUsd { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<UsageLine>? Usage { get; init; }

    /// <summary>The <c>claim-next</c> extension: how many of the workflow's next activities to lease with the answer.</summary>
    [Description("Spindle extension: also claim up to this many activities this completion unblocks (0-100).")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ClaimNext { get; init; }

    /// <summary>
    /// Slots held by this worker's waiting long-poll that the server may use for those claims too (it takes them from
    /// the poll, which then answers with that many fewer); every activity beyond <see cref="ClaimNext"/> came from them.
    /// </summary>
    [Description("Spindle extension: claim unblocked work into the free slots of the named waiting poll.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ClaimNextFromPoll { get; init; }

    /// <summary>The long-poll whose slots <see cref="ClaimNextFromPoll"/> offers (its <see cref="PollRequest.PollId"/>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? PollId { get; init; }

    /// <summary>Routing key of those claims (with <see cref="ClaimNext"/>).</summary>
    [Description("Routing key for claim_next.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonPropertyName("worker")]
    public string? RoutingKey { get; init; }

    /// <summary>Activity-name filter of those claims (with <see cref="ClaimNext"/>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? ActivityNames { get; init; }
}

[Description("Acknowledged; with claim_next, the activities claimed for the worker.")]
public sealed record CompleteResponse
{
    public bool Acknowledged { get; init; }

    /// <summary>Activities leased with the answer (claim-next), raw as in <see cref="PollResponse"/>; null when none were asked for.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<JsonNode?>? Activities { get; set; }

    /// <summary>How many activities came with the answer (with claim-next only).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Count { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Warnings { get; init; }
}

/// <summary>The <c>error</c> object of a fail report.</summary>
public sealed record ActivityError
{
    public required string Code { get; init; }

    public required string Message { get; init; }

    /// <summary>Always written: the reference server requires it.</summary>
    public bool Retryable { get; init; }
}

public sealed record FailRequest
{
    public required string WorkerId { get; init; }

    public required ActivityError Error { get; init; }

    [JsonNumberHandling(JsonNumberHandling.WriteAsString | JsonNumberHandling.AllowReadingFromString)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public decimal? CostUsd { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<UsageLine>? Usage { get; init; }
}

public sealed record FailResponse
{
    public bool Acknowledged { get; init; }

    public bool WillRetry { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Warnings { get; init; }
}
