using System.Text.Json.Nodes;
using Spindle.Protocol;

namespace Spindle.Server.Api;

/// <summary>The error envelope of docs/api.md, for every error the API returns.</summary>
public static class ApiErrors
{
    public static IResult Envelope(int status, string code, string message, JsonObject? details = null) =>
        Json.Result(new ErrorEnvelope { Error = new ErrorBody { Code = code, Message = message, Details = details } },
            SpindleJsonContext.Default.ErrorEnvelope, status);

    public static IResult BadRequest(string message) => Envelope(400, "BAD_REQUEST", message);

    public static IResult NotFound(string message) => Envelope(404, "NOT_FOUND", message);

    public static IResult Conflict(string message) => Envelope(409, "CONFLICT", message);

    public static IResult Validation(IReadOnlyDictionary<string, IReadOnlyList<string>> fieldErrors, string message = "Validation failed")
    {
        var fields = new JsonObject();
        foreach (var (field, messages) in fieldErrors)
        {
            fields[field] = new JsonArray(messages.Select(m => (JsonNode)m).ToArray());
        }
        return Envelope(422, "VALIDATION_ERROR", message, new JsonObject { ["field_errors"] = fields });
    }

    public static IResult Validation(string field, string message, string summary = "Validation failed") =>
        Validation(new Dictionary<string, IReadOnlyList<string>> { [field] = [message] }, summary);
}
