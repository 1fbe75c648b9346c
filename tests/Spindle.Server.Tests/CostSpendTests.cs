using System.Globalization;
using System.Text.Json.Nodes;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>GET /api/v1/cost/spend over real HTTP, with costs reported by a worker through the protocol.</summary>
[Collection(ServerCollection.Name)]
public sealed class CostSpendTests(ServerFixture server)
{
    [Fact]
    public async Task GetSpend_ByDefinitionAndModel_BucketsTheReportedCosts()
    {
        var key = "spend-" + Guid.NewGuid().ToString("N")[..8];
        await server.DeployAsync($"name: {key}\nactivities:\n  - {{key: a, activity_name: echo, worker: {key}}}\n");
        foreach (var cost in new[] { "0.25", "0.5" })
        {
            await server.SubmitAsync(key);
            var claimed = Assert.Single(await server.PollAsync("spender", max: 1, routingKey: key))!;
            var (status, body) = await server.PostAsync($"/api/v1/activities/{claimed["activity_id"]!.GetValue<string>()}/complete", new JsonObject
            {
                ["worker_id"] = "spender",
                ["output"] = new JsonObject(),
                ["usage"] = new JsonArray(new JsonObject { ["provider"] = key, ["model"] = "m1", ["input_tokens"] = 10, ["cost_usd"] = cost }),
            });
            Assert.True(status == 200, body.ToJsonString());
        }

        var (okDay, byDefinition) = await server.GetAsync("/api/v1/cost/spend?by=definition&top=50");
        var (okHour, byModel) = await server.GetAsync("/api/v1/cost/spend?bucket=hour&by=model&top=50");

        Assert.Equal((200, 200), (okDay, okHour));
        Assert.Equal(("day", "definition"), (byDefinition["bucket"]!.GetValue<string>(), byDefinition["by"]!.GetValue<string>()));
        Assert.Equal(31, byDefinition["buckets"]!.AsArray().Count);
        Assert.Equal(49, byModel["buckets"]!.AsArray().Count);
        Assert.Equal("0.7500", Series(byDefinition, key));
        Assert.Equal("0.7500", Series(byModel, key + "/m1"));
        // Today's bucket (the last) holds both lines; bucket starts step by one hour.
        var lastHour = byModel["buckets"]!.AsArray()[^1]!;
        Assert.Contains(lastHour["costs"]!.AsArray(), p => p!["key"]!.GetValue<string>() == key + "/m1" && p["cost_usd"]!.GetValue<string>() == "0.7500");
        var starts = byModel["buckets"]!.AsArray().Select(b => DateTimeOffset.Parse(b!["start"]!.GetValue<string>(), CultureInfo.InvariantCulture)).ToList();
        Assert.All(starts.Zip(starts.Skip(1)), pair => Assert.Equal(TimeSpan.FromHours(1), pair.Second - pair.First));
    }

    [Theory]
    [InlineData("bucket=week", "bucket")]
    [InlineData("by=workflow", "by")]
    [InlineData("top=0", "top")]
    [InlineData("bucket=hour&start_date=2026-01-01&end_date=2026-03-01", "buckets")]
    [InlineData("start_date=2026-03-02&end_date=2026-03-01", "start_date")]
    public async Task GetSpend_BadQuery_Answers400NamingTheProblem(string query, string named)
    {
        var (status, body) = await server.GetAsync("/api/v1/cost/spend?" + query);

        Assert.Equal(400, status);
        Assert.Contains(named, body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    private static string Series(JsonObject spend, string key) =>
        spend["series"]!.AsArray().Single(s => s!["key"]!.GetValue<string>() == key)!["total_cost_usd"]!.GetValue<string>();
}
