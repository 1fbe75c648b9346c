using System.ComponentModel;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Spindle.Protocol;

// The batched report of the worker protocol (docs/worker-protocol.md, "Batched reports"): several completions and
// failures of one worker in one request, each answered as its single route would answer it.

/// <summary>Body of <c>POST /api/v1/workers/report</c>.</summary>
[Description("Spindle extension (batch-report): up to 100 completions and failures of one worker in one request.")]
public sealed record ReportRequest
{
    [Description("The worker's id (1-255 characters): the lease owner of every reported activity.")]
    public required string WorkerId { get; init; }

    [Description("1-100 reports, answered in the same order.")]
    public required IReadOnlyList<ReportItem> Reports { get; init; }
}

/// <summary>
/// One report of a batch: the body of <c>complete</c> or <c>fail</c> (without <c>worker_id</c>) plus the activity id
/// and which of the two it is.
/// </summary>
public sealed record ReportItem
{
    public required string ActivityId { get; init; }

    [Description("complete or fail: which single route this report stands for.")]
    public required string Action { get; init; }

    [Description("complete: each top-level key becomes one named output of the activity.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonObject? Output { get; init; }

    [Description("fail: the error.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ActivityError? Error { get; init; }

    [Description("Decimal string or number, USD.")]
    [JsonNumberHandling(JsonNumberHandling.WriteAsString | JsonNumberHandling.AllowReadingFromString)]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public decimal? CostUsd { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<UsageLine>? Usage { get; init; }

    [Description("complete: claim-next, as in the complete route (0-100).")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ClaimNext { get; init; }

    [Description("complete: slots of the named waiting poll, as in the complete route (0-100).")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ClaimNextFromPoll { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? PollId { get; init; }

    [Description("Routing key for claim_next.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [JsonPropertyName("worker")]
    public string? RoutingKey { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? ActivityNames { get; init; }
}

/// <summary>Answer to a batched report: one result per report, in order.</summary>
public sealed record ReportResponse
{
    public List<ReportResult> Results { get; init; } = [];

    public int Count { get; init; }
}

/// <summary>
/// One report's outcome: <c>status</c> is what its single route would have answered; 200 carries that route's answer
/// fields, any other status the error body of its envelope.
/// </summary>
[Description("status 200: the fields of the complete or fail answer; otherwise error, as the single route's envelope.")]
public sealed record ReportResult
{
    [Description("The report's activity_id (null when the report had none).")]
    public string? ActivityId { get; init; }

    [Description("The HTTP status the single route would have answered: 200, 404, 409, 422 or 500.")]
    public int Status { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? Acknowledged { get; init; }

    [Description("fail: whether the server retries the activity.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? WillRetry { get; init; }

    /// <summary>Activities leased with a claim-next completion, raw as in <see cref="PollResponse"/>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<JsonNode?>? Activities { get; set; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Count { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Warnings { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ErrorBody? Error { get; init; }
}
