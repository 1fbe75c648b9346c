using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Spindle.Protocol;

namespace Spindle.Worker;

/// <summary>
/// Typed client for the worker routes of the Spindle HTTP API (docs/worker-protocol.md). One instance holds one
/// <see cref="HttpClient"/> and the cached OAuth token; it is safe for concurrent use.
/// </summary>
public sealed partial class SpindleApiClient : IDisposable
{
    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json");

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly Uri _baseUri;
    private readonly SpindleWorkerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _tokenLock = new(1, 1);
    private CachedToken? _token;
    private int _tokenFetches;
    private long _maxBodyBytes;

    /// <summary>A body at least this large is sent with <c>Expect: 100-continue</c>: a 413 then arrives before it is sent.</summary>
    private const int ExpectContinueBytes = 1024 * 1024;

    /// <summary>Creates a client with its own <see cref="HttpClient"/> (over <paramref name="handler"/> when given).</summary>
    public SpindleApiClient(SpindleWorkerOptions options, HttpMessageHandler? handler = null, ILogger? logger = null, TimeProvider? timeProvider = null)
        : this(options, CreateHttpClient(handler), ownsHttpClient: true, logger, timeProvider)
    {
    }

    /// <summary>Creates a client over an existing <see cref="HttpClient"/>, which is not disposed with this client.</summary>
    public SpindleApiClient(SpindleWorkerOptions options, HttpClient httpClient, ILogger? logger = null, TimeProvider? timeProvider = null)
        : this(options, httpClient, ownsHttpClient: false, logger, timeProvider)
    {
    }

    private SpindleApiClient(SpindleWorkerOptions options, HttpClient httpClient, bool ownsHttpClient, ILogger? logger, TimeProvider? timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(httpClient);
        if (options.ApiUrl is null || !options.ApiUrl.IsAbsoluteUri)
        {
            throw new ArgumentException("SpindleWorkerOptions.ApiUrl must be an absolute URL.", nameof(options));
        }

        string baseText = options.ApiUrl.AbsoluteUri;
        _baseUri = new Uri(baseText.EndsWith('/') ? baseText : baseText + "/");
        _options = options;
        _http = httpClient;
        _ownsHttp = ownsHttpClient;
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _maxBodyBytes = options.MaxRequestBodyBytes;
    }

    /// <summary>
    /// The server's body limit as this client knows it (<see cref="SpindleWorkerOptions.MaxRequestBodyBytes"/>, or
    /// what the server's <c>/api/v1/info</c> said): a completion over it is not sent.
    /// </summary>
    public long MaxBodyBytes
    {
        get => Volatile.Read(ref _maxBodyBytes);
        set => Volatile.Write(ref _maxBodyBytes, value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(value)));
    }

    /// <summary>The options this client was created with.</summary>
    public SpindleWorkerOptions Options => _options;

    /// <summary>How many times a token was fetched from the server (diagnostics).</summary>
    public int TokenFetchCount => Volatile.Read(ref _tokenFetches);

    /// <summary><c>GET /api/v1/info</c> (public).</summary>
    public Task<ServerInfo> GetInfoAsync(CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, "api/v1/info", null, SpindleJsonContext.Default.ServerInfo, _options.RequestTimeout, authenticated: false, activityId: null, cancellationToken);

    /// <summary>
    /// <c>POST /api/v1/workers/poll</c>: claims up to <paramref name="maxActivities"/> activities, holding the call
    /// for up to <paramref name="waitSeconds"/> (0 = answer at once).
    /// </summary>
    public Task<PollResponse> PollAsync(int maxActivities, int waitSeconds, CancellationToken cancellationToken) =>
        PollAsync(maxActivities, waitSeconds, pollId: null, cancellationToken);

    /// <summary>
    /// As the other overload; <paramref name="pollId"/> names the long-poll so that this worker's completions can offer
    /// its slots (<see cref="CompleteAsync(string, ActivityResult, int, int, string?, DateTimeOffset?, CancellationToken)"/>).
    /// </summary>
    public Task<PollResponse> PollAsync(int maxActivities, int waitSeconds, string? pollId, CancellationToken cancellationToken)
    {
        var request = new PollRequest
        {
            RoutingKey = _options.RoutingKey,
            WorkerId = _options.WorkerId,
            MaxActivities = maxActivities,
            WaitSeconds = waitSeconds > 0 ? waitSeconds : null,
            PollId = pollId,
            ActivityNames = _options.ActivityNames,
        };
        TimeSpan timeout = _options.RequestTimeout + TimeSpan.FromSeconds(Math.Max(0, waitSeconds));
        return SendAsync(HttpMethod.Post, "api/v1/workers/poll", JsonContent.Create(request, SpindleJsonContext.Default.PollRequest, JsonMediaType), SpindleJsonContext.Default.PollResponse, timeout, authenticated: true, activityId: null, cancellationToken);
    }

    /// <summary>
    /// <c>POST /api/v1/activities/{id}/heartbeat</c>. Throws <see cref="LeaseLostException"/> on 409 and
    /// <see cref="SpindleApiException"/> (404) for an unknown activity.
    /// </summary>
    public Task<HeartbeatResponse> HeartbeatAsync(string activityId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(activityId);
        var request = new HeartbeatRequest { WorkerId = _options.WorkerId };
        return SendAsync(HttpMethod.Post, ActivityPath(activityId, "heartbeat"), JsonContent.Create(request, SpindleJsonContext.Default.HeartbeatRequest, JsonMediaType), SpindleJsonContext.Default.HeartbeatResponse, _options.RequestTimeout, authenticated: true, activityId, cancellationToken);
    }

    /// <summary>
    /// <c>POST /api/v1/activities/{id}/complete</c>. Network errors and 5xx answers are retried with backoff until
    /// <paramref name="retryUntil"/> (normally the end of the lease); null means a single attempt.
    /// Throws <see cref="LeaseLostException"/> on 409.
    /// </summary>
    public Task<CompleteResponse> CompleteAsync(string activityId, ActivityResult result, DateTimeOffset? retryUntil, CancellationToken cancellationToken) =>
        CompleteAsync(activityId, result, claimNext: 0, retryUntil, cancellationToken);

    /// <summary>
    /// As the other overload; with <paramref name="claimNext"/> &gt; 0 (the server's <c>claim-next</c> feature) the
    /// answer also carries up to that many of the workflow's next activities, leased to this worker.
    /// </summary>
    public Task<CompleteResponse> CompleteAsync(string activityId, ActivityResult result, int claimNext, DateTimeOffset? retryUntil,
        CancellationToken cancellationToken) =>
        CompleteAsync(activityId, result, claimNext, claimNextFromPoll: 0, pollId: null, retryUntil, cancellationToken);

    /// <summary>
    /// As the other overloads; <paramref name="claimNextFromPoll"/> offers the slots this worker's waiting long-poll
    /// <paramref name="pollId"/> holds as well: every activity in the answer beyond <paramref name="claimNext"/> was
    /// taken from that poll.
    /// </summary>
    public Task<CompleteResponse> CompleteAsync(string activityId, ActivityResult result, int claimNext, int claimNextFromPoll,
        string? pollId, DateTimeOffset? retryUntil, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(activityId);
        ArgumentNullException.ThrowIfNull(result);
        var request = new CompleteRequest
        {
            WorkerId = _options.WorkerId,
            Output = result.Output,
            CostUsd = result.CostUsd,
            Usage = result.Usage is { Count: > 0 } usage ? usage : null,
            ClaimNext = claimNext > 0 ? claimNext : null,
            ClaimNextFromPoll = claimNext > 0 && claimNextFromPoll > 0 && pollId is not null ? claimNextFromPoll : null,
            PollId = claimNext > 0 && claimNextFromPoll > 0 ? pollId : null,
            RoutingKey = claimNext > 0 ? _options.RoutingKey : null,
            ActivityNames = claimNext > 0 ? _options.ActivityNames : null,
        };
        // Serialised once, so that the size is known before anything is sent: a result over the server's limit
        // would only be refused (413) after uploading it, or see the connection closed mid-upload.
        byte[] body = JsonSerializer.SerializeToUtf8Bytes(request, SpindleJsonContext.Default.CompleteRequest);
        long limit = MaxBodyBytes;
        if (body.LongLength > limit)
        {
            throw new OutputTooLargeException(body.LongLength, limit,
                $"The activity's result is {body.LongLength} bytes serialised, over the server's limit of {limit} bytes.");
        }

        return SendWithRetryAsync(
            () => new ByteArrayContent(body) { Headers = { ContentType = JsonMediaType } },
            ActivityPath(activityId, "complete"),
            SpindleJsonContext.Default.CompleteResponse,
            activityId,
            retryUntil,
            cancellationToken);
    }

    /// <summary>
    /// <c>POST /api/v1/activities/{id}/fail</c>, retried like <see cref="CompleteAsync"/>. Throws
    /// <see cref="LeaseLostException"/> on 409.
    /// </summary>
    public Task<FailResponse> FailAsync(string activityId, ActivityError error, DateTimeOffset? retryUntil, CancellationToken cancellationToken) =>
        FailAsync(activityId, error, costUsd: null, usage: null, retryUntil, cancellationToken);

    /// <summary><c>POST /api/v1/activities/{id}/fail</c> with the cost and usage spent by the failed attempt.</summary>
    public Task<FailResponse> FailAsync(string activityId, ActivityError error, decimal? costUsd, IReadOnlyList<UsageLine>? usage, DateTimeOffset? retryUntil, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(activityId);
        ArgumentNullException.ThrowIfNull(error);
        var request = new FailRequest
        {
            WorkerId = _options.WorkerId,
            Error = error,
            CostUsd = costUsd,
            Usage = usage is { Count: > 0 } ? usage : null,
        };
        return SendWithRetryAsync(
            () => JsonContent.Create(request, SpindleJsonContext.Default.FailRequest, JsonMediaType),
            ActivityPath(activityId, "fail"),
            SpindleJsonContext.Default.FailResponse,
            activityId,
            retryUntil,
            cancellationToken);
    }

    /// <summary>
    /// The bearer token to send, fetched lazily from <c>/api/v1/oauth/token</c> and cached (one fetch in flight);
    /// null in insecure dev mode (no client id configured).
    /// </summary>
    public async Task<string?> GetTokenAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(_options.ClientId))
        {
            return null;
        }

        CachedToken? token = Volatile.Read(ref _token);
        if (token is not null && !token.IsStale(_time.GetUtcNow()))
        {
            return token.Value;
        }

        await _tokenLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            token = Volatile.Read(ref _token);
            if (token is not null && !token.IsStale(_time.GetUtcNow()))
            {
                return token.Value;
            }

            var request = new TokenRequest { ClientId = _options.ClientId, ClientSecret = _options.ClientSecret ?? "" };
            TokenResponse response = await SendAsync(
                HttpMethod.Post,
                "api/v1/oauth/token",
                JsonContent.Create(request, SpindleJsonContext.Default.TokenRequest, JsonMediaType),
                SpindleJsonContext.Default.TokenResponse,
                _options.RequestTimeout,
                authenticated: false,
                activityId: null,
                cancellationToken).ConfigureAwait(false);
            if (string.IsNullOrEmpty(response.AccessToken))
            {
                throw new SpindleApiException(HttpStatusCode.OK, null, "The token endpoint answered without an access_token.");
            }

            Interlocked.Increment(ref _tokenFetches);
            DateTimeOffset now = _time.GetUtcNow();
            TimeSpan lifetime = TimeSpan.FromSeconds(response.ExpiresIn is > 0 and var s ? s : 3600);
            TimeSpan margin = TimeSpan.FromSeconds(Math.Min(60, lifetime.TotalSeconds / 10));
            token = new CachedToken(response.AccessToken, now + lifetime - margin);
            Volatile.Write(ref _token, token);
            _logger.TokenFetched(response.ExpiresIn ?? 0);
            return token.Value;
        }
        finally
        {
            _tokenLock.Release();
        }
    }

    /// <summary>Drops the cached token (when it is still <paramref name="token"/>, if given).</summary>
    public void InvalidateToken(string? token = null)
    {
        CachedToken? current = Volatile.Read(ref _token);
        if (current is not null && (token is null || current.Value == token))
        {
            Interlocked.CompareExchange(ref _token, null, current);
        }
    }

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }

        _tokenLock.Dispose();
    }

    /// <summary>True for failures worth repeating: network errors, timeouts, 5xx and 429.</summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        LeaseLostException => false,
        SpindleApiException api => api.IsTransient,
        HttpRequestException => true,
        TimeoutException => true,
        IOException => true,
        _ => false,
    };

    private static HttpClient CreateHttpClient(HttpMessageHandler? handler) =>
        new(handler ?? new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(10),
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };

    private static string ActivityPath(string activityId, string action) =>
        $"api/v1/activities/{Uri.EscapeDataString(activityId)}/{action}";

    private async Task<TResponse> SendWithRetryAsync<TResponse>(
        Func<HttpContent> createContent,
        string path,
        JsonTypeInfo<TResponse> responseInfo,
        string activityId,
        DateTimeOffset? retryUntil,
        CancellationToken cancellationToken)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return await SendAsync(HttpMethod.Post, path, createContent(), responseInfo, _options.RequestTimeout, authenticated: true, activityId, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (retryUntil is { } until && IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                TimeSpan delay = Backoff.Report.NextDelay(attempt);
                if (_time.GetUtcNow() + delay >= until)
                {
                    throw;
                }

                _logger.ReportRetrying(ex, path, attempt + 1, delay.TotalMilliseconds);
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<TResponse> SendAsync<TResponse>(
        HttpMethod method,
        string path,
        HttpContent? content,
        JsonTypeInfo<TResponse> responseInfo,
        TimeSpan timeout,
        bool authenticated,
        string? activityId,
        CancellationToken cancellationToken)
    {
        byte[]? body = content is null ? null : await content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        MediaTypeHeaderValue? contentType = content?.Headers.ContentType;
        content?.Dispose();

        for (int authAttempt = 0; ; authAttempt++)
        {
            string? token = authenticated ? await GetTokenAsync(cancellationToken).ConfigureAwait(false) : null;
            using var request = new HttpRequestMessage(method, new Uri(_baseUri, path));
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            if (token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            if (body is not null)
            {
                request.Content = new ByteArrayContent(body);
                request.Content.Headers.ContentType = contentType ?? JsonMediaType;
                // The server checks the length before reading: a 413 comes back instead of "100 Continue" and the
                // body is never sent (without it the server closes the connection mid-upload, which looks transient).
                request.Headers.ExpectContinue = body.Length >= ExpectContinueBytes ? true : null;
            }

            using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeoutCts.CancelAfter(timeout);
            try
            {
                using HttpResponseMessage response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeoutCts.Token).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.Unauthorized && token is not null && authAttempt == 0)
                {
                    // Drop the token, fetch a new one and retry the failed call once.
                    InvalidateToken(token);
                    _logger.TokenRejected(path);
                    continue;
                }

                if (response.IsSuccessStatusCode)
                {
                    TResponse? value = await response.Content.ReadFromJsonAsync(responseInfo, timeoutCts.Token).ConfigureAwait(false);
                    return value ?? throw new SpindleApiException(response.StatusCode, null, $"{method} /{path} answered with an empty body.");
                }

                throw await CreateErrorAsync(response, method, path, activityId, timeoutCts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && timeoutCts.IsCancellationRequested)
            {
                throw new TimeoutException($"{method} /{path} timed out after {timeout.TotalSeconds:0.###} s.", ex);
            }
            catch (JsonException ex)
            {
                throw new SpindleApiException($"{method} /{path} answered with malformed JSON: {ex.Message}", ex);
            }
        }
    }

    private static async Task<SpindleApiException> CreateErrorAsync(HttpResponseMessage response, HttpMethod method, string path, string? activityId, CancellationToken cancellationToken)
    {
        string? code = null;
        string? message = null;
        try
        {
            string text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (text.Length > 0)
            {
                try
                {
                    ErrorEnvelope? envelope = JsonSerializer.Deserialize(text, SpindleJsonContext.Default.ErrorEnvelope);
                    code = envelope?.Error?.Code;
                    message = envelope?.Error?.Message;
                }
                catch (JsonException)
                {
                    message = text.Length > 500 ? text[..500] : text;
                }
            }
        }
        catch (HttpRequestException)
        {
            // The status alone is enough.
        }

        int status = (int)response.StatusCode;
        string full = $"{method} /{path} failed with {status} {response.ReasonPhrase}" + (message is null ? "" : $": {message}");
        if (response.StatusCode == HttpStatusCode.Conflict && activityId is not null)
        {
            return new LeaseLostException(activityId, code, full);
        }

        if (response.StatusCode == HttpStatusCode.RequestEntityTooLarge)
        {
            return new OutputTooLargeException(null, null, full);
        }

        if (response.StatusCode == HttpStatusCode.Unauthorized && message is null)
        {
            full += " (the server requires a token: configure SPINDLE_CLIENT_ID and SPINDLE_CLIENT_SECRET)";
        }

        return new SpindleApiException(response.StatusCode, code, full);
    }

    private sealed record CachedToken(string Value, DateTimeOffset RefreshAt)
    {
        public bool IsStale(DateTimeOffset now) => now >= RefreshAt;
    }
}
