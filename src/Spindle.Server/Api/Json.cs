using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Spindle.Server.Api;

/// <summary>JSON responses built from <see cref="JsonNode"/> trees, and the number formats of the wire.</summary>
public static class Json
{
    public static IResult Result(JsonNode body, int status = 200) =>
        Results.Text(body.ToJsonString(), "application/json", Encoding.UTF8, status);

    /// <summary>Money on the wire: a decimal string with at least four places (<c>"0.0000"</c>).</summary>
    public static string Money(decimal value) => value.ToString("0.0000##########", CultureInfo.InvariantCulture);
}
