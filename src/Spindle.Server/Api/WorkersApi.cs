using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using Spindle.Server.Wakeups;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>The worker protocol (worker-protocol.md §3–6, http-api.md §15.2–15.3).</summary>
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
        return api;
    }

    public static async Task<IResult> PollActivities(HttpRequest request, IWorkflowStore store, WakeupHub hub,
        PollCoordinator polls, IHostApplicationLifetime lifetime, CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        var fields = new Fields(body!);
        var worker = fields.String("worker", required: true);
        var workerId = fields.String("worker_id", required: true, maxLength: 255);
        var max = fields.Int("max_activities", 1, 1, 100);
        var wait = fields.Int("wait_seconds", 0, 0, 30);
        // The worker's name for this long-poll: its completions may then offer the poll's slots (claim_next_from_poll).
        var pollId = fields.String("poll_id", required: false, maxLength: 64);
        var names = ActivityNames(body!, fields);
        if (fields.HasErrors)
        {
            return ApiErrors.Validation(fields.Errors);
        }
        var claimed = await polls.PollAsync(store, hub, new ClaimCommand(worker!, workerId!, max, names), pollId, wait,
            lifetime.ApplicationStopping, cancellationToken);
        return Json.Result(ClaimedJson(claimed));
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

    /// <summary>A poll's answer; with <paramref name="acknowledged"/>, a completion's (claim-next) answer.</summary>
    private static JsonObject ClaimedJson(IReadOnlyList<ClaimedActivity> claimed, bool acknowledged = false)
    {
        var list = new JsonArray();
        foreach (var c in claimed)
        {
            var item = new JsonObject
            {
                ["activity_id"] = c.ActivityId,
                ["workflow_id"] = c.WorkflowId,
                ["activity_key"] = c.ActivityKey,
                ["worker"] = c.Worker,
                ["activity_name"] = c.ActivityName,
                ["parameters"] = c.Parameters,
                ["settings"] = c.Delivery["settings"]?.DeepClone(),
                ["timeout_seconds"] = c.Delivery["timeout_seconds"]?.DeepClone(),
            };
            if (c.Delivery["output_definitions"] is { } outputs)
            {
                item["output_definitions"] = outputs.DeepClone();
            }
            if (c.SignalData is not null)
            {
                item["signal_data"] = c.SignalData;
            }
            item["attempt"] = c.Attempt;
            item["iteration"] = c.Iteration;
            item["lease_seconds"] = c.LeaseSeconds;
            list.Add(item);
        }
        var answer = acknowledged ? new JsonObject { ["acknowledged"] = true } : [];
        answer["activities"] = list;
        answer["count"] = claimed.Count;
        return answer;
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
        var outcome = await store.HeartbeatAsync(activityId, workerId!, cancellationToken);
        return outcome.Status switch
        {
            StoreStatus.NotFound => ApiErrors.NotFound($"Activity {activityId} not found"),
            StoreStatus.Conflict => ApiErrors.Conflict($"Activity {activityId} is not running under worker '{workerId}' (lease lost)"),
            _ => Json.Result(new JsonObject
            {
                ["acknowledged"] = true,
                ["next_heartbeat_seconds"] = NextHeartbeatSeconds(outcome.LeaseSeconds),
                ["cancel_requested"] = outcome.CancelRequested,
            }),
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
        var fields = new Fields(body!);
        var workerId = fields.String("worker_id", required: true, maxLength: 255);
        var output = fields.Object("output", required: true);
        var cost = fields.Money("cost_usd");
        var usage = ReadUsage(body!, fields);
        // The claim-next extension: the worker's freed slot takes the next step in the same transaction.
        var claimNext = fields.Int("claim_next", 0, 0, 100);
        // The slots the worker's long-poll poll_id holds: usable too while that poll is this server's.
        var fromPoll = fields.Int("claim_next_from_poll", 0, 0, 100);
        var pollId = fields.String("poll_id", required: false, maxLength: 64);
        var worker = fields.String("worker", required: false);
        var names = ActivityNames(body!, fields);
        if (fields.HasErrors)
        {
            return ApiErrors.Validation(fields.Errors);
        }
        var warnings = new List<string>();
        var report = Price(cost, usage, catalog, warnings);
        var next = claimNext > 0 ? new ClaimNext(worker, claimNext, names) : null;
        var outcome = await polls.CompleteAsync(store, activityId, workerId!, output!.DeepClone().AsObject(), report, next,
            fromPoll > 0 ? pollId : null, fromPoll, cancellationToken);
        return outcome.Status switch
        {
            StoreStatus.NotFound => ApiErrors.NotFound(outcome.Message!),
            StoreStatus.Conflict => ApiErrors.Conflict(outcome.Message!),
            _ when next is not null => Json.Result(WithWarnings(ClaimedJson(outcome.Claimed ?? [], acknowledged: true), warnings)),
            _ => Json.Result(WithWarnings(new JsonObject { ["acknowledged"] = true }, warnings)),
        };
    }

    public static async Task<IResult> FailActivity(string activityId, HttpRequest request, IWorkflowStore store, ModelCatalog catalog,
        CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        var fields = new Fields(body!);
        var workerId = fields.String("worker_id", required: true, maxLength: 255);
        var errorObject = fields.Object("error", required: true);
        var cost = fields.Money("cost_usd");
        var usage = ReadUsage(body!, fields);
        ActivityError? activityError = null;
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
                activityError = new ActivityError(code, message, retryable);
            }
        }
        if (fields.HasErrors || activityError is null)
        {
            return ApiErrors.Validation(fields.Errors);
        }
        var warnings = new List<string>();
        var report = Price(cost, usage, catalog, warnings);
        var outcome = await store.FailAsync(activityId, workerId!, activityError, report, cancellationToken);
        return outcome.Status switch
        {
            StoreStatus.NotFound => ApiErrors.NotFound(outcome.Message!),
            StoreStatus.Conflict => ApiErrors.Conflict(outcome.Message!),
            _ => Json.Result(WithWarnings(new JsonObject { ["acknowledged"] = true, ["will_retry"] = outcome.WillRetry }, warnings)),
        };
    }

    /// <summary>Prices the usage lines that carry no cost; an echo result without usage allocates nothing.</summary>
    private static CostReport Price(decimal cost, List<UsageReport>? usage, ModelCatalog catalog, List<string> warnings) =>
        usage is null or { Count: 0 }
            ? CostReport.Of(cost)
            : new CostReport(cost, UsagePricing.Price(catalog, usage, warnings));

    private static JsonObject WithWarnings(JsonObject answer, List<string> warnings)
    {
        if (warnings.Count > 0)
        {
            answer["warnings"] = new JsonArray([.. warnings.Select(w => (JsonNode)w)]);
        }
        return answer;
    }

    /// <summary>The usage lines of a complete/fail report (worker-protocol.md §5); token fields default to 0.</summary>
    private static List<UsageReport>? ReadUsage(JsonObject body, Fields fields)
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
        var result = new List<UsageReport>(lines.Count);
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
            var tokens = new TokenUsage(Tokens("input_tokens"), Tokens("output_tokens"), Tokens("cache_read_tokens"),
                Tokens("cache_creation_tokens"), Decimal("cache_storage_token_hours") ?? 0m);
            var own = Decimal("cost_usd");
            if (ok)
            {
                result.Add(new UsageReport(p.GetValue<string>().Trim().ToLower(CultureInfo.InvariantCulture), m.GetValue<string>().Trim(), tokens, own));
            }
        }
        return result;
    }
}
