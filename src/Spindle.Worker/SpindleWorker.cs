using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Spindle.Protocol;

namespace Spindle.Worker;

/// <summary>
/// The worker runner: polls the server for activities of one routing key, runs their handlers with bounded
/// concurrency, heartbeats while they run, and reports each result (docs/worker-protocol.md). The server owns every
/// decision; the runner never retries an activity by itself.
/// </summary>
public sealed partial class SpindleWorker : IDisposable
{
    private readonly SpindleWorkerOptions _options;
    private readonly ActivityRegistry _registry;
    private readonly SpindleApiClient _api;
    private readonly bool _ownsApi;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    // The worker's slots: running activities, the poll in flight (whose slots claim-next completions may offer), and
    // the slots a completion takes up front.
    private readonly SlotLedger _slots;
    private readonly ConcurrentDictionary<long, RunningActivity> _running = new();
    // Reports that finish while one is in flight go together in one request (the batch-report extension).
    private readonly ReportBatcher _reports;
    private long _nextRunId;
    private int _started;

    /// <summary>The server lists <c>claim-next</c> and the options allow it.</summary>
    private bool _claimNext;

    /// <summary>Set once polling stops: a draining worker takes no new work, not even with a completion.</summary>
    private volatile bool _draining;

    /// <param name="options">Validated when the worker is created.</param>
    /// <param name="registry">The handlers this worker serves.</param>
    /// <param name="logger">Optional logger.</param>
    /// <param name="apiClient">Optional client to use (not disposed by the worker); one is created otherwise.</param>
    /// <param name="timeProvider">Optional clock.</param>
    public SpindleWorker(SpindleWorkerOptions options, ActivityRegistry registry, ILogger? logger = null, SpindleApiClient? apiClient = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(registry);
        options.Validate();
        _options = options;
        _registry = registry;
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _api = apiClient ?? new SpindleApiClient(options, handler: null, _logger, _time);
        _ownsApi = apiClient is null;
        _slots = new SlotLedger(options.MaxConcurrency);
        _reports = new ReportBatcher(_api, _logger);
    }

    public SpindleWorkerOptions Options => _options;

    public SpindleApiClient ApiClient => _api;

    public ActivityRegistry Registry => _registry;

    /// <summary>Number of activities currently being executed or reported.</summary>
    public int RunningCount => _running.Count;

    /// <summary>
    /// Polls and executes until <paramref name="stoppingToken"/> fires, then drains: stops polling (aborting a held
    /// long-poll), lets running handlers finish for up to <see cref="SpindleWorkerOptions.ShutdownTimeout"/> (still
    /// heartbeating), stops the rest and reports them as <c>WORKER_SHUTDOWN</c>, and returns once every report is sent.
    /// </summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("A SpindleWorker can run only once.");
        }

        if (_logger.IsEnabled(LogLevel.Information))
        {
            _logger.WorkerStarting(_options.WorkerId, _options.RoutingKey, _options.ApiUrl, _options.MaxConcurrency, string.Join(", ", _registry.Names));
        }
        try
        {
            await PollLoopAsync(stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            _draining = true;
            await DrainAsync().ConfigureAwait(false);
            _logger.WorkerStopped(_options.WorkerId);
        }
    }

    public void Dispose()
    {
        // The slot ledger is not disposed: its semaphore has no wait handle, and a late handler may still release a slot.
        if (_ownsApi)
        {
            _api.Dispose();
        }
    }

    /// <summary>The execution limit: the activity's <c>timeout_seconds</c>, else the worker default.</summary>
    public static TimeSpan ResolveExecutionTimeout(ClaimedActivity claim, TimeSpan defaultTimeout)
    {
        ArgumentNullException.ThrowIfNull(claim);
        if (claim.TimeoutSeconds is > 0 and var seconds)
        {
            return TimeSpan.FromSeconds(seconds);
        }

        if (JsonNumbers.TryGetDouble(claim.Settings?["timeout_seconds"], out double fromSettings) && fromSettings > 0)
        {
            return TimeSpan.FromSeconds(fromSettings);
        }

        return defaultTimeout;
    }

    /// <summary>Lease length: <c>lease_seconds</c>, else <c>timeout_seconds</c>, else the server default of 60 s.</summary>
    public static int ResolveLeaseSeconds(ClaimedActivity claim)
    {
        ArgumentNullException.ThrowIfNull(claim);
        return claim.LeaseSeconds is > 0 and var lease ? lease : claim.TimeoutSeconds is > 0 and var timeout ? timeout : 60;
    }

    /// <summary><c>max(1, min(30, floor(lease_seconds / 2)))</c>, as the server computes <c>next_heartbeat_seconds</c>.</summary>
    public static int HeartbeatSecondsForLease(int leaseSeconds) => Math.Max(1, Math.Min(30, leaseSeconds / 2));

    private async Task PollLoopAsync(CancellationToken stoppingToken)
    {
        int failures = 0;
        int? waitSeconds = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            TimeSpan delay;
            try
            {
                waitSeconds ??= await DetectFeaturesAsync(stoppingToken).ConfigureAwait(false);

                // Ask for min(free slots, batch size): wait for one slot, then take whatever else is free. The poll holds
                // them until its answer; completions may lend some of them while it waits.
                DateTimeOffset waitedFrom = DispatchTrace.Enabled ? DispatchTrace.Now : default;
                var poll = await _slots.BeginPollAsync(_options.PollBatchSize, lends: waitSeconds.Value > 0, stoppingToken).ConfigureAwait(false);
                if (DispatchTrace.Enabled)
                {
                    // A poll is sent: how many slots it asks for, and since when it waited for a first free one.
                    DispatchTrace.Record("poll", poll.Id, "sent", from: waitedFrom, count: poll.Asked);
                }

                PollResponse response;
                try
                {
                    // Only a long-poll is named: the server lends no other poll's slots.
                    response = await _api.PollAsync(poll.Asked, waitSeconds.Value, poll.Lends ? poll.Id : null, stoppingToken).ConfigureAwait(false);
                }
                catch
                {
                    _slots.EndPoll(poll, 0);
                    throw;
                }

                failures = 0;
                if (DispatchTrace.Enabled)
                {
                    TraceReceived(response.Activities, "poll");
                }

                int owned = _slots.EndPoll(poll, response.Activities.Count);
                int handedOver = 0;
                foreach (JsonNode? node in response.Activities)
                {
                    Start(node, ownsSlot: handedOver++ < owned);
                }

                if (response.Activities.Count == 0 && waitSeconds.Value == 0)
                {
                    await Task.Delay(_options.PollInterval, _time, stoppingToken).ConfigureAwait(false);
                }

                continue;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // Shutting down: the held long-poll was aborted; exit cleanly.
                break;
            }
            catch (SpindleApiException ex) when (ex.StatusCode != 0 && !ex.IsTransient)
            {
                delay = Backoff.Poll.NextDelay(failures++);
                _logger.PollRejected((int)ex.StatusCode, ex.ErrorCode, ex.Message, delay.TotalMilliseconds);
            }
            catch (Exception ex) when (SpindleApiClient.IsTransient(ex))
            {
                delay = Backoff.Poll.NextDelay(failures++);
                _logger.ServerUnavailable(ex.Message, delay.TotalMilliseconds);
            }
            catch (Exception ex)
            {
                delay = Backoff.Poll.NextDelay(failures++);
                _logger.PollLoopError(ex, delay.TotalMilliseconds);
            }

            try
            {
                await Task.Delay(delay, _time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
        }
    }

    /// <returns>The long-poll wait to use; also decides <see cref="_claimNext"/>.</returns>
    private async Task<int> DetectFeaturesAsync(CancellationToken cancellationToken)
    {
        int wait = 0;
        if (_options.PollWaitSeconds > 0 || _options.ClaimNext || _options.BatchReports)
        {
            try
            {
                ServerInfo info = await _api.GetInfoAsync(cancellationToken).ConfigureAwait(false);
                if (_options.PollWaitSeconds > 0 && info.Features?.Contains("long-poll", StringComparer.Ordinal) == true)
                {
                    wait = _options.PollWaitSeconds;
                }

                _claimNext = _options.ClaimNext && info.Features?.Contains("claim-next", StringComparer.Ordinal) == true;
                _reports.Enabled = _options.BatchReports && info.Features?.Contains("batch-report", StringComparer.Ordinal) == true;
                if (info.Limits?.MaxBodyBytes is > 0 and long maxBody)
                {
                    _api.MaxBodyBytes = maxBody;
                }
            }
            catch (SpindleApiException ex) when (ex.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed)
            {
                // An older server without /api/v1/info: no long-poll.
            }
        }

        _logger.PollMode(wait > 0, wait);
        return wait;
    }

    private void Start(JsonNode? node, bool ownsSlot)
    {
        ClaimedActivity? claim = null;
        string? problem = null;
        try
        {
            claim = node?.Deserialize(SpindleJsonContext.Default.ClaimedActivity);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or NotSupportedException or FormatException)
        {
            problem = ex.Message;
        }

        if (claim is null || string.IsNullOrEmpty(claim.ActivityId))
        {
            // A claimed activity that cannot be read still counts as claimed: report it when its id is known.
            string? id = (node as JsonObject)?["activity_id"] is JsonValue v && v.TryGetValue(out string? s) ? s : claim?.ActivityId;
            if (string.IsNullOrEmpty(id))
            {
                _logger.UnreadableActivity(problem ?? "missing activity_id");
                if (ownsSlot)
                {
                    _slots.Release();
                }

                return;
            }

            claim = new ClaimedActivity
            {
                ActivityId = id,
                WorkflowId = ReadString(node, "workflow_id"),
                ActivityKey = ReadString(node, "activity_key"),
                ActivityName = ReadString(node, "activity_name"),
            };
            problem ??= "the claimed activity is malformed";
        }

        var run = new RunningActivity(Interlocked.Increment(ref _nextRunId), claim, ownsSlot, problem);
        _running[run.RunId] = run;
        run.Completion = Task.Run(() => ExecuteAsync(run));
    }

    /// <summary>The dispatch trace: activities arrived with a poll's or a completion's answer.</summary>
    private static void TraceReceived(IEnumerable<JsonNode?> activities, string via)
    {
        DateTimeOffset now = DispatchTrace.Now;
        foreach (JsonNode? node in activities)
        {
            DispatchTrace.Record("receive", ReadString(node, "activity_id"), via, now);
        }
    }

    private static string ReadString(JsonNode? node, string name) =>
        (node as JsonObject)?[name] is JsonValue v && v.TryGetValue(out string? s) ? s : "";

    private async Task DrainAsync()
    {
        if (_running.IsEmpty)
        {
            return;
        }

        _logger.Draining(_running.Count, _options.ShutdownTimeout.TotalSeconds);
        using (var delayCts = new CancellationTokenSource())
        {
            Task timeout = Task.Delay(_options.ShutdownTimeout, _time, delayCts.Token);

            // A completion sent just before polling stopped may still bring activities (claim-next): wait for those too.
            while (!_running.IsEmpty)
            {
                Task all = Task.WhenAll(_running.Values.Select(r => r.Completion));
                if (await Task.WhenAny(all, timeout).ConfigureAwait(false) != all)
                {
                    break;
                }
            }

            await delayCts.CancelAsync().ConfigureAwait(false);
            if (_running.IsEmpty)
            {
                return;
            }
        }

        RunningActivity[] remaining = [.. _running.Values];
        _logger.DrainTimeout(remaining.Length);
        foreach (RunningActivity run in remaining)
        {
            run.RequestStop(StopReason.Shutdown);
        }

        while (!_running.IsEmpty)
        {
            await Task.WhenAll(_running.Values.Select(r => r.Completion)).ConfigureAwait(false);
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static string Describe(Exception ex) =>
        string.IsNullOrEmpty(ex.Message) ? ex.GetType().Name : $"{ex.GetType().Name}: {ex.Message}";

    private enum StopReason
    {
        Timeout,
        Cancelled,
        Shutdown,
        LeaseLost,
    }

    private enum OutcomeKind
    {
        Complete,
        Fail,
        Drop,
    }

    private sealed record Outcome(OutcomeKind Kind, ActivityResult? Result, ActivityError? Error, decimal? CostUsd, IReadOnlyList<UsageLine>? Usage)
    {
        public static Outcome Drop { get; } = new(OutcomeKind.Drop, null, null, null, null);

        public static Outcome Complete(ActivityResult result) => new(OutcomeKind.Complete, result, null, null, null);

        public static Outcome Fail(ActivityError error, decimal? costUsd = null, IReadOnlyList<UsageLine>? usage = null) =>
            new(OutcomeKind.Fail, null, error, costUsd, usage);
    }

    private sealed class RunningActivity(long runId, ClaimedActivity claim, bool ownsSlot, string? problem) : IDisposable
    {
        private readonly TaskCompletionSource<StopReason> _stop = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _leaseExpiresAtTicks;

        public long RunId { get; } = runId;

        public ClaimedActivity Claim { get; } = claim;

        public bool OwnsSlot { get; } = ownsSlot;

        /// <summary>The handler's context, once built (the worker ends its live stream, if it published one).</summary>
        public ActivityContext? Context { get; set; }

        /// <summary>The slot went on to an activity claimed with this run's completion (claim-next).</summary>
        public bool SlotHandedOn { get; set; }

        public string? Problem { get; } = problem;

        public CancellationTokenSource Execution { get; } = new();

        public Task Completion { get; set; } = Task.CompletedTask;

        public Task<StopReason> Stopped => _stop.Task;

        public Task? Handler { get; set; }

        public DateTimeOffset LeaseExpiresAt
        {
            get => new(Interlocked.Read(ref _leaseExpiresAtTicks), TimeSpan.Zero);
            set => Interlocked.Exchange(ref _leaseExpiresAtTicks, value.UtcTicks);
        }

        public void RequestStop(StopReason reason) => _stop.TrySetResult(reason);

        public void Dispose()
        {
            // A handler that ignores cancellation may still hold the token: leave its source to the GC then.
            if (Handler is null || Handler.IsCompleted)
            {
                Execution.Dispose();
            }
        }
    }
}
