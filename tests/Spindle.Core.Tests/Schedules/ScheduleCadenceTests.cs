using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Schedules;

namespace Spindle.Core.Tests.Schedules;

public sealed class ScheduleCadenceTests
{
    private static long At(string utc) => Timestamps.ToMicros(DateTimeOffset.Parse(utc, System.Globalization.CultureInfo.InvariantCulture));

    private static ScheduleSpec Cron(string cron, string zone = "UTC") => new() { Name = "s", DefinitionName = "d", Cron = cron, Timezone = zone };

    [Fact]
    public void Next_CronInBerlinOnSpringForward_FiresOnceAtTheJump()
    {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day.
        var next = ScheduleCadence.Next(Cron("30 2 * * *", "Europe/Berlin"), 0, At("2026-03-28T12:00:00Z"));
        Assert.Equal(At("2026-03-29T01:00:00Z"), next); // 03:00 CEST
        Assert.Equal(At("2026-03-30T00:30:00Z"), ScheduleCadence.Next(Cron("30 2 * * *", "Europe/Berlin"), 0, next!.Value));
    }

    [Fact]
    public void Next_CronInBerlinOnFallBack_FiresTheRepeatedTimeOnce()
    {
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice; the schedule fires once.
        var spec = Cron("30 2 * * *", "Europe/Berlin");
        var first = ScheduleCadence.Next(spec, 0, At("2026-10-24T12:00:00Z"));
        Assert.Equal(At("2026-10-25T00:30:00Z"), first);
        Assert.Equal(At("2026-10-26T01:30:00Z"), ScheduleCadence.Next(spec, 0, first!.Value));
    }

    [Fact]
    public void Next_SixFieldCron_HasSecondPrecision()
    {
        Assert.Equal(At("2026-01-01T00:00:10Z"), ScheduleCadence.Next(Cron("*/10 * * * * *"), 0, At("2026-01-01T00:00:03Z")));
    }

    [Fact]
    public void Next_Interval_IsPhaseAnchoredAndHonoursTheWindow()
    {
        var anchor = At("2026-01-01T00:00:07Z");
        var spec = new ScheduleSpec { Name = "s", DefinitionName = "d", IntervalSeconds = 60, EndAt = At("2026-01-01T00:03:00Z") };
        Assert.Equal(At("2026-01-01T00:01:07Z"), ScheduleCadence.Next(spec, anchor, anchor));
        Assert.Equal(At("2026-01-01T00:02:07Z"), ScheduleCadence.Next(spec, anchor, At("2026-01-01T00:01:30Z")));
        Assert.Null(ScheduleCadence.Next(spec, anchor, At("2026-01-01T00:02:07Z"))); // 00:03:07 is past end_at
        Assert.Equal([At("2025-12-31T23:58:07Z"), At("2025-12-31T23:59:07Z")],
            ScheduleCadence.Between(spec, anchor, At("2025-12-31T23:58:00Z"), anchor, 10)); // a past range keeps the phase
    }

    [Fact]
    public void DueAt_Jitter_IsWithinTheBoundAndTheSameEveryTime()
    {
        var spec = Cron("0 * * * *") with { JitterSeconds = 30 };
        var occurrence = At("2026-01-01T10:00:00Z");
        var due = ScheduleCadence.DueAt(spec, occurrence);
        Assert.InRange(due, occurrence, occurrence + Timestamps.FromSeconds(30));
        Assert.Equal(due, ScheduleCadence.DueAt(spec, occurrence));
        Assert.Equal("schedule:s:1767261600", ScheduleCadence.UniqueKey("s", occurrence));
    }

    [Theory]
    [InlineData("{\"name\":\"a\",\"definition_name\":\"d\"}", "cron")]
    [InlineData("{\"name\":\"a\",\"definition_name\":\"d\",\"cron\":\"0 9 * * *\",\"interval_seconds\":60}", "cron")]
    [InlineData("{\"name\":\"a\",\"definition_name\":\"d\",\"cron\":\"0 9 * *\"}", "cron")]
    [InlineData("{\"name\":\"a\",\"definition_name\":\"d\",\"interval_seconds\":0}", "interval_seconds")]
    [InlineData("{\"name\":\"a\",\"definition_name\":\"d\",\"cron\":\"@daily\",\"timezone\":\"Atlantis/Capital\"}", "timezone")]
    [InlineData("{\"name\":\"a\",\"definition_name\":\"d\",\"cron\":\"@daily\",\"overlap_policy\":\"queue\"}", "overlap_policy")]
    [InlineData("{\"name\":\"a\",\"definition_name\":\"d\",\"cron\":\"@daily\",\"start_at\":\"tomorrow\"}", "start_at")]
    public void Read_BadField_NamesIt(string json, string field)
    {
        var (spec, errors) = ScheduleSpecReader.Read(JsonNode.Parse(json)!.AsObject());
        Assert.Null(spec);
        Assert.True(errors.ContainsKey(field), string.Join(", ", errors.Keys));
    }
}
