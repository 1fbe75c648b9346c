using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Server.Api;

/// <summary>
/// Reads request bodies by hand instead of model binding, so that every malformed body gets the spec's envelope
/// (400 for bad JSON, 415 for other media types, 422 naming the field for wrong types) and never a 500.
/// </summary>
public static class RequestBody
{
    public static async Task<string> ReadTextAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(request.Body, Encoding.UTF8);
        return await reader.ReadToEndAsync(cancellationToken);
    }

    /// <summary>Parses a JSON body; returns an error result instead when the body is not usable.</summary>
    public static async Task<(JsonNode? Body, IResult? Error)> ReadJsonAsync(HttpRequest request, bool allowEmpty, CancellationToken cancellationToken)
    {
        if (!IsJsonContentType(request.ContentType))
        {
            return (null, ApiErrors.Envelope(415, "UNSUPPORTED_MEDIA_TYPE",
                $"Content-Type '{request.ContentType}' is not supported; send application/json"));
        }
        var text = await ReadTextAsync(request, cancellationToken);
        if (string.IsNullOrWhiteSpace(text))
        {
            return allowEmpty ? (null, null) : (null, ApiErrors.BadRequest("The request body is empty; send a JSON object"));
        }
        try
        {
            return (JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { MaxDepth = 256 }), null);
        }
        catch (JsonException ex)
        {
            return (null, ApiErrors.BadRequest($"Malformed JSON: {ex.Message}"));
        }
    }

    public static async Task<(JsonObject? Body, IResult? Error)> ReadObjectAsync(HttpRequest request, bool allowEmpty, CancellationToken cancellationToken)
    {
        var (node, error) = await ReadJsonAsync(request, allowEmpty, cancellationToken);
        if (error is not null)
        {
            return (null, error);
        }
        if (node is null)
        {
            return (new JsonObject(), null);
        }
        if (node is not JsonObject obj)
        {
            return (null, ApiErrors.Validation("body", "The request body must be a JSON object"));
        }
        return JsonUnicode.FindInvalidString(obj) is { } where
            ? (null, ApiErrors.BadRequest($"The request body holds a string that is not valid Unicode (a lone surrogate escape) at {where}"))
            : (obj, null);
    }

    private static bool IsJsonContentType(string? contentType)
    {
        if (string.IsNullOrWhiteSpace(contentType))
        {
            return true;
        }
        var media = contentType.Split(';', 2)[0].Trim();
        return media.Equals("application/json", StringComparison.OrdinalIgnoreCase)
               || media.EndsWith("+json", StringComparison.OrdinalIgnoreCase);
    }
}
