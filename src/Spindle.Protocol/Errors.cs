using System.ComponentModel;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Spindle.Protocol;

/// <summary>The error envelope of docs/api.md, for every error the API returns.</summary>
[Description("Every error: {\"error\": {code, message, details?}}; a 422 lists details.field_errors.")]
public sealed record ErrorEnvelope
{
    public ErrorBody? Error { get; init; }
}

public sealed record ErrorBody
{
    public string? Code { get; init; }

    public string? Message { get; init; }

    [Description("A 422 lists field_errors: {field: [message, ...]}.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonObject? Details { get; init; }
}
