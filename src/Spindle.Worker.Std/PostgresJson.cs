using System.Collections;
using System.Globalization;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Xml;
using Npgsql;
using NpgsqlTypes;

namespace Spindle.Worker.Std;

/// <summary>Conversions between JSON and PostgreSQL values for the <c>postgres_*</c> activities.</summary>
public static class PostgresJson
{
    /// <summary>
    /// A positional parameter for a JSON value: a string is sent untyped (the server infers its type from the
    /// statement, so it works for text, uuid, timestamps, …), an integer as bigint, another number as double
    /// precision, a boolean as boolean, null as NULL, and an object or array as jsonb. Values are always bound,
    /// never interpolated into the SQL text.
    /// </summary>
    public static NpgsqlParameter ToParameter(JsonNode? value)
    {
        switch (value)
        {
            case null:
                return new NpgsqlParameter { Value = DBNull.Value };
            case JsonObject or JsonArray:
                return new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Jsonb, Value = value.ToJsonString() };
        }

        var scalar = (JsonValue)value;
        switch (scalar.GetValueKind())
        {
            case JsonValueKind.String:
                return new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Unknown, Value = scalar.GetValue<string>() };
            case JsonValueKind.True:
            case JsonValueKind.False:
                return new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Boolean, Value = scalar.GetValue<bool>() };
            case JsonValueKind.Number:
                if (JsonNumbers.TryGetInt64(scalar, out long integer))
                {
                    return new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bigint, Value = integer };
                }

                JsonNumbers.TryGetDouble(scalar, out double number);
                return new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Double, Value = number };
            default:
                return new NpgsqlParameter { Value = DBNull.Value };
        }
    }

    /// <summary>Reads column <paramref name="ordinal"/> of the current row as JSON.</summary>
    public static JsonNode? ReadColumn(NpgsqlDataReader reader, int ordinal)
    {
        ArgumentNullException.ThrowIfNull(reader);
        if (reader.IsDBNull(ordinal))
        {
            return null;
        }

        switch (reader.GetDataTypeName(ordinal))
        {
            case "json":
            case "jsonb":
                return JsonNode.Parse(reader.GetFieldValue<string>(ordinal));
            case "json[]":
            case "jsonb[]":
                return new JsonArray([.. reader.GetFieldValue<string?[]>(ordinal).Select(s => s is null ? null : JsonNode.Parse(s))]);
            case "date":
                return FormatDate(reader.GetFieldValue<DateOnly>(ordinal));
            case "date[]":
                return new JsonArray([.. reader.GetFieldValue<DateOnly?[]>(ordinal).Select(d => d is { } v ? FormatDate(v) : null)]);
            case "time without time zone":
                return JsonValue.Create(reader.GetFieldValue<TimeOnly>(ordinal).ToString("HH:mm:ss.FFFFFF", CultureInfo.InvariantCulture));
            case "numeric":
                try
                {
                    return JsonValue.Create(reader.GetFieldValue<decimal>(ordinal));
                }
                catch (Exception ex) when (ex is InvalidCastException or OverflowException)
                {
                    // Out of decimal's range, or NaN/Infinity.
                    return FromValue(reader.GetFieldValue<double>(ordinal));
                }
        }

        return FromValue(reader.GetValue(ordinal));
    }

    /// <summary>Converts a value read by Npgsql to JSON.</summary>
    public static JsonNode? FromValue(object? value) => value switch
    {
        null or DBNull => null,
        bool b => JsonValue.Create(b),
        short s => JsonValue.Create(s),
        int i => JsonValue.Create(i),
        long l => JsonValue.Create(l),
        uint u => JsonValue.Create(u),
        float f => FromDouble(f),
        double d => FromDouble(d),
        decimal m => JsonValue.Create(m),
        BigInteger big => JsonNode.Parse(big.ToString(CultureInfo.InvariantCulture)),
        string s => JsonValue.Create(s),
        char c => JsonValue.Create(c.ToString()),
        Guid g => JsonValue.Create(g.ToString()),
        DateTime dt => JsonValue.Create(FormatDateTime(dt)),
        DateTimeOffset dto => JsonValue.Create(dto.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffffzzz", CultureInfo.InvariantCulture)),
        DateOnly d => FormatDate(d),
        TimeOnly t => JsonValue.Create(t.ToString("HH:mm:ss.FFFFFF", CultureInfo.InvariantCulture)),
        TimeSpan ts => JsonValue.Create(XmlConvert.ToString(ts)),
        byte[] bytes => JsonValue.Create(Convert.ToBase64String(bytes)),
        BitArray bits => JsonValue.Create(string.Concat(bits.Cast<bool>().Select(bit => bit ? '1' : '0'))),
        IDictionary<string, string?> hstore => new JsonObject(hstore.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))),
        Array array => new JsonArray([.. array.Cast<object?>().Select(FromValue)]),
        _ => JsonValue.Create(Convert.ToString(value, CultureInfo.InvariantCulture)),
    };

    private static JsonValue FromDouble(double d) =>
        double.IsFinite(d) ? JsonValue.Create(d) : JsonValue.Create(d.ToString(CultureInfo.InvariantCulture));

    private static JsonValue FormatDate(DateOnly date) =>
        JsonValue.Create(date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));

    private static string FormatDateTime(DateTime value) => value.Kind == DateTimeKind.Utc
        ? value.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture)
        : value.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff", CultureInfo.InvariantCulture);
}
