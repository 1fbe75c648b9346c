using System.Text.Json.Nodes;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>Child workflows over HTTP with the in-process std worker: example 13 runs, the read API links parent and
/// children, bad <c>workflow:</c> settings are 422s naming the field.</summary>
[Collection(StdWorkerServerCollection.Name)]
public sealed class ChildWorkflowApiTests(StdWorkerServerFixture server)
{
    [Fact]
    public async Task PerCustomerExample_WithStdWorker_CompletesWithEachChildsOutput()
    {
        await server.DeployAsync(File.ReadAllText(Path.Combine(ExamplesTests.RepositoryRoot(), "examples", "13-customer-summary.yaml")));
        var deployed = await server.DeployAsync(File.ReadAllText(Path.Combine(ExamplesTests.RepositoryRoot(), "examples", "13-per-customer.yaml")));
        var id = await server.SubmitAsync(deployed["name"]!.GetValue<string>());
        var wf = await WaitTerminalAsync(id);
        Assert.True(wf["status"]!.GetValue<string>() == "completed", wf.ToJsonString());

        var (_, output) = await server.GetAsync($"/api/v1/workflows/{id}/activities/report/output");
        var totals = output["output"]![0]!["value"]!["totals"]!;
        Assert.Equal(200, totals["acme"]!.GetValue<int>());
        Assert.Equal(300, totals["globex"]!.GetValue<int>());

        Assert.Null(wf["parent_id"]);
        var children = wf["children"]!.AsArray();
        Assert.Equal(["acme", "globex"], children.Select(c => c!["activity_key"]!.GetValue<string>()).Order().ToArray());
        Assert.All(children, c => Assert.Equal("completed", c!["status"]!.GetValue<string>()));
        var childId = children[0]!["workflow_id"]!.GetValue<string>();
        var (status, child) = await server.GetAsync($"/api/v1/workflows/{childId}");
        Assert.Equal(200, status);
        Assert.Equal(id, child["parent_id"]!.GetValue<string>());
        Assert.Equal("customer_summary", child["definition_name"]!.GetValue<string>());
        Assert.Empty(child["children"]!.AsArray());
    }

    [Fact]
    public async Task Deploy_WorkflowActivityWithWorker_Is422NamingTheField()
    {
        using var response = await server.Http.PostAsync("/api/v1/workflow_definitions", new StringContent("""
            name: bad_child
            activities:
              - {key: c, workflow: customer_summary, worker: std, input: [1]}
            """));
        Assert.Equal(422, (int)response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        var fields = body["error"]!["details"]!["field_errors"]!.AsObject();
        Assert.True(fields.ContainsKey("activities[0].worker"), body.ToJsonString());
        Assert.True(fields.ContainsKey("activities[0].input"), body.ToJsonString());
    }

    private async Task<JsonObject> WaitTerminalAsync(string id)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
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
}
