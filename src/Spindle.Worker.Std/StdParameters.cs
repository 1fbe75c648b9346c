using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Worker.Std;

/// <summary>Reading activity parameters; every mismatch is an <c>INVALID_PARAMETERS</c> failure (not retryable).</summary>
internal static class StdParameters
{
    public static ActivityFailureException Invalid(string message) =>
        new(ErrorCodes.InvalidParameters, message, retryable: false);

    public static string RequireString(JsonObject parameters, string name) =>
        OptionalString(parameters, name) is { Length: > 0 } value
            ? value
            : throw Invalid($"parameter '{name}' is required and must be a non-empty string");

    public static string? OptionalString(JsonObject parameters, string name)
    {
        JsonNode? node = parameters[name];
        if (node is null)
        {
            return null;
        }

        return node is JsonValue value && value.GetValueKind() == JsonValueKind.String
            ? value.GetValue<string>()
            : throw Invalid($"parameter '{name}' must be a string, got {node.GetValueKind()}");
    }

    /// <summary>The first of <paramref name="names"/> present (the reference spelling first, then Spindle's aliases).</summary>
    public static string? FirstString(JsonObject parameters, params string[] names)
    {
        foreach (string name in names)
        {
            if (parameters[name] is not null)
            {
                return OptionalString(parameters, name);
            }
        }

        return null;
    }

    public static JsonObject? OptionalObject(JsonObject parameters, string name) => parameters[name] switch
    {
        null => null,
        JsonObject obj => obj,
        JsonNode other => throw Invalid($"parameter '{name}' must be an object, got {other.GetValueKind()}"),
    };

    public static JsonArray? OptionalArray(JsonObject parameters, string name) => parameters[name] switch
    {
        null => null,
        JsonArray array => array,
        JsonNode other => throw Invalid($"parameter '{name}' must be an array, got {other.GetValueKind()}"),
    };

    public static double? OptionalPositiveNumber(JsonObject parameters, string name)
    {
        JsonNode? node = parameters[name];
        if (node is null)
        {
            return null;
        }

        if (JsonNumbers.TryGetDouble(node, out double number) && number > 0)
        {
            return number;
        }

        if (node is JsonValue text && text.GetValueKind() == JsonValueKind.String
            && double.TryParse(text.GetValue<string>(), NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) && parsed > 0)
        {
            return parsed;
        }

        throw Invalid($"parameter '{name}' must be a positive number");
    }

    /// <summary>A scalar rendered as text (for headers and query strings): strings as is, other values as JSON.</summary>
    public static string? ScalarText(JsonNode? node, string what) => node switch
    {
        null => null,
        JsonValue value when value.GetValueKind() == JsonValueKind.String => value.GetValue<string>(),
        JsonValue value => value.ToJsonString(),
        _ => throw Invalid($"{what} must be a string, number or boolean, got {node.GetValueKind()}"),
    };
}
