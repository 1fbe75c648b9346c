using Spindle.Core.Definitions;
using static Spindle.Core.Tests.Definitions.DefinitionTestHelpers;

namespace Spindle.Core.Tests.Definitions;

public sealed class QueueingValidationTests
{
    [Fact]
    public void Parse_ConcurrencyRateLimitAndPriority_AreNormalisedAndRead()
    {
        var def = Valid(One("    concurrency: {key: \"{{INPUT.customer_id}}\", limit: 2.0}\n    rate_limit: {key: openai, per_second: 2.5}\n    priority: 7\n"));
        var q = def.Activities[0].Queueing!;
        Assert.Equal(new ConcurrencyLimit("{{INPUT.customer_id}}", 2), q.Concurrency);
        Assert.Equal(new RateLimit("openai", 2.5, 3), q.RateLimit); // burst defaults to the rate rounded up
        Assert.Equal(7, q.Priority);
        var normalized = def.NormalizedJson["activities"]![0]!;
        Assert.Equal(2L, normalized["concurrency"]!["limit"]!.GetValue<long>());
        Assert.Equal(3.0, normalized["rate_limit"]!["burst"]!.GetValue<double>());
        Assert.Null(Valid(One("")).Activities[0].Queueing);
    }

    [Theory]
    [InlineData("    concurrency: 2\n", "activities[0].concurrency", "must be a mapping")]
    [InlineData("    concurrency: {limit: 2}\n", "activities[0].concurrency.key", "'key' is required")]
    [InlineData("    concurrency: {key: \"\", limit: 2}\n", "activities[0].concurrency.key", "non-empty string")]
    [InlineData("    concurrency: {key: a}\n", "activities[0].concurrency.limit", "'limit' is required")]
    [InlineData("    concurrency: {key: a, limit: 0}\n", "activities[0].concurrency.limit", ">= 1")]
    [InlineData("    concurrency: {key: a, limit: 1.5}\n", "activities[0].concurrency.limit", "fractions")]
    [InlineData("    rate_limit: {key: openai}\n", "activities[0].rate_limit.per_second", "'per_second' is required")]
    [InlineData("    rate_limit: {key: openai, per_second: 0}\n", "activities[0].rate_limit.per_second", "above 0")]
    [InlineData("    rate_limit: {key: openai, per_second: fast}\n", "activities[0].rate_limit.per_second", "must be a number")]
    [InlineData("    rate_limit: {key: openai, per_second: 1, burst: 0.5}\n", "activities[0].rate_limit.burst", ">= 1")]
    [InlineData("    rate_limit: {per_second: 1}\n", "activities[0].rate_limit.key", "'key' is required")]
    [InlineData("    priority: -1\n", "activities[0].priority", "from 0 to 1000")]
    [InlineData("    priority: 1001\n", "activities[0].priority", "from 0 to 1000")]
    [InlineData("    priority: high\n", "activities[0].priority", "whole number")]
    public void Parse_BadQueueingSetting_NamesTheField(string lines, string field, string fragment) =>
        Invalid(One(lines), field, fragment);
}
