using System.Globalization;
using System.Security.Cryptography;

namespace Spindle.Worker;

/// <summary>Configuration of a worker process (docs/worker-protocol.md).</summary>
public sealed class SpindleWorkerOptions
{
    /// <summary>Base URL of the Spindle server, e.g. <c>http://127.0.0.1:8080</c>. Required.</summary>
    public Uri? ApiUrl { get; set; }

    /// <summary>Routing key served by this worker (an activity's <c>worker</c> field; env <c>SPINDLE_WORKER</c>).</summary>
    public string RoutingKey { get; set; } = "std";

    /// <summary>The routing key under its former name; kept so existing code and configuration keep working.</summary>
    [Obsolete("Use RoutingKey")]
    public string Worker
    {
        get => RoutingKey;
        set => RoutingKey = value;
    }

    /// <summary>Unique id of this worker instance: the lease owner.</summary>
    public string WorkerId { get; set; } = NewWorkerId();

    /// <summary>Maximum number of handlers running at the same time.</summary>
    public int MaxConcurrency { get; set; } = 16;

    /// <summary>Maximum number of activities asked for in one poll (1–100).</summary>
    public int PollBatchSize { get; set; } = 10;

    /// <summary>Long-poll wait (0–30). Used only when the server lists the <c>long-poll</c> feature; otherwise 0.</summary>
    public int PollWaitSeconds { get; set; } = 20;

    /// <summary>Sleep after an empty answer to a poll without long-poll.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Execution limit of a handler when the activity has no <c>timeout_seconds</c>.</summary>
    public TimeSpan DefaultActivityTimeout { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>Longest heartbeat interval; the server's <c>next_heartbeat_seconds</c> caps it further.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long in-flight handlers may keep running after shutdown was requested.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>HTTP timeout of heartbeat/complete/fail/token calls (a poll uses wait_seconds + 10 s).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>OAuth client id. When null or empty no token is fetched or sent (insecure dev mode).</summary>
    public string? ClientId { get; set; }

    /// <summary>OAuth client secret.</summary>
    public string? ClientSecret { get; set; }

    /// <summary>Optional filter: only these activity names are claimed (extension, docs/api.md).</summary>
    public IReadOnlyList<string>? ActivityNames { get; set; }

    /// <summary>
    /// Ask for the next activities with each completion (the <c>claim-next</c> extension, used only when the server
    /// lists it): the freed slot gets the workflow's next step in the completion's answer instead of waiting for a
    /// poll. Default true; <c>SPINDLE_WORKER_CLAIM_NEXT=false</c> turns it off.
    /// </summary>
    public bool ClaimNext { get; set; } = true;

    /// <summary>
    /// Send the results that finish while a report is in flight together, in one <c>POST /api/v1/workers/report</c>
    /// (the <c>batch-report</c> extension, used only when the server lists it); a lone result is still sent at once.
    /// Default false: in the benchmark's side-by-side run it cost 20–37 % of the std worker's throughput (the results
    /// queued behind an in-flight report waited a round trip; docs/performance-notes.md). <c>SPINDLE_WORKER_BATCH_REPORTS=true</c>
    /// turns it on.
    /// </summary>
    public bool BatchReports { get; set; }

    /// <summary>
    /// The largest request body the server accepts (its default, 50 MiB); a completion over it is reported as an
    /// <c>OUTPUT_TOO_LARGE</c> failure without being sent. Replaced by the server's own <c>limits.max_body_bytes</c>
    /// from <c>GET /api/v1/info</c> when the worker starts.
    /// </summary>
    public long MaxRequestBodyBytes { get; set; } = 50L * 1024 * 1024;

    /// <summary>Creates a new <c>worker_&lt;12 hex&gt;</c> id.</summary>
    public static string NewWorkerId() =>
        "worker_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    /// <summary>Reads the process environment (SPINDLE_* preferred, KRUXIAFLOW_* accepted).</summary>
    public static SpindleWorkerOptions FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    /// <summary>Reads options through <paramref name="getVariable"/> (SPINDLE_* preferred, KRUXIAFLOW_* accepted).</summary>
    public static SpindleWorkerOptions FromEnvironment(Func<string, string?> getVariable)
    {
        ArgumentNullException.ThrowIfNull(getVariable);
        var options = new SpindleWorkerOptions();

        string? Read(string name)
        {
            string? value = getVariable("SPINDLE_" + name);
            if (string.IsNullOrWhiteSpace(value))
            {
                value = getVariable("KRUXIAFLOW_" + name);
            }

            return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
        }

        if (Read("API_URL") is { } apiUrl)
        {
            if (!Uri.TryCreate(apiUrl, UriKind.Absolute, out Uri? uri))
            {
                throw new FormatException($"API_URL is not an absolute URL: '{apiUrl}'");
            }

            options.ApiUrl = uri;
        }

        options.ClientId = Read("CLIENT_ID");
        options.ClientSecret = Read("CLIENT_SECRET");
        if (Read("WORKER") is { } routingKey)
        {
            options.RoutingKey = routingKey;
        }

        if (Read("WORKER_ID") is { } workerId)
        {
            options.WorkerId = workerId;
        }

        if (Read("WORKER_POLL_MAX_ACTIVITIES") is { } batch)
        {
            options.PollBatchSize = ParseInt("WORKER_POLL_MAX_ACTIVITIES", batch);
        }

        if (Read("WORKER_POLL_INTERVAL") is { } interval)
        {
            options.PollInterval = ParseSeconds("WORKER_POLL_INTERVAL", interval);
        }

        if (Read("WORKER_POLL_WAIT_SECONDS") is { } wait)
        {
            options.PollWaitSeconds = ParseInt("WORKER_POLL_WAIT_SECONDS", wait);
        }

        if (Read("WORKER_MAX_ACTIVITIES") is { } concurrency)
        {
            options.MaxConcurrency = ParseInt("WORKER_MAX_ACTIVITIES", concurrency);
        }

        if (Read("WORKER_ACTIVITY_TIMEOUT") is { } timeout)
        {
            options.DefaultActivityTimeout = ParseSeconds("WORKER_ACTIVITY_TIMEOUT", timeout);
        }

        if (Read("WORKER_HEARTBEAT_INTERVAL") is { } heartbeat)
        {
            options.HeartbeatInterval = ParseSeconds("WORKER_HEARTBEAT_INTERVAL", heartbeat);
        }

        if (Read("WORKER_CLAIM_NEXT") is { } claimNext)
        {
            options.ClaimNext = bool.TryParse(claimNext, out bool on)
                ? on
                : throw new FormatException($"WORKER_CLAIM_NEXT must be true or false, not '{claimNext}'");
        }

        if (Read("WORKER_BATCH_REPORTS") is { } batchReports)
        {
            options.BatchReports = bool.TryParse(batchReports, out bool on)
                ? on
                : throw new FormatException($"WORKER_BATCH_REPORTS must be true or false, not '{batchReports}'");
        }

        if (Read("WORKER_SHUTDOWN_TIMEOUT") is { } shutdown)
        {
            options.ShutdownTimeout = ParseSeconds("WORKER_SHUTDOWN_TIMEOUT", shutdown);
        }

        return options;
    }

    /// <summary>Throws <see cref="InvalidOperationException"/> when a value is out of range.</summary>
    public void Validate()
    {
        if (ApiUrl is null || !ApiUrl.IsAbsoluteUri)
        {
            throw new InvalidOperationException("SpindleWorkerOptions.ApiUrl must be an absolute URL (SPINDLE_API_URL).");
        }

        if (string.IsNullOrWhiteSpace(RoutingKey))
        {
            throw new InvalidOperationException("SpindleWorkerOptions.RoutingKey must not be empty (SPINDLE_WORKER).");
        }

        if (string.IsNullOrWhiteSpace(WorkerId) || WorkerId.Length > 255)
        {
            throw new InvalidOperationException("SpindleWorkerOptions.WorkerId must be 1-255 characters.");
        }

        if (MaxConcurrency < 1)
        {
            throw new InvalidOperationException("SpindleWorkerOptions.MaxConcurrency must be at least 1.");
        }

        if (PollBatchSize is < 1 or > 100)
        {
            throw new InvalidOperationException("SpindleWorkerOptions.PollBatchSize must be within 1-100.");
        }

        if (PollWaitSeconds is < 0 or > 30)
        {
            throw new InvalidOperationException("SpindleWorkerOptions.PollWaitSeconds must be within 0-30.");
        }

        if (DefaultActivityTimeout <= TimeSpan.Zero || HeartbeatInterval <= TimeSpan.Zero || RequestTimeout <= TimeSpan.Zero)
        {
            throw new InvalidOperationException("SpindleWorkerOptions timeouts and intervals must be positive.");
        }

        if (ShutdownTimeout < TimeSpan.Zero || PollInterval < TimeSpan.Zero)
        {
            throw new InvalidOperationException("SpindleWorkerOptions.ShutdownTimeout and PollInterval must not be negative.");
        }

        if (ActivityNames is { Count: 0 })
        {
            throw new InvalidOperationException("SpindleWorkerOptions.ActivityNames must be null or non-empty.");
        }
    }

    private static int ParseInt(string name, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int result)
            ? result
            : throw new FormatException($"{name} must be an integer, got '{value}'");

    private static TimeSpan ParseSeconds(string name, string value)
    {
        string text = value.EndsWith('s') ? value[..^1].TrimEnd() : value;
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) && seconds >= 0
            ? TimeSpan.FromSeconds(seconds)
            : throw new FormatException($"{name} must be a number of seconds, got '{value}'");
    }
}
