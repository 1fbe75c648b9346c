using Spindle.Core.Common;

namespace Spindle.Core.Tests.Common;

public sealed class DurationTextTests
{
    [Theory]
    [InlineData(300, "5m")]
    [InlineData(90, "1m30s")]
    [InlineData(45, "45s")]
    [InlineData(5400, "1h30m")]
    [InlineData(86400, "1d")]
    [InlineData(90061, "1d1h1m1s")]
    public void Format_Seconds_WritesCompactUnits(long seconds, string expected) =>
        Assert.Equal(expected, DurationText.Format(seconds));

    [Theory]
    [InlineData("30m", 1800)]
    [InlineData("2h", 7200)]
    [InlineData("1d", 86400)]
    [InlineData("1w", 604800)]
    [InlineData("90s", 90)]
    [InlineData("600", 600)]
    public void TryParseSeconds_Durations_GivesSeconds(string text, int expected)
    {
        Assert.True(DurationText.TryParseSeconds(text, out var seconds));
        Assert.Equal(expected, seconds);
    }

    [Theory]
    [InlineData("")]
    [InlineData("soon")]
    [InlineData("1mo")]
    [InlineData("1y")]
    [InlineData("1500ms")]
    [InlineData("-5m")]
    [InlineData("5 m")]
    public void TryParseSeconds_NotAWholeSecondDuration_IsRefused(string text) =>
        Assert.False(DurationText.TryParseSeconds(text, out _));
}
