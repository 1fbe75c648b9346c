using System.Text.Json.Nodes;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>Child workflows over HTTP with the in-process std worker: example 13 runs, the read API links parent and
/// children, bad <c>workflow:</c> settings are 422s naming the field.</summary>
[Collection(StdWorkerServerCollection.Name)]
public sealed class ChildWorkflowApiTests(StdWorkerServerFixture server)
{
    [Fact]
    public async Task PerCustomerExample_WithStdWorker_CompletesWithEachChildsOutputOneRunPerCustomerAtATime()
    {
        await server.DeployAsync(File.ReadAllText(Path.Combine(ExamplesTests.RepositoryRoot(), "examples", "13-customer-summary.yaml")));
        var deployed = await server.DeployAsync(File.ReadAllText(Path.Combine(ExamplesTests.RepositoryRoot(), "examples", "13-per-customer.yaml")));
        var id = await server.SubmitAsync(deployed["name"]!.GetValue<string>());
        var wf = await WaitTerminalAsync(id);
        Assert.True(wf["status"]!.GetValue<string>() == "completed", wf.ToJsonString());

        var (_, output) = await server.GetAsync($"/api/v1/workflows/{id}/activities/report/output");
        var summaries = output["output"]![0]!["value"]!["summaries"]!.AsArray();
        Assert.Equal(["acme:200", "globex:300", "acme:50"],
            summaries.Select(s => $"{s!["echo"]!["customer"]}:{s["echo"]!["total"]}").ToArray());

        Assert.Null(wf["parent_id"]);
        var children = wf["children"]!.AsArray();
        Assert.Equal(3, children.Count);
        Assert.All(children, c => Assert.Equal("completed", c!["status"]!.GetValue<string>()));
        var runs = new List<JsonObject>();
        foreach (var c in children)
        {
            var (status, child) = await server.GetAsync($"/api/v1/workflows/{c!["workflow_id"]!.GetValue<string>()}");
            Assert.Equal(200, status);
            Assert.Equal(id, child["parent_id"]!.GetValue<string>());
            Assert.Equal("customer_summary", child["definition_name"]!.GetValue<string>());
            runs.Add(child);
        }
        // concurrency {key: customer, limit: 1}: acme's second child started only after its first had ended.
        var acme = runs.Where(r => Activity(r, "orders")["outputs"]![0]!["value"]!["customer"]!.GetValue<string>() == "acme")
            .OrderBy(r => Activity(r, "orders")["started_at"]!.GetValue<DateTimeOffset>()).ToList();
        Assert.Equal(2, acme.Count);
        Assert.True(Activity(acme[1], "orders")["started_at"]!.GetValue<DateTimeOffset>() >= acme[0]["completed_at"]!.GetValue<DateTimeOffset>(),
            acme[0].ToJsonString() + acme[1].ToJsonString());
    }

    private static JsonObject Activity(JsonObject wf, string key) =>
        wf["activities"]!.AsArray().Single(a => a!["activity_key"]!.GetValue<string>() == key)!.AsObject();

    [Fact]
    public async Task Deploy_WorkflowActivityWithConcurrencyOrRateLimit_Is422SayingToPutItOnTheChild()
    {
        using var response = await server.Http.PostAsync("/api/v1/workflow_definitions", new StringContent("""
            name: bad_child_limits
            activities:
              - {key: c, workflow: customer_summary, concurrency: {key: a, limit: 1}, rate_limit: {key: a, per_second: 1}}
            """));
        Assert.Equal(422, (int)response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        var fields = body["error"]!["details"]!["field_errors"]!.AsObject();
        Assert.Contains("child definition", fields["activities[0].concurrency"]![0]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.True(fields.ContainsKey("activities[0].rate_limit"), body.ToJsonString());
    }

    [Fact]
    public async Task Deploy_BadWorkflowConcurrency_Is422NamingTheField()
    {
        using var response = await server.Http.PostAsync("/api/v1/workflow_definitions", new StringContent("""
            name: bad_run_limit
            concurrency: {key: "{{INPUT.customer}}", limit: 0, burst: 2}
            activities:
              - {key: a, activity_name: echo}
            """));
        Assert.Equal(422, (int)response.StatusCode);
        var fields = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!["details"]!["field_errors"]!.AsObject();
        Assert.True(fields.ContainsKey("concurrency.limit"), fields.ToJsonString());
        Assert.True(fields.ContainsKey("concurrency.burst"), fields.ToJsonString());
    }

    [Fact]
    public async Task Submit_WorkflowConcurrencyKeyThatDoesNotRender_Is422NamingTheField()
    {
        await server.DeployAsync("""
            name: keyed_by_customer
            concurrency: {key: "{{INPUT.customer}}", limit: 1}
            activities:
              - {key: a, activity_name: echo}
            """);
        var (status, body) = await server.PostAsync("/api/v1/workflows",
            new JsonObject { ["definition_name"] = "keyed_by_customer", ["input"] = new JsonObject { ["other"] = 1 } });
        Assert.Equal(422, status);
        var messages = body["error"]!["details"]!["field_errors"]!["concurrency.key"]!.AsArray();
        Assert.Contains("customer", messages[0]!.GetValue<string>(), StringComparison.Ordinal);
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
