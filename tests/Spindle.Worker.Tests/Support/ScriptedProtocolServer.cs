using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Spindle.Worker.Tests.Support;

/// <summary>
/// A SCRIPTED stand-in for the Spindle server, for testing the worker's poll loop before the real server exists:
/// Kestrel on loopback implementing the worker routes of docs/worker-protocol.md (token, info, poll with long-poll,
/// heartbeat, complete, fail) over in-memory state, with hooks that make a test's scenario happen (409 on
/// heartbeat, cancel_requested, 5xx on complete, revoked tokens, …). It is not the server and checks no more
/// than the worker needs.
/// </summary>
internal sealed class ScriptedProtocolServer : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly Queue<JsonObject> _pending = new();
    private readonly Dictionary<string, ActivityState> _activities = new(StringComparer.Ordinal);
    private readonly HashSet<string> _validTokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource<Report>> _reportWaiters = new(StringComparer.Ordinal);
    private TaskCompletionSource _enqueued = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private LoopbackServer? _server;
    private int _tokenCounter;

    private ScriptedProtocolServer()
    {
    }

    public Uri BaseAddress => _server!.BaseAddress;

    /// <summary>When true, every worker route needs a bearer token from the token endpoint.</summary>
    public bool RequireAuth { get; init; }

    public string ClientId { get; init; } = "test-client";

    public string ClientSecret { get; init; } = "test-secret";

    /// <summary>When true, every token is rejected with 401 (even freshly issued ones).</summary>
    public bool RejectAllTokens { get; set; }

    /// <summary>Whether /api/v1/info lists the long-poll feature.</summary>
    public bool LongPoll { get; init; } = true;

    /// <summary>Decides each heartbeat's answer (the call's number per activity starts at 1). Default: acknowledge.</summary>
    public Func<string, int, HeartbeatReply>? OnHeartbeat { get; set; }

    /// <summary>Returns a status to answer a complete/fail call with instead of processing it (null = process normally).</summary>
    public Func<string, int, int?>? OnReport { get; set; }

    public ConcurrentQueue<PollCall> Polls { get; } = new();

    public ConcurrentQueue<string> Heartbeats { get; } = new();

    public ConcurrentQueue<Report> Reports { get; } = new();

    /// <summary>The Authorization header of every worker-route call (null when absent).</summary>
    public ConcurrentQueue<string?> AuthorizationHeaders { get; } = new();

    public int TokensIssued => Volatile.Read(ref _tokenCounter);

    public int UnauthorizedAnswers;

    public int AbortedPolls;

    public static async Task<ScriptedProtocolServer> StartAsync(bool requireAuth = false, bool longPoll = true)
    {
        var server = new ScriptedProtocolServer { RequireAuth = requireAuth, LongPoll = longPoll };
        server._server = await LoopbackServer.StartAsync(server.Map);
        return server;
    }

    /// <summary>Makes an activity claimable. <paramref name="parameters"/> may be any JSON (to test malformed claims).</summary>
    public void Enqueue(string activityId, string activityName, JsonNode? parameters = null, int? timeoutSeconds = null, int leaseSeconds = 30, JsonObject? settings = null)
    {
        var claim = new JsonObject
        {
            ["activity_id"] = activityId,
            ["workflow_id"] = "wf-" + activityId,
            ["activity_key"] = "key-" + activityId,
            ["worker"] = "std",
            ["activity_name"] = activityName,
            ["parameters"] = parameters ?? new JsonObject(),
            ["settings"] = settings ?? (timeoutSeconds is { } t ? new JsonObject { ["timeout_seconds"] = t } : null),
            ["timeout_seconds"] = timeoutSeconds,
            ["attempt"] = 1,
            ["iteration"] = 0,
            ["lease_seconds"] = leaseSeconds,
        };
        EnqueueRaw(claim);
    }

    public void EnqueueRaw(JsonObject claim)
    {
        TaskCompletionSource signal;
        lock (_lock)
        {
            _pending.Enqueue(claim);
            signal = _enqueued;
            _enqueued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        signal.TrySetResult();
    }

    /// <summary>Invalidates every token issued so far: the next call with one gets 401.</summary>
    public void RevokeTokens()
    {
        lock (_lock)
        {
            _validTokens.Clear();
        }
    }

    /// <summary>Waits for the accepted complete or fail of <paramref name="activityId"/>.</summary>
    public async Task<Report> WaitForReportAsync(string activityId, TimeSpan? timeout = null)
    {
        TaskCompletionSource<Report> waiter = _reportWaiters.GetOrAdd(activityId, _ => new TaskCompletionSource<Report>(TaskCreationOptions.RunContinuationsAsynchronously));
        return await waiter.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(10));
    }

    public Report[] ReportsFor(string activityId) => [.. Reports.Where(r => r.ActivityId == activityId)];

    public ValueTask DisposeAsync() => _server?.DisposeAsync() ?? ValueTask.CompletedTask;

    private void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/api/v1/oauth/token", TokenAsync);
        app.MapGet("/api/v1/info", InfoAsync);
        app.MapPost("/api/v1/workers/poll", PollAsync);
        app.MapPost("/api/v1/activities/{id}/heartbeat", HeartbeatAsync);
        app.MapPost("/api/v1/activities/{id}/complete", (HttpContext c, string id) => ReportAsync(c, id, "complete"));
        app.MapPost("/api/v1/activities/{id}/fail", (HttpContext c, string id) => ReportAsync(c, id, "fail"));
    }

    private async Task TokenAsync(HttpContext context)
    {
        JsonObject body = await ReadBodyAsync(context);
        if ((string?)body["grant_type"] != "client_credentials" || (string?)body["client_id"] != ClientId || (string?)body["client_secret"] != ClientSecret)
        {
            await WriteAsync(context, 401, Error("UNAUTHORIZED", "Invalid client credentials"));
            return;
        }

        string token = "tok-" + Interlocked.Increment(ref _tokenCounter);
        lock (_lock)
        {
            _validTokens.Add(token);
        }

        await WriteAsync(context, 200, new JsonObject { ["access_token"] = token, ["token_type"] = "Bearer", ["expires_in"] = 86400 });
    }

    private Task InfoAsync(HttpContext context)
    {
        var features = new JsonArray();
        if (LongPoll)
        {
            features.Add("long-poll");
        }

        return WriteAsync(context, 200, new JsonObject { ["version"] = "scripted", ["api_version"] = "v1", ["features"] = features, ["insecure_dev"] = !RequireAuth });
    }

    private async Task PollAsync(HttpContext context)
    {
        if (!await AuthorizeAsync(context))
        {
            return;
        }

        JsonObject body = await ReadBodyAsync(context);
        int max = (int?)body["max_activities"] ?? 1;
        int wait = (int?)body["wait_seconds"] ?? 0;
        string workerId = (string?)body["worker_id"] ?? "";
        Polls.Enqueue(new PollCall(max, body.ContainsKey("wait_seconds") ? wait : null, (string?)body["worker"] ?? "", workerId));
        if (max is < 1 or > 100)
        {
            await WriteAsync(context, 422, Error("VALIDATION_ERROR", "max_activities must be 1-100"));
            return;
        }

        DateTime deadline = DateTime.UtcNow.AddSeconds(wait);
        var claimed = new JsonArray();
        while (true)
        {
            Task signal;
            lock (_lock)
            {
                while (claimed.Count < max && _pending.TryDequeue(out JsonObject? claim))
                {
                    string id = (string)claim["activity_id"]!;
                    _activities[id] = new ActivityState(workerId);
                    claimed.Add(claim);
                }

                signal = _enqueued.Task;
            }

            TimeSpan remaining = deadline - DateTime.UtcNow;
            if (claimed.Count > 0 || remaining <= TimeSpan.Zero)
            {
                break;
            }

            try
            {
                await signal.WaitAsync(remaining, context.RequestAborted);
            }
            catch (TimeoutException)
            {
                break;
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref AbortedPolls);
                return;
            }
        }

        await WriteAsync(context, 200, new JsonObject { ["activities"] = claimed, ["count"] = claimed.Count });
    }

    private async Task HeartbeatAsync(HttpContext context, string id)
    {
        if (!await AuthorizeAsync(context))
        {
            return;
        }

        JsonObject body = await ReadBodyAsync(context);
        Heartbeats.Enqueue(id);
        int number;
        lock (_lock)
        {
            if (!_activities.TryGetValue(id, out ActivityState? state))
            {
                number = -1;
            }
            else
            {
                number = ++state.Heartbeats;
                if (state.Finished)
                {
                    number = 0;
                }
                else if (state.Owner != (string?)body["worker_id"])
                {
                    number = -2;
                }
            }
        }

        if (number == -1)
        {
            await WriteAsync(context, 404, Error("NOT_FOUND", "Unknown activity"));
            return;
        }

        if (number == -2)
        {
            await WriteAsync(context, 409, Error("CONFLICT", "Lease held by another worker"));
            return;
        }

        HeartbeatReply reply = number == 0 ? HeartbeatReply.Ok : OnHeartbeat?.Invoke(id, number) ?? HeartbeatReply.Ok;
        switch (reply)
        {
            case HeartbeatReply.Conflict:
                await WriteAsync(context, 409, Error("CONFLICT", "Lease lost"));
                break;
            case HeartbeatReply.ServerError:
                await WriteAsync(context, 500, Error("INTERNAL_ERROR", "scripted failure"));
                break;
            default:
                await WriteAsync(context, 200, new JsonObject
                {
                    ["acknowledged"] = true,
                    ["next_heartbeat_seconds"] = 1,
                    ["cancel_requested"] = reply == HeartbeatReply.CancelRequested,
                });
                break;
        }
    }

    private async Task ReportAsync(HttpContext context, string id, string kind)
    {
        if (!await AuthorizeAsync(context))
        {
            return;
        }

        JsonObject body = await ReadBodyAsync(context);
        int call;
        lock (_lock)
        {
            call = _activities.TryGetValue(id, out ActivityState? s) ? ++s.ReportCalls : 0;
        }

        if (OnReport?.Invoke(id, call) is { } status)
        {
            await WriteAsync(context, status, Error(status >= 500 ? "INTERNAL_ERROR" : "CONFLICT", "scripted answer"));
            return;
        }

        ActivityState? state;
        bool accepted;
        lock (_lock)
        {
            _activities.TryGetValue(id, out state);
            accepted = state is not null && !state.Finished && state.Owner == (string?)body["worker_id"];
            if (accepted)
            {
                state!.Finished = true;
            }
        }

        if (state is null)
        {
            await WriteAsync(context, 404, Error("NOT_FOUND", "Unknown activity"));
            return;
        }

        if (!accepted)
        {
            await WriteAsync(context, 409, Error("CONFLICT", "Activity is not running or owned by another worker"));
            return;
        }

        var report = new Report(id, kind, body);
        Reports.Enqueue(report);
        _reportWaiters.GetOrAdd(id, _ => new TaskCompletionSource<Report>(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult(report);
        JsonObject answer = kind == "complete"
            ? new JsonObject { ["acknowledged"] = true }
            : new JsonObject { ["acknowledged"] = true, ["will_retry"] = report.Retryable };
        await WriteAsync(context, 200, answer);
    }

    private async Task<bool> AuthorizeAsync(HttpContext context)
    {
        string? header = context.Request.Headers.Authorization.FirstOrDefault();
        AuthorizationHeaders.Enqueue(header);
        if (!RequireAuth)
        {
            return true;
        }

        bool valid;
        lock (_lock)
        {
            valid = !RejectAllTokens && header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && _validTokens.Contains(header["Bearer ".Length..]);
        }

        if (!valid)
        {
            Interlocked.Increment(ref UnauthorizedAnswers);
            await WriteAsync(context, 401, Error("UNAUTHORIZED", "Missing or invalid token"));
        }

        return valid;
    }

    private static async Task<JsonObject> ReadBodyAsync(HttpContext context)
    {
        JsonNode? node = await JsonNode.ParseAsync(context.Request.Body);
        return node as JsonObject ?? [];
    }

    private static JsonObject Error(string code, string message) => new() { ["error"] = new JsonObject { ["code"] = code, ["message"] = message } };

    private static async Task WriteAsync(HttpContext context, int status, JsonNode body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString());
    }

    private sealed class ActivityState(string owner)
    {
        public string Owner { get; } = owner;

        public bool Finished { get; set; }

        public int Heartbeats { get; set; }

        public int ReportCalls { get; set; }
    }
}

internal enum HeartbeatReply
{
    Ok,
    Conflict,
    CancelRequested,
    ServerError,
}

internal sealed record PollCall(int MaxActivities, int? WaitSeconds, string RoutingKey, string WorkerId);

internal sealed record Report(string ActivityId, string Kind, JsonObject Body)
{
    public string? ErrorCode => (string?)Body["error"]?["code"];

    public string? ErrorMessage => (string?)Body["error"]?["message"];

    public bool Retryable => (bool?)Body["error"]?["retryable"] ?? false;

    public JsonObject? Output => Body["output"] as JsonObject;
}
