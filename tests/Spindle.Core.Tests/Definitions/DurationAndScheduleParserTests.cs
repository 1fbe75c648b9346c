using Spindle.Core.Definitions;

namespace Spindle.Core.Tests.Definitions;

public class DurationAndScheduleParserTests
{
    private static readonly DateTimeOffset From = new(2026, 1, 31, 10, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("0s", 0)]
    [InlineData("250ms", 250)]
    [InlineData("30s", 30_000)]
    [InlineData("5m", 300_000)]
    [InlineData("5mi", 300_000)]
    [InlineData("2h", 7_200_000)]
    [InlineData("1d", 86_400_000)]
    [InlineData("2w", 1_209_600_000)]
    public void TryParseDelay_FixedUnits_AddExactDuration(string text, long milliseconds)
    {
        Assert.True(DurationParser.TryParseDelay(text, From, out var until));
        Assert.Equal(From.AddMilliseconds(milliseconds), until);
    }

    [Fact]
    public void TryParseDelay_Months_AreCalendarMonths()
    {
        Assert.True(DurationParser.TryParseDelay("1mo", From, out var until));
        Assert.Equal(new DateTimeOffset(2026, 2, 28, 10, 0, 0, TimeSpan.Zero), until);
        Assert.True(DurationParser.TryParseDelay("13mo", From, out until));
        Assert.Equal(new DateTimeOffset(2027, 2, 28, 10, 0, 0, TimeSpan.Zero), until);
    }

    [Fact]
    public void TryParseDelay_Years_AreTwelveMonths()
    {
        var leapDay = new DateTimeOffset(2028, 2, 29, 0, 0, 0, TimeSpan.FromHours(2));
        Assert.True(DurationParser.TryParseDelay("1y", leapDay, out var until));
        Assert.Equal(new DateTimeOffset(2029, 2, 28, 0, 0, 0, TimeSpan.FromHours(2)), until);
        Assert.True(DurationParser.TryParseDelay("2y", From, out until));
        Assert.Equal(From.AddMonths(24), until);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("s")]
    [InlineData("5 m")]
    [InlineData(" 5m")]
    [InlineData("5m ")]
    [InlineData("5M")]
    [InlineData("1.5h")]
    [InlineData("-1s")]
    [InlineData("5min")]
    [InlineData("5sec")]
    [InlineData("1h30m")]
    [InlineData("١s")] // Arabic-Indic digit
    [InlineData("99999999999999999999s")]
    [InlineData("9999999y")]
    [InlineData("999999999999w")]
    public void TryParseDelay_Invalid_ReturnsFalse(string text)
    {
        Assert.False(DurationParser.TryParseDelay(text, From, out _));
    }

    [Fact]
    public void TryParseDelay_NearMaxValue_ReturnsFalseInsteadOfThrowing()
    {
        Assert.False(DurationParser.TryParseDelay("1d", DateTimeOffset.MaxValue.AddHours(-1), out _));
    }

    [Theory]
    [InlineData("2026-03-01T14:30:00Z", "2026-03-01T14:30:00+00:00")]
    [InlineData("2026-03-01t14:30:00z", "2026-03-01T14:30:00+00:00")]
    [InlineData("2026-03-01 14:30:00Z", "2026-03-01T14:30:00+00:00")]
    [InlineData("2026-03-01T14:30:00+01:00", "2026-03-01T13:30:00+00:00")]
    [InlineData("2026-03-01T14:30:00-05:30", "2026-03-01T20:00:00+00:00")]
    [InlineData("2026-03-01T14:30:00.123456789Z", "2026-03-01T14:30:00.1234567+00:00")]
    [InlineData("2026-03-01T14:30:00.5+00:00", "2026-03-01T14:30:00.5+00:00")]
    public void TryParse_Rfc3339WithOffset_Parses(string text, string expectedUtc)
    {
        Assert.True(ScheduledForParser.TryParse(text, out var at));
        Assert.Equal(DateTimeOffset.Parse(expectedUtc, System.Globalization.CultureInfo.InvariantCulture), at);
    }

    [Fact]
    public void TryParse_KeepsGivenOffset()
    {
        Assert.True(ScheduledForParser.TryParse("2026-03-01T14:30:00+02:00", out var at));
        Assert.Equal(TimeSpan.FromHours(2), at.Offset);
    }

    [Theory]
    [InlineData("2026-03-01T14:30:00")]
    [InlineData("2026-03-01")]
    [InlineData("2026-03-01T14:30Z")]
    [InlineData("2026-03-01T14:30:00+0100")]
    [InlineData("2026-03-01T14:30:00 +01:00")]
    [InlineData("2026-02-30T00:00:00Z")]
    [InlineData("2026-13-01T00:00:00Z")]
    [InlineData("2026-03-01T24:00:00Z")]
    [InlineData("2026-03-01T14:30:00+24:00")]
    [InlineData("2026-03-01T14:30:60Z")]
    [InlineData(" 2026-03-01T14:30:00Z")]
    [InlineData("March 1, 2026")]
    [InlineData("1772375400")]
    [InlineData("")]
    public void TryParse_WithoutOffsetOrMalformed_ReturnsFalse(string text)
    {
        Assert.False(ScheduledForParser.TryParse(text, out _));
    }
}
