using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Core.Common;

namespace Spindle.Worker.Std;

/// <summary>
/// <c>http_request</c>: parameters <c>{method = GET, url, headers?, query?, body?, timeout_seconds?, include_body?,
/// expected_status?}</c>; output <c>{"response": {"status", "success", "headers", "body"}}</c> with <c>success</c>
/// true for 2xx. Any answer completes the activity (a 404 or 503 too, with <c>success: false</c>), as in the
/// reference engine; network errors and timeouts fail with a retryable <c>HTTP_ERROR</c>. Spindle's
/// <c>expected_status</c> turns other statuses into failures: retryable for 5xx and 429, else not.
/// </summary>
public sealed class HttpRequestActivity
{
    /// <summary>Longest body excerpt quoted in an error message.</summary>
    public const int BodyExcerptLength = 1000;

    private readonly HttpClient _http;

    public HttpRequestActivity(HttpClient httpClient)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        _http = httpClient;
    }

    /// <summary>An <see cref="HttpClient"/> suited to the activity: no client-wide timeout, redirects followed (up to 10), decompression on.</summary>
    public static HttpClient CreateDefaultHttpClient() =>
        new(new SocketsHttpHandler
        {
            AllowAutoRedirect = true,
            MaxAutomaticRedirections = 10,
            AutomaticDecompression = DecompressionMethods.All,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(30),
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };

    public async Task<ActivityResult> ExecuteAsync(ActivityContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        JsonObject parameters = context.Parameters;

        string methodText = (StdParameters.OptionalString(parameters, "method") ?? "GET").Trim().ToUpperInvariant();
        if (methodText.Length == 0 || !methodText.All(c => c is >= 'A' and <= 'Z' or '-' or '_'))
        {
            throw StdParameters.Invalid($"parameter 'method' is not a valid HTTP method: '{methodText}'");
        }

        var method = new HttpMethod(methodText);
        Uri url = BuildUrl(StdParameters.RequireString(parameters, "url"), StdParameters.OptionalObject(parameters, "query"));
        double? timeoutSeconds = StdParameters.OptionalPositiveNumber(parameters, "timeout_seconds");
        HashSet<int>? expected = ReadExpectedStatus(parameters["expected_status"]);
        bool includeBody = ReadIncludeBody(parameters, method);
        if (parameters["download_to_file"] is JsonNode download && !(download is JsonValue flag && flag.GetValueKind() == JsonValueKind.False))
        {
            // The std worker has no way to store a workflow file yet; saying so beats silently returning the body.
            throw StdParameters.Invalid("parameter 'download_to_file' is not supported by Spindle's std worker; omit it to receive the body in response.body");
        }

        using var request = new HttpRequestMessage(method, url);
        request.Content = CreateContent(parameters["body"]);
        ApplyHeaders(request, StdParameters.OptionalObject(parameters, "headers"));

        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeoutSeconds is { } seconds)
        {
            timeoutCts.CancelAfter(TimeSpan.FromSeconds(seconds));
        }

        string target = $"{methodText} {url.GetLeftPart(UriPartial.Path)}";
        try
        {
            using HttpResponseMessage response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeoutCts.Token).ConfigureAwait(false);
            byte[] bytes = await response.Content.ReadAsByteArrayAsync(timeoutCts.Token).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            if (expected is not null && !expected.Contains(status))
            {
                string excerpt = DecodeText(bytes, response.Content.Headers.ContentType);
                if (excerpt.Length > BodyExcerptLength)
                {
                    excerpt = excerpt[..BodyExcerptLength] + "…";
                }

                bool retryable = status >= 500 || status == (int)HttpStatusCode.TooManyRequests;
                string expectation = $" (expected {string.Join(", ", expected.Order())})";
                throw new ActivityFailureException(
                    ErrorCodes.HttpError,
                    $"HTTP {status} {response.ReasonPhrase} from {target}{expectation}: {excerpt}",
                    retryable);
            }

            var output = new JsonObject
            {
                ["response"] = new JsonObject
                {
                    ["status"] = status,
                    ["success"] = status is >= 200 and < 300,
                    ["headers"] = ReadHeaders(response),
                    ["body"] = includeBody ? ReadBody(bytes, response.Content.Headers.ContentType) : null,
                },
            };
            return new ActivityResult(output);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && timeoutCts.IsCancellationRequested)
        {
            throw new ActivityFailureException(ErrorCodes.HttpError, $"{target} timed out after {timeoutSeconds:0.###} s", retryable: true, ex);
        }
        catch (HttpRequestException ex)
        {
            throw new ActivityFailureException(ErrorCodes.HttpError, $"{target} failed: {ex.Message}", retryable: true, ex);
        }
        catch (IOException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ActivityFailureException(ErrorCodes.HttpError, $"{target} failed: {ex.Message}", retryable: true, ex);
        }
    }

    private static Uri BuildUrl(string text, JsonObject? query)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw StdParameters.Invalid($"parameter 'url' must be an absolute http(s) URL, got '{text}'");
        }

        if (query is null || query.Count == 0)
        {
            return uri;
        }

        var builder = new StringBuilder();
        foreach ((string name, JsonNode? value) in query)
        {
            IEnumerable<JsonNode?> values = value is JsonArray array ? array : new[] { value };
            foreach (JsonNode? item in values)
            {
                string? itemText = StdParameters.ScalarText(item, $"query parameter '{name}'");
                if (itemText is null)
                {
                    continue;
                }

                builder.Append(builder.Length == 0 ? "" : "&")
                    .Append(Uri.EscapeDataString(name))
                    .Append('=')
                    .Append(Uri.EscapeDataString(itemText));
            }
        }

        if (builder.Length == 0)
        {
            return uri;
        }

        var uriBuilder = new UriBuilder(uri);
        string existing = uriBuilder.Query.TrimStart('?');
        uriBuilder.Query = existing.Length == 0 ? builder.ToString() : existing + "&" + builder;
        return uriBuilder.Uri;
    }

    private static bool ReadIncludeBody(JsonObject parameters, HttpMethod method) => parameters["include_body"] switch
    {
        null => method != HttpMethod.Head,
        JsonValue v when v.GetValueKind() == JsonValueKind.True => true,
        JsonValue v when v.GetValueKind() == JsonValueKind.False => false,
        JsonNode other => throw StdParameters.Invalid($"parameter 'include_body' must be true or false, got {other.GetValueKind()}"),
    };

    private static HashSet<int>? ReadExpectedStatus(JsonNode? node)
    {
        if (node is null)
        {
            return null;
        }

        IEnumerable<JsonNode?> items = node is JsonArray array ? array : new[] { node };
        var result = new HashSet<int>();
        foreach (JsonNode? item in items)
        {
            if (JsonNumbers.TryGetInt64(item, out long code) && code is >= 100 and <= 599)
            {
                result.Add((int)code);
            }
            else if (item is JsonValue text && text.TryGetValue(out string? s) && int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int parsed) && parsed is >= 100 and <= 599)
            {
                result.Add(parsed);
            }
            else
            {
                throw StdParameters.Invalid("parameter 'expected_status' must be a status code (100-599) or a list of them");
            }
        }

        return result.Count == 0 ? throw StdParameters.Invalid("parameter 'expected_status' must not be empty") : result;
    }

    private static HttpContent? CreateContent(JsonNode? body) => body switch
    {
        null => null,
        JsonValue value when value.GetValueKind() == JsonValueKind.String =>
            new StringContent(value.GetValue<string>(), Encoding.UTF8, "text/plain"),
        _ => new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
    };

    private static void ApplyHeaders(HttpRequestMessage request, JsonObject? headers)
    {
        if (headers is null)
        {
            return;
        }

        foreach ((string name, JsonNode? value) in headers)
        {
            IEnumerable<JsonNode?> values = value is JsonArray array ? array : new[] { value };
            string[] texts = [.. values.Select(v => StdParameters.ScalarText(v, $"header '{name}'")).OfType<string>()];
            if (texts.Length == 0)
            {
                continue;
            }

            try
            {
                if (IsContentHeader(name))
                {
                    request.Content ??= new ByteArrayContent([]);
                    request.Content.Headers.Remove(name);
                    if (!request.Content.Headers.TryAddWithoutValidation(name, texts))
                    {
                        throw StdParameters.Invalid($"header '{name}' cannot be set");
                    }
                }
                else if (!request.Headers.TryAddWithoutValidation(name, texts))
                {
                    throw StdParameters.Invalid($"header '{name}' cannot be set");
                }
            }
            catch (FormatException ex)
            {
                throw StdParameters.Invalid($"header '{name}' is invalid: {ex.Message}");
            }
        }
    }

    private static bool IsContentHeader(string name) =>
        name.StartsWith("content-", StringComparison.OrdinalIgnoreCase)
        || name.Equals("expires", StringComparison.OrdinalIgnoreCase)
        || name.Equals("last-modified", StringComparison.OrdinalIgnoreCase)
        || name.Equals("allow", StringComparison.OrdinalIgnoreCase);

    private static JsonObject ReadHeaders(HttpResponseMessage response)
    {
        var headers = new JsonObject();
        foreach (KeyValuePair<string, IEnumerable<string>> header in response.Headers.Concat(response.Content.Headers))
        {
            headers[header.Key.ToLowerInvariant()] = string.Join(", ", header.Value);
        }

        return headers;
    }

    /// <summary>
    /// The body sits two levels down in the output (<c>response.body</c>), which the server takes up to its depth
    /// limit; a JSON body that repeats a key could not be written back out.
    /// </summary>
    private static readonly JsonDocumentOptions BodyOptions = new()
    {
        MaxDepth = JsonLimits.MaxDocumentDepth - 2,
        AllowDuplicateProperties = false,
    };

    private static JsonNode? ReadBody(byte[] bytes, MediaTypeHeaderValue? contentType)
    {
        if (IsJson(contentType?.MediaType))
        {
            if (bytes.Length == 0)
            {
                return null;
            }

            try
            {
                return JsonNode.Parse(bytes, documentOptions: BodyOptions);
            }
            catch (JsonException)
            {
                // Mislabelled, or a document the server would not take as part of the output: keep the text.
            }
        }

        return DecodeText(bytes, contentType);
    }

    private static bool IsJson(string? mediaType) =>
        mediaType is not null
        && (mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || mediaType.Equals("text/json", StringComparison.OrdinalIgnoreCase)
            || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase));

    private static string DecodeText(byte[] bytes, MediaTypeHeaderValue? contentType)
    {
        Encoding encoding = Encoding.UTF8;
        if (contentType?.CharSet is { Length: > 0 } charset)
        {
            try
            {
                encoding = Encoding.GetEncoding(charset.Trim('"'));
            }
            catch (ArgumentException)
            {
                // Unknown charset: fall back to UTF-8.
            }
        }

        return encoding.GetString(bytes);
    }
}
