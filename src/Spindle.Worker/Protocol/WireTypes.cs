using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Spindle.Core.Common;

namespace Spindle.Worker.Protocol;

/// <summary>Body of <c>POST /api/v1/workers/poll</c>.</summary>
public sealed record PollRequest
{
    public required string Worker { get; init; }

    public required string WorkerId { get; init; }

    public int MaxActivities { get; set; } = 1;

    /// <summary>Long-poll wait; omitted from the body when null.</summary>
    public int? WaitSeconds { get; init; }

    /// <summary>This worker's name for the long-poll, so that its completions can offer the poll's slots (claim-next).</summary>
    public string? PollId { get; init; }

    public IReadOnlyList<string>? ActivityNames { get; init; }
}

/// <summary>Answer to a poll. Activities are kept as raw JSON so that one malformed entry cannot hide the others.</summary>
public sealed record PollResponse
{
    public List<JsonNode?> Activities { get; set; } = [];

    public int Count { get; init; }
}

/// <summary>One claimed activity as delivered by a poll (worker-protocol.md §3).</summary>
/// <remarks>Properties with defaults use <c>set</c>: the source generator would reset missing init-only members to default(T).</remarks>
public sealed record ClaimedActivity
{
    public string ActivityId { get; set; } = "";

    public string WorkflowId { get; set; } = "";

    public string ActivityKey { get; set; } = "";

    public string Worker { get; set; } = "";

    public string ActivityName { get; set; } = "";

    public JsonNode? Parameters { get; init; }

    public JsonObject? Settings { get; init; }

    /// <summary><c>settings.timeout_seconds</c>, or null when unset.</summary>
    public int? TimeoutSeconds { get; init; }

    public JsonArray? OutputDefinitions { get; init; }

    public JsonNode? SignalData { get; init; }

    public int Attempt { get; set; } = 1;

    public int Iteration { get; init; }

    /// <summary>Effective lease length (Spindle addition); null from servers that do not send it.</summary>
    public int? LeaseSeconds { get; init; }
}

public sealed record HeartbeatRequest
{
    public required string WorkerId { get; init; }
}

public sealed record HeartbeatResponse
{
    public bool Acknowledged { get; init; }

    public int? NextHeartbeatSeconds { get; init; }

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
    public decimal? CacheStorageTokenHours { get; init; }

    [JsonNumberHandling(JsonNumberHandling.WriteAsString | JsonNumberHandling.AllowReadingFromString)]
    public decimal? CostUsd { get; init; }
}

public sealed record CompleteRequest
{
    public required string WorkerId { get; init; }

    public required JsonObject Output { get; init; }

    [JsonNumberHandling(JsonNumberHandling.WriteAsString | JsonNumberHandling.AllowReadingFromString)]
    public decimal? CostUsd { get; init; }

    public IReadOnlyList<UsageLine>? Usage { get; init; }

    /// <summary>The <c>claim-next</c> extension: how many of the workflow's next activities to lease with the answer.</summary>
    public int? ClaimNext { get; init; }

    /// <summary>
    /// Slots held by this worker's waiting long-poll that the server may use for those claims too (it takes them from
    /// the poll, which then answers with that many fewer); every activity beyond <see cref="ClaimNext"/> came from them.
    /// </summary>
    public int? ClaimNextFromPoll { get; init; }

    /// <summary>The long-poll whose slots <see cref="ClaimNextFromPoll"/> offers (its <see cref="PollRequest.PollId"/>).</summary>
    public string? PollId { get; init; }

    /// <summary>Routing key of those claims (with <see cref="ClaimNext"/>).</summary>
    public string? Worker { get; init; }

    /// <summary>Activity-name filter of those claims (with <see cref="ClaimNext"/>).</summary>
    public IReadOnlyList<string>? ActivityNames { get; init; }
}

public sealed record CompleteResponse
{
    public bool Acknowledged { get; init; }

    public IReadOnlyList<string>? Warnings { get; init; }

    /// <summary>Activities leased with the answer (claim-next), raw as in <see cref="PollResponse"/>; null when none were asked for.</summary>
    public List<JsonNode?>? Activities { get; set; }
}

/// <summary>The <c>error</c> object of a fail report.</summary>
public sealed record ActivityError
{
    public required string Code { get; init; }

    public required string Message { get; init; }

    /// <summary>Always written: the reference server requires it.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public bool Retryable { get; init; }
}

public sealed record FailRequest
{
    public required string WorkerId { get; init; }

    public required ActivityError Error { get; init; }

    [JsonNumberHandling(JsonNumberHandling.WriteAsString | JsonNumberHandling.AllowReadingFromString)]
    public decimal? CostUsd { get; init; }

    public IReadOnlyList<UsageLine>? Usage { get; init; }
}

public sealed record FailResponse
{
    public bool Acknowledged { get; init; }

    public bool WillRetry { get; init; }

    public IReadOnlyList<string>? Warnings { get; init; }
}

public sealed record TokenRequest
{
    public string GrantType { get; set; } = "client_credentials";

    public required string ClientId { get; init; }

    public required string ClientSecret { get; init; }
}

public sealed record TokenResponse
{
    public string AccessToken { get; set; } = "";

    public string? TokenType { get; init; }

    public long? ExpiresIn { get; init; }
}

/// <summary><c>GET /api/v1/info</c>.</summary>
public sealed record ServerInfo
{
    public string? Version { get; init; }

    public string? ApiVersion { get; init; }

    public IReadOnlyList<string>? Features { get; init; }

    public bool? InsecureDev { get; init; }

    /// <summary>The server's request limits (absent on older servers).</summary>
    public ServerLimits? Limits { get; init; }
}

/// <summary>The <c>limits</c> of <c>GET /api/v1/info</c>.</summary>
public sealed record ServerLimits
{
    /// <summary>The largest request body the server reads; a larger one gets 413 <c>PAYLOAD_TOO_LARGE</c>.</summary>
    public long? MaxBodyBytes { get; init; }

    /// <summary>How deep a JSON document (an output, an input...) may nest.</summary>
    public int? MaxJsonDepth { get; init; }
}

/// <summary>The error envelope of http-api.md §3.</summary>
public sealed record ErrorEnvelope
{
    public ErrorBody? Error { get; init; }
}

public sealed record ErrorBody
{
    public string? Code { get; init; }

    public string? Message { get; init; }

    public JsonObject? Details { get; init; }
}

/// <summary>Source-generated serializer metadata for the wire types (snake_case, nulls omitted).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.AllowReadingFromString,
    RespectNullableAnnotations = true,
    // A document at the server's depth limit sits a few levels down in a poll answer or a completion.
    MaxDepth = JsonLimits.ReadMaxDepth)]
[JsonSerializable(typeof(PollRequest))]
[JsonSerializable(typeof(PollResponse))]
[JsonSerializable(typeof(ClaimedActivity))]
[JsonSerializable(typeof(HeartbeatRequest))]
[JsonSerializable(typeof(HeartbeatResponse))]
[JsonSerializable(typeof(CompleteRequest))]
[JsonSerializable(typeof(CompleteResponse))]
[JsonSerializable(typeof(FailRequest))]
[JsonSerializable(typeof(FailResponse))]
[JsonSerializable(typeof(TokenRequest))]
[JsonSerializable(typeof(TokenResponse))]
[JsonSerializable(typeof(ServerInfo))]
[JsonSerializable(typeof(ErrorEnvelope))]
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(JsonNode))]
public sealed partial class SpindleJsonContext : JsonSerializerContext;
