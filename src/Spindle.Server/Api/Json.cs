using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace Spindle.Server.Api;

/// <summary>JSON responses: the wire records of Spindle.Protocol, and the number formats of the wire.</summary>
public static class Json
{
    /// <summary>A response body of wire record type <typeparamref name="T"/>, through its source-generated metadata.</summary>
    public static IResult Result<T>(T body, JsonTypeInfo<T> typeInfo, int status = 200) =>
        Results.Text(JsonSerializer.Serialize(body, typeInfo), "application/json", Encoding.UTF8, status);

    /// <summary>A free-form body (no record describes it).</summary>
    public static IResult Result(JsonNode body, int status = 200) =>
        Results.Text(body.ToJsonString(), "application/json", Encoding.UTF8, status);

    /// <summary>Money on the wire: a decimal string with at least four places (<c>"0.0000"</c>).</summary>
    public static string Money(decimal value) => value.ToString("0.0000##########", CultureInfo.InvariantCulture);
}
