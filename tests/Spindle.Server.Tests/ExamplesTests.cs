using System.Text.Json.Nodes;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>Every definition in <c>examples/</c> runs to completion on a server with its in-process std worker.</summary>
[Collection(StdWorkerServerCollection.Name)]
public sealed class ExamplesTests(StdWorkerServerFixture server)
{
    public static TheoryData<string, string> Examples => new()
    {
        { "01-hello-chain.yaml", """{"name": "Ada"}""" },
        { "02-fan-out-fan-in.yaml", "{}" },
        { "03-if-else.yaml", """{"amount": 250}""" },
        { "03-if-else.yaml", """{"amount": 20}""" },
        { "04-bounded-loop.yaml", """{"pages": 3}""" },
        { "05-flaky-retry.yaml", "{}" },
    };

    [Theory]
    [MemberData(nameof(Examples))]
    public async Task Example_RunWithStdWorker_Completes(string file, string input)
    {
        var deployed = await server.DeployAsync(File.ReadAllText(Path.Combine(RepositoryRoot(), "examples", file)));
        var id = await server.SubmitAsync(deployed["name"]!.GetValue<string>(), JsonNode.Parse(input)!.AsObject());
        var wf = await WaitTerminalAsync(id);
        Assert.True(wf["status"]!.GetValue<string>() == "completed", wf.ToJsonString());
    }

    [Fact]
    public async Task HelloChain_Outputs_FlowBetweenSteps()
    {
        var deployed = await server.DeployAsync(File.ReadAllText(Path.Combine(RepositoryRoot(), "examples", "01-hello-chain.yaml")));
        var id = await server.SubmitAsync(deployed["name"]!.GetValue<string>(), new JsonObject { ["name"] = "Ada" });
        await WaitTerminalAsync(id);
        var (_, output) = await server.GetAsync($"/api/v1/workflows/{id}/activities/summary/output");
        var echo = output["output"]![0]!["value"]!;
        Assert.Equal("HELLO, ADA!", echo["loud"]!.GetValue<string>());
        Assert.Equal(11, echo["length"]!.GetValue<int>());
    }

    [Fact]
    public async Task IfElse_SmallAmount_ManualReviewSkipped()
    {
        var deployed = await server.DeployAsync(File.ReadAllText(Path.Combine(RepositoryRoot(), "examples", "03-if-else.yaml")));
        var id = await server.SubmitAsync(deployed["name"]!.GetValue<string>(), new JsonObject { ["amount"] = 20 });
        var wf = await WaitTerminalAsync(id);
        var statuses = wf["activities"]!.AsArray().ToDictionary(a => a!["activity_key"]!.GetValue<string>(), a => a!["status"]!.GetValue<string>());
        Assert.Equal("skipped", statuses["manual_review"]);
        Assert.Equal("completed", statuses["auto_approve"]);
        Assert.Equal("completed", statuses["notify"]);
    }

    [Fact]
    public async Task BoundedLoop_ThreePages_FetchesEachPageOnce()
    {
        var deployed = await server.DeployAsync(File.ReadAllText(Path.Combine(RepositoryRoot(), "examples", "04-bounded-loop.yaml")));
        var id = await server.SubmitAsync(deployed["name"]!.GetValue<string>(), new JsonObject { ["pages"] = 3 });
        await WaitTerminalAsync(id);
        var (_, output) = await server.GetAsync($"/api/v1/workflows/{id}/activities/report/output");
        var report = output["output"]![0]!["value"]!;
        Assert.Equal("[1,2,3]", report["pages_fetched"]!.ToJsonString());
        Assert.Equal(3, report["rounds"]!.GetValue<int>());
    }

    [Fact]
    public async Task FlakyRetry_TwoFailures_ThirdAttemptSucceeds()
    {
        var deployed = await server.DeployAsync(File.ReadAllText(Path.Combine(RepositoryRoot(), "examples", "05-flaky-retry.yaml")));
        var id = await server.SubmitAsync(deployed["name"]!.GetValue<string>());
        var wf = await WaitTerminalAsync(id);
        var flaky = wf["activities"]!.AsArray().First(a => a!["activity_key"]!.GetValue<string>() == "flaky_call")!;
        Assert.Equal(3, flaky["attempt"]!.GetValue<int>());
        var (_, events) = await server.GetAsync($"/api/v1/workflows/{id}/events?event_type=ActivityFailed");
        Assert.Equal(2, events["count"]!.GetValue<int>());
        Assert.All(events["events"]!.AsArray(), e => Assert.True(e!["payload"]!["will_retry"]!.GetValue<bool>()));
    }

    private async Task<JsonObject> WaitTerminalAsync(string id)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var (status, wf) = await server.GetAsync($"/api/v1/workflows/{id}?wait_seconds=10");
            Assert.Equal(200, status);
            if (wf["status"]!.GetValue<string>() is "completed" or "failed" or "cancelled")
            {
                return wf;
            }
            Assert.True(DateTime.UtcNow < deadline, "workflow did not finish: " + wf.ToJsonString());
        }
    }

    internal static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Spindle.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
