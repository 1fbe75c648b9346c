using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Core.Common;

namespace Spindle.Server.Api;

/// <summary>
/// Reads request bodies by hand instead of model binding, so that every malformed body gets the spec's envelope
/// (400 for bad JSON, 415 for other media types, 422 naming the field for wrong types) and never a 500.
/// </summary>
public static class RequestBody
{
    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

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
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, cancellationToken);
        var bytes = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        if (bytes.Span.StartsWith(Utf8Bom))
        {
            bytes = bytes[Utf8Bom.Length..]; // tolerated, as the text reader this replaces did
        }
        if (bytes.Span.Trim(" \t\r\n"u8).IsEmpty)
        {
            return allowEmpty ? (null, null) : (null, ApiErrors.BadRequest("The request body is empty; send a JSON object"));
        }
        try
        {
            // Depth and duplicate keys first: a tree is only built from a body within the limits.
            if (JsonBodyCheck.Check(bytes.Span) is { } problem)
            {
                return (null, ApiErrors.Validation(problem.Field, problem.Message, $"{problem.Field}: {problem.Message}"));
            }
            return (JsonNode.Parse(bytes.Span, documentOptions: JsonLimits.ReadOptions), null);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException) // invalid UTF-8 is the latter
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
