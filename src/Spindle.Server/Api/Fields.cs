using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;

namespace Spindle.Server.Api;

/// <summary>Typed reads of request fields that collect every problem under the field's name.</summary>
public sealed class Fields
{
    private readonly JsonObject _body;
    private readonly Dictionary<string, IReadOnlyList<string>> _errors = new(StringComparer.Ordinal);

    public Fields(JsonObject body) => _body = body;

    public bool HasErrors => _errors.Count > 0;

    public IReadOnlyDictionary<string, IReadOnlyList<string>> Errors => _errors;

    public void Error(string field, string message)
    {
        if (_errors.TryGetValue(field, out var list))
        {
            _errors[field] = [.. list, message];
        }
        else
        {
            _errors[field] = [message];
        }
    }

    public string? String(string field, bool required, int maxLength = int.MaxValue, string? alias = null)
    {
        var node = _body[field] ?? (alias is null ? null : _body[alias]);
        if (node is null)
        {
            if (required)
            {
                Error(field, $"{field} is required");
            }
            return null;
        }
        if (node.GetValueKind() != JsonValueKind.String)
        {
            Error(field, $"{field} must be a string");
            return null;
        }
        var value = node.GetValue<string>();
        if (required && value.Length == 0)
        {
            Error(field, $"{field} must not be empty");
            return null;
        }
        if (value.Length > maxLength)
        {
            Error(field, $"{field} must be at most {maxLength} characters");
            return null;
        }
        return value;
    }

    public int Int(string field, int defaultValue, int min, int max)
    {
        var node = _body[field];
        if (node is null)
        {
            return defaultValue;
        }
        if (node.GetValueKind() == JsonValueKind.Number && node.AsValue().TryGetValue<long>(out var n) && n >= min && n <= max)
        {
            return (int)n;
        }
        if (node.GetValueKind() == JsonValueKind.Number && double.TryParse(node.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
            && d == Math.Floor(d) && d >= min && d <= max)
        {
            return (int)d;
        }
        Error(field, $"{field} must be an integer from {min} to {max}");
        return defaultValue;
    }

    public bool Bool(string field, bool defaultValue)
    {
        var node = _body[field];
        switch (node?.GetValueKind())
        {
            case null:
            case JsonValueKind.Null:
                return defaultValue;
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            default:
                Error(field, $"{field} must be a boolean");
                return defaultValue;
        }
    }

    /// <summary>Money: a non-negative decimal given as a string or a number.</summary>
    public decimal Money(string field)
    {
        switch (MoneyReader.Read(_body[field], out var value))
        {
            case MoneyRead.Absent:
                return 0;
            case MoneyRead.Ok when value >= 0:
                return value;
        }
        Error(field, $"{field} must be a non-negative decimal (a string such as \"0.0021\" or a number)");
        return 0;
    }

    public JsonObject? Object(string field, bool required)
    {
        var node = _body[field];
        if (node is null || node.GetValueKind() == JsonValueKind.Null)
        {
            if (required)
            {
                Error(field, $"{field} is required and must be a JSON object");
            }
            return null;
        }
        if (node is JsonObject obj)
        {
            return obj;
        }
        Error(field, $"{field} must be a JSON object");
        return null;
    }
}
