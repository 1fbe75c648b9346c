using System.Text.Json.Nodes;

namespace Spindle.Cli;

/// <summary>The server answered with an error envelope (docs/api.md).</summary>
public sealed class ApiCallException(int statusCode, string code, string message, IReadOnlyList<FieldError>? fieldErrors = null)
    : Exception(message)
{
    public int StatusCode { get; } = statusCode;

    public string Code { get; } = code;

    /// <summary>The <c>details.field_errors</c> of a 422, one entry per message.</summary>
    public IReadOnlyList<FieldError> FieldErrors { get; } = fieldErrors ?? [];

    /// <summary>Reads the envelope; a body that is not one (a proxy page, another service) still yields a readable message.</summary>
    public static ApiCallException FromResponse(int statusCode, JsonNode? body, string rawText)
    {
        if (body?["error"] is JsonObject error)
        {
            var code = error["code"]?.ToString() ?? "UNKNOWN";
            var message = error["message"]?.ToString() ?? $"HTTP {statusCode}";
            var fields = new List<FieldError>();
            if (error["details"]?["field_errors"] is JsonObject fieldErrors)
            {
                foreach (var (field, messages) in fieldErrors)
                {
                    if (messages is JsonArray list)
                    {
                        fields.AddRange(list.Select(m => new FieldError(field, m?.ToString() ?? "")));
                    }
                    else if (messages is not null)
                    {
                        fields.Add(new FieldError(field, messages.ToString()));
                    }
                }
            }
            return new ApiCallException(statusCode, code, message, fields);
        }
        var snippet = rawText.Trim();
        snippet = snippet.Length > 200 ? snippet[..200] + "…" : snippet;
        return new ApiCallException(statusCode, "UNKNOWN",
            snippet.Length == 0 ? $"HTTP {statusCode} with an empty body" : $"HTTP {statusCode}: {snippet}");
    }
}

public sealed record FieldError(string Field, string Message);

/// <summary>No HTTP answer at all: connection refused, DNS failure, or a timeout.</summary>
public sealed class ServerUnreachableException(Uri baseUrl, Exception innerException, bool timedOut = false)
    : Exception(timedOut ? $"Spindle at {Trim(baseUrl)} did not answer in time" : $"cannot reach Spindle at {Trim(baseUrl)}", innerException)
{
    public Uri BaseUrl { get; } = baseUrl;

    public bool TimedOut { get; } = timedOut;

    /// <summary>The message users see, with how to get a server running.</summary>
    public string Describe(bool suggestEmbedded)
    {
        if (TimedOut)
        {
            return $"{Message}; check that it is healthy: {Trim(BaseUrl)}/health";
        }
        var hint = suggestEmbedded
            ? "start it with `./spindle serve` or add --embedded"
            : "start it with `./spindle serve`, or point --api-url / SPINDLE_API_URL at a running server";
        return $"cannot reach Spindle at {Trim(BaseUrl)} — {hint}";
    }

    private static string Trim(Uri url) => url.ToString().TrimEnd('/');
}

/// <summary>A bad command-line value found while running a command (exit code 2, like a parse error).</summary>
public sealed class UsageException(string message) : Exception(message);
