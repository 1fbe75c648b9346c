using System.Diagnostics.CodeAnalysis;
using System.Text.Json.Nodes;
using Spindle.Protocol;

namespace Spindle.Worker;

/// <summary>Executes one activity. Throw <see cref="ActivityFailureException"/> to fail it with a chosen code.</summary>
public delegate Task<ActivityResult> ActivityHandler(ActivityContext context, CancellationToken cancellationToken);

/// <summary>What a handler knows about the execution it runs (one claimed activity).</summary>
public sealed class ActivityContext
{
    public required string ActivityId { get; init; }

    public required string WorkflowId { get; init; }

    public required string ActivityKey { get; init; }

    public required string ActivityName { get; init; }

    /// <summary>The routing key the activity was claimed for (its <c>worker</c> field).</summary>
    public string RoutingKey { get; init; } = "";

    /// <summary>The routing key under its former name.</summary>
    [Obsolete("Use RoutingKey")]
    public string Worker
    {
        get => RoutingKey;
        init => RoutingKey = value;
    }

    /// <summary>Parameters with all templates resolved (an empty object when the server sent none).</summary>
    public JsonObject Parameters { get; init; } = [];

    /// <summary>Normalised activity settings, or null.</summary>
    public JsonObject? Settings { get; init; }

    /// <summary><c>settings.timeout_seconds</c>, or null when unset (the worker default applies).</summary>
    public int? TimeoutSeconds { get; init; }

    /// <summary>Declared outputs, or null.</summary>
    public JsonArray? OutputDefinitions { get; init; }

    /// <summary>The delivered signal data, or null.</summary>
    public JsonNode? SignalData { get; init; }

    /// <summary>Attempt number, from 1.</summary>
    public int Attempt { get; init; } = 1;

    /// <summary>Loop iteration, from 0.</summary>
    public int Iteration { get; init; }

    /// <summary>Effective lease length in seconds, when the server sent it.</summary>
    public int? LeaseSeconds { get; init; }

    /// <summary>Posts one chunk (text, index) of the live stream; set by the worker.</summary>
    internal Func<string, long, CancellationToken, Task<int>>? Publisher { get; set; }

    /// <summary>How many chunks <see cref="StreamAsync(string, CancellationToken)"/> has published.</summary>
    public int Streamed => _streamed;

    private int _streamed;

    /// <summary>
    /// Publishes one chunk of this activity's live stream: subscribers (<c>GET /api/v1/activities/{id}/ws</c> or
    /// <c>…/stream</c>) get the chunks in order, a late one those so far. When the handler returns, the worker ends
    /// the stream with the result (or the error); the result is still recorded as the normal completion.
    /// </summary>
    /// <returns>How many subscribers the server that took the chunk has.</returns>
    public Task<int> StreamAsync(string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        var publisher = Publisher ?? throw new InvalidOperationException("Streaming is not available in this context");
        long index = Interlocked.Increment(ref _streamed) - 1;
        return publisher(text, index, cancellationToken);
    }

    /// <summary>Publishes a JSON chunk (sent as its compact text).</summary>
    public Task<int> StreamAsync(JsonNode json, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(json);
        return StreamAsync(json.ToJsonString(), cancellationToken);
    }

    /// <summary>Builds a context from a claimed activity whose parameters are an object (or null).</summary>
    public static ActivityContext FromClaim(ClaimedActivity claim)
    {
        ArgumentNullException.ThrowIfNull(claim);
        return new ActivityContext
        {
            ActivityId = claim.ActivityId,
            WorkflowId = claim.WorkflowId,
            ActivityKey = claim.ActivityKey,
            ActivityName = claim.ActivityName,
            RoutingKey = claim.RoutingKey,
            Parameters = claim.Parameters switch
            {
                null => [],
                JsonObject obj => obj,
                _ => throw new ActivityFailureException(ErrorCodes.InvalidParameters, $"parameters must be a JSON object, got {claim.Parameters.GetValueKind()}", retryable: false),
            },
            Settings = claim.Settings,
            TimeoutSeconds = claim.TimeoutSeconds,
            OutputDefinitions = claim.OutputDefinitions,
            SignalData = claim.SignalData,
            Attempt = claim.Attempt,
            Iteration = claim.Iteration,
            LeaseSeconds = claim.LeaseSeconds,
        };
    }
}

/// <summary>A handler's successful result: the output object (each top-level key is one named output), cost and usage.</summary>
public sealed class ActivityResult
{
    public ActivityResult(JsonObject output, decimal? costUsd = null, IReadOnlyList<UsageLine>? usage = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (costUsd < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(costUsd), "Cost must not be negative.");
        }

        Output = output;
        CostUsd = costUsd;
        Usage = usage ?? [];
    }

    public JsonObject Output { get; }

    /// <summary>Cost not covered by <see cref="Usage"/> (the whole cost when there is no usage), or null.</summary>
    public decimal? CostUsd { get; }

    public IReadOnlyList<UsageLine> Usage { get; }

    public static ActivityResult FromOutput(JsonObject output) => new(output);
}

/// <summary>Fails the activity with <see cref="Code"/>; the server alone decides whether it is retried.</summary>
public sealed class ActivityFailureException : Exception
{
    public ActivityFailureException()
        : this(ErrorCodes.ExecutionError, "Activity failed", retryable: true)
    {
    }

    public ActivityFailureException(string message)
        : this(ErrorCodes.ExecutionError, message, retryable: true)
    {
    }

    public ActivityFailureException(string message, Exception innerException)
        : this(ErrorCodes.ExecutionError, message, retryable: true, innerException)
    {
    }

    public ActivityFailureException(string code, string message, bool retryable, Exception? innerException = null)
        : base(string.IsNullOrEmpty(message) ? code : message, innerException)
    {
        ArgumentException.ThrowIfNullOrEmpty(code);
        Code = code;
        Retryable = retryable;
    }

    public string Code { get; }

    public bool Retryable { get; }

    /// <summary>Spend of the failed attempt, if any (it still counts).</summary>
    public decimal? CostUsd { get; init; }

    public IReadOnlyList<UsageLine>? Usage { get; init; }

    public ActivityError ToError() => new() { Code = Code, Message = Message, Retryable = Retryable };
}

/// <summary>Standard error codes of docs/worker-protocol.md.</summary>
public static class ErrorCodes
{
    public const string ExecutionError = "EXECUTION_ERROR";
    public const string Timeout = "TIMEOUT";
    public const string WorkerShutdown = "WORKER_SHUTDOWN";
    public const string Panic = "PANIC";
    public const string InvalidParameters = "INVALID_PARAMETERS";
    public const string Cancelled = "CANCELLED";
    public const string HttpError = "HTTP_ERROR";
    public const string DatabaseError = "DATABASE_ERROR";

    /// <summary>The result is larger than the server accepts (its body limit).</summary>
    public const string OutputTooLarge = "OUTPUT_TOO_LARGE";

    /// <summary>The server refused the result (422), e.g. nested deeper than it accepts.</summary>
    public const string OutputInvalid = "OUTPUT_INVALID";
}

/// <summary>Maps <c>activity_name</c> to its handler. Names are case-sensitive.</summary>
public sealed class ActivityRegistry
{
    private readonly Dictionary<string, ActivityHandler> _handlers = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>Registers <paramref name="handler"/>; throws when the name is taken.</summary>
    public ActivityRegistry Register(string activityName, ActivityHandler handler)
    {
        ArgumentException.ThrowIfNullOrEmpty(activityName);
        ArgumentNullException.ThrowIfNull(handler);
        lock (_lock)
        {
            if (!_handlers.TryAdd(activityName, handler))
            {
                throw new ArgumentException($"An activity named '{activityName}' is already registered.", nameof(activityName));
            }
        }

        return this;
    }

    /// <summary>Registers a handler that needs no asynchronous work.</summary>
    public ActivityRegistry Register(string activityName, Func<ActivityContext, ActivityResult> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Register(activityName, (context, _) => Task.FromResult(handler(context)));
    }

    public bool TryGet(string activityName, [NotNullWhen(true)] out ActivityHandler? handler)
    {
        lock (_lock)
        {
            return _handlers.TryGetValue(activityName, out handler);
        }
    }

    public bool Contains(string activityName)
    {
        lock (_lock)
        {
            return _handlers.ContainsKey(activityName);
        }
    }

    /// <summary>The registered names, sorted.</summary>
    public IReadOnlyList<string> Names
    {
        get
        {
            lock (_lock)
            {
                return [.. _handlers.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }
}
