using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using Spindle.Protocol;
using Spindle.Server.Hosting;
using Spindle.Server.Wakeups;
using Spindle.Storage;
using ActivityError = Spindle.Storage.ActivityError;
using ClaimedActivity = Spindle.Storage.ClaimedActivity;
using Wire = Spindle.Protocol;

namespace Spindle.Server.Api;

/// <summary>The worker protocol (docs/worker-protocol.md, docs/api.md).</summary>
public static class WorkersApi
{
    public static RouteGroupBuilder MapWorkersApi(this RouteGroupBuilder api)
    {
        api.MapPost("/workers/poll", PollActivities).WithTags("Workers").WithSummary("Claim queued activities for a routing key (long-poll with wait_seconds)")
            .JsonBody<PollRequest>().Answers<PollResponse>(200, 400, 422);
        api.MapPost("/activities/{activityId}/heartbeat", HeartbeatActivity).WithTags("Workers").WithSummary("Renew the lease of a running activity")
            .JsonBody<HeartbeatRequest>().Answers<HeartbeatResponse>(200, 404, 409, 422);
        api.MapPost("/activities/{activityId}/complete", CompleteActivity).WithTags("Workers").WithSummary("Report an activity's output (and optionally claim what it unblocks)")
            .JsonBody<CompleteRequest>().Answers<CompleteResponse>(200, 404, 409, 422);
        api.MapPost("/activities/{activityId}/fail", FailActivity).WithTags("Workers").WithSummary("Report an activity's failure; retryable errors are retried per policy")
            .JsonBody<FailRequest>().Answers<FailResponse>(200, 404, 409, 422);
        api.MapPost("/workers/report", WorkerReportsApi.ReportActivities).WithTags("Workers")
            .WithSummary("Report several completions and failures at once; each is answered as its single route would answer it")
            .JsonBody<ReportRequest>().Answers<ReportResponse>(200, 400, 422);
        return api;
    }

    public static async Task<IResult> PollActivities(HttpRequest request, IWorkflowStore store, WakeupHub hub,
        PollCoordinator polls, IHostApplicationLifetime lifetime, WorkerPresenceRecorder presence, CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        var (asked, invalid) = ReadPoll(body!);
        if (invalid is not null)
        {
            return invalid;
        }
        var (routingKey, workerId, max, wait, pollId, names) =
            (asked!.RoutingKey, asked.WorkerId, asked.MaxActivities, asked.WaitSeconds ?? 0, asked.PollId, asked.ActivityNames);
        presence.Seen(routingKey!, workerId!, max); // no I/O here: throttled, written in the background
        var claimed = await polls.PollAsync(store, hub, new ClaimCommand(routingKey!, workerId!, max, names), pollId, wait,
            lifetime.ApplicationStopping, cancellationToken);
        return Json.Result(Polled(claimed), SpindleJsonContext.Default.PollResponse);
    }

    private static (Wire.PollRequest? Request, IResult? Error) ReadPoll(JsonObject body)
    {
        var fields = new Fields(body);
        var routingKey = fields.String("worker", required: true);
        var workerId = fields.String("worker_id", required: true, maxLength: 255);
        var max = fields.Int("max_activities", 1, 1, 100);
        var wait = fields.Int("wait_seconds", 0, 0, 30);
        // The worker's name for this long-poll: its completions may then offer the poll's slots (claim_next_from_poll).
        var pollId = fields.String("poll_id", required: false, maxLength: 64);
        var names = ActivityNames(body, fields);
        return fields.HasErrors
            ? (null, ApiErrors.Validation(fields.Errors))
            : (new Wire.PollRequest { RoutingKey = routingKey!, WorkerId = workerId!, MaxActivities = max, WaitSeconds = wait, PollId = pollId, ActivityNames = names }, null);
    }

    private static List<string>? ActivityNames(JsonObject body, Fields fields)
    {
        var node = body["activity_names"];
        if (node is null || node.GetValueKind() == JsonValueKind.Null)
        {
            return null;
        }
        if (node is not JsonArray array || array.Count == 0
            || array.Any(n => n is null || n.GetValueKind() != JsonValueKind.String || n.GetValue<string>().Length == 0))
        {
            fields.Error("activity_names", "activity_names must be a non-empty array of non-empty strings, or omitted");
            return null;
        }
        return array.Select(n => n!.GetValue<string>()).ToList();
    }

    /// <summary>A poll's answer.</summary>
    private static Wire.PollResponse Polled(IReadOnlyList<ClaimedActivity> claimed) =>
        new() { Activities = Handed(claimed), Count = claimed.Count };

    /// <summary>
    /// The claimed activities as the wire's list: each a <see cref="Wire.ClaimedActivity"/>, kept as JSON in the
    /// response record (see <see cref="Wire.PollResponse"/>).
    /// </summary>
    internal static List<JsonNode?> Handed(IReadOnlyList<ClaimedActivity> claimed)
    {
        var list = new List<JsonNode?>(claimed.Count);
        foreach (var c in claimed)
        {
            var item = new Wire.ClaimedActivity
            {
                ActivityId = c.ActivityId,
                WorkflowId = c.WorkflowId,
                ActivityKey = c.ActivityKey,
                RoutingKey = c.RoutingKey,
                ActivityName = c.ActivityName,
                Parameters = c.Parameters,
                Settings = c.Delivery["settings"] as JsonObject,
                TimeoutSeconds = c.Delivery["timeout_seconds"]?.GetValue<int>(),
                OutputDefinitions = c.Delivery["output_definitions"] as JsonArray,
                SignalData = c.SignalData,
                Attempt = c.Attempt,
                Iteration = c.Iteration,
                LeaseSeconds = c.LeaseSeconds,
                Dependents = c.Delivery["dependents"]?.GetValue<int>(),
            };
            // A node wrapping the record: written straight through its metadata, without a detour through a tree.
            list.Add(JsonValue.Create(item, SpindleJsonContext.Default.ClaimedActivity));
        }
        return list;
    }

    public static async Task<IResult> HeartbeatActivity(string activityId, HttpRequest request, IWorkflowStore store, CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        var fields = new Fields(body!);
        var workerId = fields.String("worker_id", required: true, maxLength: 255);
        if (fields.HasErrors)
        {
            return ApiErrors.Validation(fields.Errors);
        }
        var heartbeat = new Wire.HeartbeatRequest { WorkerId = workerId! };
        var outcome = await store.HeartbeatAsync(activityId, heartbeat.WorkerId, cancellationToken);
        return outcome.Status switch
        {
            StoreStatus.NotFound => ApiErrors.NotFound($"Activity {activityId} not found"),
            StoreStatus.Conflict => ApiErrors.Conflict($"Activity {activityId} is not running under worker '{workerId}' (lease lost)"),
            _ => Json.Result(new Wire.HeartbeatResponse
            {
                Acknowledged = true,
                NextHeartbeatSeconds = NextHeartbeatSeconds(outcome.LeaseSeconds),
                CancelRequested = outcome.CancelRequested,
            }, SpindleJsonContext.Default.HeartbeatResponse),
        };
    }

    /// <summary>
    /// 30 s like the reference for the default 60 s lease and longer; half the lease for shorter ones, so every lease
    /// still sees a heartbeat before it runs out.
    /// </summary>
    public static int NextHeartbeatSeconds(int leaseSeconds) => Math.Max(1, Math.Min(30, leaseSeconds / 2));

    public static async Task<IResult> CompleteActivity(string activityId, HttpRequest request, IWorkflowStore store, ModelCatalog catalog,
        PollCoordinator polls, CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        var (completion, invalid) = ReadComplete(body!);
        if (invalid is not null)
        {
            return ApiErrors.Validation(invalid);
        }
        var recorded = await RecordCompleteAsync(activityId, completion!, store, catalog, polls, cancellationToken);
        return recorded.Status switch
        {
            StoreStatus.NotFound => ApiErrors.NotFound(recorded.Message!),
            StoreStatus.Conflict => ApiErrors.Conflict(recorded.Message!),
            _ => Json.Result(recorded.Answer!, SpindleJsonContext.Default.CompleteResponse),
        };
    }

    /// <summary>What recording one report came to: the store's status, its message, and the answer when it is Ok.</summary>
    internal sealed record Recorded<T>(StoreStatus Status, string? Message, T? Answer);

    /// <summary>Records a read completion: the one path of the complete route and of each completion in a batched report.</summary>
    internal static async Task<Recorded<Wire.CompleteResponse>> RecordCompleteAsync(string activityId, Wire.CompleteRequest completion,
        IWorkflowStore store, ModelCatalog catalog, PollCoordinator polls, CancellationToken cancellationToken)
    {
        var (workerId, output, claimNext, fromPoll, pollId, routingKey, names) = (completion.WorkerId, completion.Output,
            completion.ClaimNext ?? 0, completion.ClaimNextFromPoll ?? 0, completion.PollId, completion.RoutingKey, completion.ActivityNames);
        var warnings = new List<string>();
        var report = Price(completion.CostUsd ?? 0m, completion.Usage, catalog, warnings);
        var next = claimNext > 0 ? new ClaimNext(routingKey, claimNext, names) : null;
        var outcome = await polls.CompleteAsync(store, activityId, workerId, output.DeepClone().AsObject(), report, next,
            fromPoll > 0 ? pollId : null, fromPoll, cancellationToken);
        return new(outcome.Status, outcome.Message, outcome.Status is StoreStatus.NotFound or StoreStatus.Conflict ? null : new Wire.CompleteResponse
        {
            Acknowledged = true,
            // With claim-next, what the completion claimed (maybe nothing); without, neither field.
            Activities = next is null ? null : Handed(outcome.Claimed ?? []),
            Count = next is null ? null : outcome.Claimed?.Count ?? 0,
            Warnings = warnings.Count > 0 ? warnings : null,
        });
    }

    /// <summary>
    /// Reads a completion by hand, so that every problem is named under its field (<c>usage[1].model</c>); the money
    /// fields accept a decimal string or a number. A batched report passes its <paramref name="workerId"/>: its items
    /// carry none.
    /// </summary>
    internal static (Wire.CompleteRequest? Request, IReadOnlyDictionary<string, IReadOnlyList<string>>? Errors) ReadComplete(JsonObject body,
        string? workerId = null)
    {
        var fields = new Fields(body);
        workerId ??= fields.String("worker_id", required: true, maxLength: 255);
        var output = fields.Object("output", required: true);
        var cost = fields.Money("cost_usd");
        var usage = ReadUsage(body, fields);
        // The claim-next extension: the worker's freed slot takes the next step in the same transaction.
        var claimNext = fields.Int("claim_next", 0, 0, 100);
        // The slots the worker's long-poll poll_id holds: usable too while that poll is this server's.
        var fromPoll = fields.Int("claim_next_from_poll", 0, 0, 100);
        var pollId = fields.String("poll_id", required: false, maxLength: 64);
        var routingKey = fields.String("worker", required: false);
        var names = ActivityNames(body, fields);
        return fields.HasErrors
            ? (null, fields.Errors)
            : (new Wire.CompleteRequest
            {
                WorkerId = workerId!,
                Output = output!,
                CostUsd = cost,
                Usage = usage,
                ClaimNext = claimNext,
                ClaimNextFromPoll = fromPoll,
                PollId = pollId,
                RoutingKey = routingKey,
                ActivityNames = names,
            }, null);
    }

    public static async Task<IResult> FailActivity(string activityId, HttpRequest request, IWorkflowStore store, ModelCatalog catalog,
        CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        var (failure, invalid) = ReadFail(body!);
        if (invalid is not null)
        {
            return ApiErrors.Validation(invalid);
        }
        var recorded = await RecordFailAsync(activityId, failure!, store, catalog, cancellationToken);
        return recorded.Status switch
        {
            StoreStatus.NotFound => ApiErrors.NotFound(recorded.Message!),
            StoreStatus.Conflict => ApiErrors.Conflict(recorded.Message!),
            _ => Json.Result(recorded.Answer!, SpindleJsonContext.Default.FailResponse),
        };
    }

    /// <summary>Records a read failure: the one path of the fail route and of each failure in a batched report.</summary>
    internal static async Task<Recorded<Wire.FailResponse>> RecordFailAsync(string activityId, Wire.FailRequest failure, IWorkflowStore store,
        ModelCatalog catalog, CancellationToken cancellationToken)
    {
        var warnings = new List<string>();
        var report = Price(failure.CostUsd ?? 0m, failure.Usage, catalog, warnings);
        var activityError = new ActivityError(failure.Error.Code, failure.Error.Message, failure.Error.Retryable);
        var outcome = await store.FailAsync(new FailCommand(activityId, failure.WorkerId, activityError, report), cancellationToken);
        return new(outcome.Status, outcome.Message, outcome.Status is StoreStatus.NotFound or StoreStatus.Conflict ? null : new Wire.FailResponse
        {
            Acknowledged = true,
            WillRetry = outcome.WillRetry,
            Warnings = warnings.Count > 0 ? warnings : null,
        });
    }

    /// <summary>Reads a failure report by hand; problems inside <c>error</c> are named <c>error.code</c> and so on.</summary>
    internal static (Wire.FailRequest? Request, IReadOnlyDictionary<string, IReadOnlyList<string>>? Errors) ReadFail(JsonObject body,
        string? workerId = null)
    {
        var fields = new Fields(body);
        workerId ??= fields.String("worker_id", required: true, maxLength: 255);
        var errorObject = fields.Object("error", required: true);
        var cost = fields.Money("cost_usd");
        var usage = ReadUsage(body, fields);
        Wire.ActivityError? activityError = null;
        if (errorObject is not null)
        {
            var errorFields = new Fields(errorObject);
            var code = errorFields.String("code", required: true);
            var message = errorFields.String("message", required: true);
            var retryable = errorFields.Bool("retryable", false);
            foreach (var (field, messages) in errorFields.Errors)
            {
                foreach (var m in messages)
                {
                    fields.Error("error." + field, m);
                }
            }
            if (code is not null && message is not null)
            {
                activityError = new Wire.ActivityError { Code = code, Message = message, Retryable = retryable };
            }
        }
        return fields.HasErrors || activityError is null
            ? (null, fields.Errors)
            : (new Wire.FailRequest { WorkerId = workerId!, Error = activityError, CostUsd = cost, Usage = usage }, null);
    }

    /// <summary>Prices the usage lines that carry no cost; an echo result without usage allocates nothing.</summary>
    private static CostReport Price(decimal cost, IReadOnlyList<UsageLine>? usage, ModelCatalog catalog, List<string> warnings) =>
        usage is null or { Count: 0 }
            ? CostReport.Of(cost)
            : new CostReport(cost, UsagePricing.Price(catalog, usage.Select(ToReport).ToList(), warnings));

    /// <summary>A usage line as the engine counts it: the provider lower-cased, names trimmed.</summary>
    private static UsageReport ToReport(UsageLine line) => new(
        line.Provider.Trim().ToLower(CultureInfo.InvariantCulture), line.Model.Trim(),
        new TokenUsage(line.InputTokens, line.OutputTokens, line.CacheReadTokens, line.CacheCreationTokens, line.CacheStorageTokenHours ?? 0m),
        line.CostUsd);

    /// <summary>The usage lines of a complete/fail report (docs/worker-protocol.md); token fields default to 0.</summary>
    private static List<UsageLine>? ReadUsage(JsonObject body, Fields fields)
    {
        var usage = body["usage"];
        if (usage is null || usage.GetValueKind() == JsonValueKind.Null)
        {
            return null;
        }
        if (usage is not JsonArray lines)
        {
            fields.Error("usage", "usage must be an array of {provider, model, ...} lines");
            return null;
        }
        var result = new List<UsageLine>(lines.Count);
        for (var i = 0; i < lines.Count; i++)
        {
            var path = $"usage[{i}]";
            if (lines[i] is not JsonObject line
                || line["provider"] is not JsonValue p || p.GetValueKind() != JsonValueKind.String || p.GetValue<string>().Trim().Length == 0
                || line["model"] is not JsonValue m || m.GetValueKind() != JsonValueKind.String || m.GetValue<string>().Trim().Length == 0)
            {
                fields.Error(path, "each usage line needs non-empty provider and model strings");
                continue;
            }
            var ok = true;
            long Tokens(string name)
            {
                var node = line[name];
                if (node is null || node.GetValueKind() == JsonValueKind.Null)
                {
                    return 0;
                }
                if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<long>(out var n) && n >= 0)
                {
                    return n;
                }
                fields.Error($"{path}.{name}", $"{name} must be a non-negative integer");
                ok = false;
                return 0;
            }
            decimal? Decimal(string name)
            {
                if (BudgetParameters.TryReadDecimal(line[name], out var value) && value is not < 0)
                {
                    return value;
                }
                fields.Error($"{path}.{name}", $"{name} must be a non-negative decimal (a string such as \"0.0021\" or a number)");
                ok = false;
                return null;
            }
            var usageLine = new UsageLine
            {
                Provider = p.GetValue<string>(),
                Model = m.GetValue<string>(),
                InputTokens = Tokens("input_tokens"),
                OutputTokens = Tokens("output_tokens"),
                CacheReadTokens = Tokens("cache_read_tokens"),
                CacheCreationTokens = Tokens("cache_creation_tokens"),
                CacheStorageTokenHours = Decimal("cache_storage_token_hours") ?? 0m,
                CostUsd = Decimal("cost_usd"),
            };
            if (ok)
            {
                result.Add(usageLine);
            }
        }
        return result;
    }
}
