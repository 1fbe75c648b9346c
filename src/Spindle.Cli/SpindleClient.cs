using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Spindle.Core.Common;
using Spindle.Protocol;

namespace Spindle.Cli;

/// <summary>
/// The few calls of the v1 HTTP API the CLI makes. Success answers come back as the wire records of Spindle.Protocol
/// where the server has one (read through <see cref="SpindleJsonContext"/>), else as JSON objects; error envelopes
/// become <see cref="ApiCallException"/> and transport failures <see cref="ServerUnreachableException"/>.
/// </summary>
public sealed partial class SpindleClient : IDisposable
{
    // Long-polls ask for at most a few seconds, so a minute only trips on a server that hangs.
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(60);

    private readonly HttpClient _http;
    private readonly ClientCredentials? _credentials;
    private string? _token;

    public SpindleClient(Uri baseUrl, ClientCredentials? credentials = null, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(baseUrl);
        // A trailing slash keeps a path prefix (a server behind a reverse proxy) when relative paths are resolved.
        BaseUrl = baseUrl.AbsoluteUri.EndsWith('/') ? baseUrl : new Uri(baseUrl.AbsoluteUri + "/");
        _http = handler is null ? new HttpClient() : new HttpClient(handler);
        _http.BaseAddress = BaseUrl;
        _http.Timeout = RequestTimeout;
        _credentials = credentials;
    }

    public Uri BaseUrl { get; }

    public Task<JsonObject> DeployDefinitionAsync(string text, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, "api/v1/workflow_definitions", new StringContent(text, Encoding.UTF8, "application/yaml"), cancellationToken);

    public Task<JsonObject> SubmitWorkflowAsync(string definitionName, string? version, JsonObject input, CancellationToken cancellationToken,
        int? priority = null)
    {
        var body = new JsonObject { ["definition_name"] = definitionName, ["input"] = input };
        if (version is not null)
        {
            body["version"] = version;
        }
        if (priority is not null)
        {
            body["priority"] = priority;
        }
        return SendAsync(HttpMethod.Post, "api/v1/workflows", Json(body), cancellationToken);
    }

    /// <summary>With <paramref name="waitSeconds"/> &gt; 0 the server holds the answer until the workflow is terminal or the time is up (docs/api.md, Workflows).</summary>
    public Task<JsonObject> GetWorkflowAsync(string id, int waitSeconds, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, $"api/v1/workflows/{Escape(id)}" + (waitSeconds > 0 ? $"?wait_seconds={waitSeconds}" : ""), null, cancellationToken);

    public Task<JsonObject> GetWorkflowOutputAsync(string id, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, $"api/v1/workflows/{Escape(id)}/output", null, cancellationToken);

    public Task<WorkflowList> ListWorkflowsAsync(string? status, string? definitionName, int limit, CancellationToken cancellationToken)
    {
        var query = new List<string> { $"limit={limit}" };
        if (status is not null)
        {
            query.Add("status=" + Uri.EscapeDataString(status));
        }
        if (definitionName is not null)
        {
            query.Add("definition_name=" + Uri.EscapeDataString(definitionName));
        }
        return SendAsync(HttpMethod.Get, "api/v1/workflows?" + string.Join('&', query), null, SpindleJsonContext.Default.WorkflowList, cancellationToken);
    }

    /// <summary>One page of the history after the event <paramref name="afterEventId"/> (exclusive), oldest first (docs/api.md, Workflows).</summary>
    public Task<JsonObject> GetEventsAsync(string id, string? afterEventId, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, $"api/v1/workflows/{Escape(id)}/events" + (afterEventId is null ? "" : "?after=" + Escape(afterEventId)), null, cancellationToken);

    /// <summary>The whole history after <paramref name="afterEventId"/>, following <c>has_more</c>.</summary>
    public async Task<List<JsonObject>> GetAllEventsAsync(string id, string? afterEventId, CancellationToken cancellationToken)
    {
        var events = new List<JsonObject>();
        while (true)
        {
            var page = await GetEventsAsync(id, afterEventId, cancellationToken);
            var batch = page["events"]?.AsArray().OfType<JsonObject>().ToList() ?? [];
            events.AddRange(batch);
            if (batch.Count == 0 || page["has_more"]?.GetValue<bool>() != true)
            {
                return events;
            }
            afterEventId = batch[^1]["id"]?.ToString();
        }
    }

    public Task<CancelWorkflowResponse> CancelWorkflowAsync(string id, string? reason, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, $"api/v1/workflows/{Escape(id)}/cancel",
            Json(reason is null ? new JsonObject() : new JsonObject { ["reason"] = reason }), SpindleJsonContext.Default.CancelWorkflowResponse,
            cancellationToken);

    /// <summary>A one-time web UI sign-in code (admin).</summary>
    public Task<SignInLinkResponse> CreateSignInLinkAsync(CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, "api/v1/ui/sign-in-links", Json(new JsonObject()), SpindleJsonContext.Default.SignInLinkResponse, cancellationToken);

    public Task<CreateClientResponse> CreateOAuthClientAsync(string name, IReadOnlyList<string> scopes, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, "api/v1/clients",
            Json(new CreateClientRequest { Name = name, Scopes = scopes }, SpindleJsonContext.Default.CreateClientRequest),
            SpindleJsonContext.Default.CreateClientResponse, cancellationToken);

    public Task<ClientList> ListOAuthClientsAsync(CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, "api/v1/clients", null, SpindleJsonContext.Default.ClientList, cancellationToken);

    public Task<RevokeClientResponse> RevokeOAuthClientAsync(string clientId, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Delete, $"api/v1/clients/{Escape(clientId)}", null, SpindleJsonContext.Default.RevokeClientResponse, cancellationToken);

    public Task<RetryWorkflowResponse> RetryWorkflowAsync(string id, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, $"api/v1/workflows/{Escape(id)}/retry", Json(new JsonObject()), SpindleJsonContext.Default.RetryWorkflowResponse,
            cancellationToken);

    public void Dispose() => _http.Dispose();

    public Task<WorkflowCost> GetWorkflowCostAsync(string id, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, $"api/v1/workflows/{Escape(id)}/cost", null, SpindleJsonContext.Default.WorkflowCost, cancellationToken);

    public Task<List<CostHistoryLine>> GetWorkflowCostHistoryAsync(string id, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, $"api/v1/workflows/{Escape(id)}/cost/history", null, SpindleJsonContext.Default.ListCostHistoryLine, cancellationToken);

    public Task<CostAnalytics> GetCostAnalyticsAsync(int days, int limit, string? groupBy, CancellationToken cancellationToken)
    {
        var start = DateTimeOffset.UtcNow.AddDays(-days).ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        var path = $"api/v1/cost/analytics?start_date={Uri.EscapeDataString(start)}&limit={limit}" +
            (groupBy is null ? "" : $"&group_by={Uri.EscapeDataString(groupBy)}");
        return SendAsync(HttpMethod.Get, path, null, SpindleJsonContext.Default.CostAnalytics, cancellationToken);
    }

    /// <summary>Any JSON route (signals, deletes): the answer's JSON, or null for an empty answer (204).</summary>
    public Task<JsonNode?> CallAsync(HttpMethod method, string path, JsonObject? body, CancellationToken cancellationToken) =>
        SendNodeAsync(method, path, body is null ? null : Json(body), cancellationToken);

    /// <summary>A JSON route whose answer is the wire record <typeparamref name="T"/> (schedules).</summary>
    public Task<T> CallAsync<T>(HttpMethod method, string path, JsonObject? body, JsonTypeInfo<T> answer, CancellationToken cancellationToken) =>
        SendAsync(method, path, body is null ? null : Json(body), answer, cancellationToken);

    private async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? content, JsonTypeInfo<T> answer,
        CancellationToken cancellationToken)
    {
        var body = await SendNodeAsync(method, path, content, cancellationToken);
        try
        {
            if (body is not null && body.Deserialize(answer) is { } value)
            {
                return value;
            }
        }
        catch (JsonException)
        {
            // Below: an answer of another shape.
        }
        throw new ApiCallException(200, "BAD_RESPONSE",
            $"{BaseUrl} answered {path} with something that is not a {typeof(T).Name}; is it a Spindle server of this version?");
    }

    private async Task<JsonObject> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken) =>
        await SendNodeAsync(method, path, content, cancellationToken) as JsonObject
        ?? throw new ApiCallException(200, "BAD_RESPONSE", $"{BaseUrl} answered {path} with something that is not a JSON object; is it a Spindle server?");

    private async Task<JsonNode?> SendNodeAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        if (_credentials is not null)
        {
            _token ??= await FetchTokenAsync(_credentials, cancellationToken);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        }
        var (status, body, text) = await ExchangeAsync(request, cancellationToken);
        if (status is >= 200 and < 300)
        {
            return body;
        }
        throw ApiCallException.FromResponse(status, body, text);
    }

    private async Task<string> FetchTokenAsync(ClientCredentials credentials, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/oauth/token")
        {
            Content = Json(new TokenRequest { ClientId = credentials.ClientId, ClientSecret = credentials.ClientSecret },
                SpindleJsonContext.Default.TokenRequest),
        };
        var (status, body, text) = await ExchangeAsync(request, cancellationToken);
        if (status is >= 200 and < 300 && ReadToken(body) is { Length: > 0 } token)
        {
            return token;
        }
        throw ApiCallException.FromResponse(status, body, text);
    }

    private async Task<(int Status, JsonNode? Body, string Text)> ExchangeAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            throw new ServerUnreachableException(BaseUrl, ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ServerUnreachableException(BaseUrl, ex, timedOut: true);
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            return ((int)response.StatusCode, TryParse(text), text);
        }
    }

    private static JsonNode? TryParse(string text)
    {
        try
        {
            return text.Length == 0 ? null : JsonNode.Parse(text, documentOptions: JsonLimits.ReadOptions);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? ReadToken(JsonNode? body)
    {
        try
        {
            return body?.Deserialize(SpindleJsonContext.Default.TokenResponse)?.AccessToken;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static StringContent Json(JsonObject body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    private static StringContent Json<T>(T body, JsonTypeInfo<T> type) => new(JsonSerializer.Serialize(body, type), Encoding.UTF8, "application/json");

    private static string Escape(string segment) => Uri.EscapeDataString(segment);
}

/// <summary>OAuth client credentials (client_credentials grant), for servers that are not in insecure dev mode.</summary>
public sealed record ClientCredentials(string ClientId, string ClientSecret);
