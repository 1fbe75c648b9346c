using System.ComponentModel;
using System.Text.Json.Nodes;

namespace Spindle.Server.Api;

// The shapes of the main request and response bodies, for the OpenAPI document only: handlers read and write JSON
// by hand (to name the offending field in a 422 and keep numbers exact), so these records are never bound or
// serialized. Property names become snake_case through the server's JSON naming policy.

[Description("Submit a run of a deployed definition.")]
public sealed record SubmitWorkflowRequest(
    [property: Description("Name of a deployed workflow definition.")] string DefinitionName,
    [property: Description("Definition version; the latest when omitted.")] string? Version = null,
    [property: Description("Read by templates as INPUT.")] JsonObject? Input = null,
    [property: Description("At most one running workflow per key (1-255 characters).")] string? UniqueKey = null);

public sealed record SubmitWorkflowResponse(string WorkflowId, string DefinitionName, string DefinitionVersion, string Status, string CreatedAt);

[Description("The version stored for a deployed definition (YAML or JSON request body).")]
public sealed record DeployDefinitionResponse(string Name, string Version, string CreatedAt, bool? Unchanged = null, IReadOnlyList<string>? Warnings = null);

[Description("Claim up to max_activities queued activities for one routing key.")]
public sealed record PollRequest(
    [property: Description("Routing key: only activities with this `worker` are claimed.")] string Worker,
    [property: Description("This worker process's id (1-255 characters); it owns the leases it claims.")] string WorkerId,
    [property: Description("1-100, default 1.")] int? MaxActivities = null,
    [property: Description("Long-poll: wait up to this many seconds (0-30, default 0) for work.")] int? WaitSeconds = null,
    [property: Description("Claim only activities with these activity_name values.")] IReadOnlyList<string>? ActivityNames = null,
    [property: Description("Spindle extension: names this long-poll so the worker's completions may take its slots (claim_next_from_poll).")] string? PollId = null);

public sealed record ClaimedActivityResponse(
    string ActivityId, string WorkflowId, string ActivityKey, string Worker, string ActivityName, JsonObject Parameters,
    JsonObject? Settings, int? TimeoutSeconds, int Attempt, int Iteration,
    [property: Description("The lease; heartbeat before it runs out.")] int LeaseSeconds,
    [property: Description("Outputs the worker should upload as files (from the definition's outputs list).")] JsonArray? OutputDefinitions = null,
    [property: Description("The signal's data, for an activity that waited for one.")] JsonNode? SignalData = null);

public sealed record PollResponse(IReadOnlyList<ClaimedActivityResponse> Activities, int Count);

public sealed record HeartbeatRequest(string WorkerId);

public sealed record HeartbeatResponse(
    bool Acknowledged,
    [property: Description("Send the next heartbeat within this many seconds (30 for the default 60 s lease).")] int NextHeartbeatSeconds,
    [property: Description("The workflow was cancelled or passed its deadline: stop and report fail with CANCELLED.")] bool CancelRequested);

public sealed record CompleteRequest(
    string WorkerId,
    [property: Description("Each top-level key becomes one named output of the activity.")] JsonObject Output,
    [property: Description("Decimal string or number, USD.")] string? CostUsd = null,
    JsonNode? Usage = null,
    [property: Description("Spindle extension: also claim up to this many activities this completion unblocks (0-100).")] int? ClaimNext = null,
    [property: Description("Spindle extension: claim unblocked work into the free slots of the named waiting poll.")] int? ClaimNextFromPoll = null,
    string? PollId = null,
    [property: Description("Routing key for claim_next.")] string? Worker = null);

[Description("Acknowledged; with claim_next, the activities claimed for the worker.")]
public sealed record CompleteResponse(bool Acknowledged, IReadOnlyList<string>? Warnings = null, IReadOnlyList<ClaimedActivityResponse>? Activities = null, int? Count = null);

public sealed record ActivityErrorBody(string Code, string Message, bool? Retryable = null);

public sealed record FailRequest(string WorkerId, ActivityErrorBody Error, string? CostUsd = null, JsonNode? Usage = null);

public sealed record FailResponse(bool Acknowledged, bool WillRetry, IReadOnlyList<string>? Warnings = null);

public sealed record SignalRequest(
    [property: Description("Alias: signal_name.")] string EventName,
    [property: Description("The waiting activity; any activity waiting on event_name when omitted.")] string? ActivityKey = null,
    [property: Description("Delivered to the activity as signal_data and SIGNAL.")] JsonObject? Data = null);

public sealed record SignalResponse(bool Signaled, string Message);

public sealed record ErrorDetail(string Code, string Message, JsonObject? Details = null);

[Description("Every error: {\"error\": {code, message, details?}}; a 422 lists details.field_errors.")]
public sealed record ErrorEnvelope(ErrorDetail Error);
