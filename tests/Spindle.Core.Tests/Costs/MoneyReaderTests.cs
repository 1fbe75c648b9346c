using System.Text.Json.Nodes;
using Spindle.Core.Costs;

namespace Spindle.Core.Tests.Costs;

public sealed class MoneyReaderTests
{
    [Theory]
    [InlineData("\"0.50\"", "0.50")]
    [InlineData("\" 2.5 \"", "2.5")]
    [InlineData("\"-1\"", "-1")]
    [InlineData("0.0021", "0.0021")]
    [InlineData("1e2", "100")]
    [InlineData("7", "7")]
    public void Read_StringOrNumber_ReadsTheDecimal(string json, string expected)
    {
        var read = MoneyReader.Read(JsonNode.Parse(json), out var value);

        Assert.Equal(MoneyRead.Ok, read);
        Assert.Equal(decimal.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), value);
    }

    [Fact]
    public void Read_NumberWithMoreDigitsThanADouble_KeepsEveryDigit()
    {
        var read = MoneyReader.Read(JsonNode.Parse("0.12345678901234567891"), out var value);

        Assert.Equal(MoneyRead.Ok, read);
        Assert.Equal(0.12345678901234567891m, value);
    }

    [Fact]
    public void Read_AbsentOrNull_IsAbsent()
    {
        Assert.Equal(MoneyRead.Absent, MoneyReader.Read(null, out _));
        Assert.Equal(MoneyRead.Absent, MoneyReader.Read(JsonValue.Create((string?)null), out _));
    }

    [Theory]
    [InlineData("\"cheap\"")]
    [InlineData("true")]
    [InlineData("[1]")]
    [InlineData("{\"usd\": 1}")]
    public void Read_NotAnAmount_IsMalformed(string json)
    {
        Assert.Equal(MoneyRead.Malformed, MoneyReader.Read(JsonNode.Parse(json), out _));
    }

    [Fact]
    public void Read_NumberBeyondDecimal_IsTooLarge()
    {
        Assert.Equal(MoneyRead.TooLarge, MoneyReader.Read(JsonNode.Parse("1e30"), out _));
        Assert.Equal(MoneyRead.TooLarge, MoneyReader.Read(JsonValue.Create(1e30), out _));
    }

    [Theory]
    [InlineData("0.50", "0.5")]
    [InlineData("2.000", "2")]
    [InlineData("-0.0", "0")]
    [InlineData("0.0000001", "0.0000001")]
    public void Format_Decimal_UsesTheMinimalScale(string input, string expected)
    {
        Assert.Equal(expected, MoneyReader.Format(decimal.Parse(input, System.Globalization.CultureInfo.InvariantCulture)));
    }
}
