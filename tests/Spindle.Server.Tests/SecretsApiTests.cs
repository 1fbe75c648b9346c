using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Spindle.Server.Wakeups;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>
/// Secrets over HTTP: workers get the values from poll, claim-next and the submit hand-over; the read API, the events
/// and the database file never show them; deploy refuses templates that would compute with a secret.
/// </summary>
[Collection(SecretsServerCollection.Name)]
public sealed class SecretsApiTests(SecretsServerFixture server)
{
    private const string DbUrl = SecretsServerFixture.DbUrl;

    private static string Yaml(string name, string queue) => $$$"""
        name: {{{name}}}
        activities:
          - key: a
            worker: {{{queue}}}
            activity_name: echo
            parameters: {url: "{{SECRET.db_url}}", dsn: "{{INPUT.user}}@{{ SECRET['db_url'] }}#x"}
          - key: b
            worker: {{{queue}}}
            activity_name: echo
            depends_on: [a]
            parameters: {url: "{{SECRET.db_url}}"}
        """;

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    private async Task AssertNotExposedAsync(string workflowId)
    {
        var (status, workflow) = await server.GetAsync($"/api/v1/workflows/{workflowId}");
        Assert.Equal(200, status);
        var (_, events) = await server.GetAsync($"/api/v1/workflows/{workflowId}/events");
        Assert.DoesNotContain("Hunter2", workflow.ToJsonString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Hunter2", events.ToJsonString(), StringComparison.Ordinal);
        var stored = new StringBuilder();
        foreach (var path in Directory.GetFiles(server.DataDir, "spindle.db*"))
        {
            await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var memory = new MemoryStream();
            await file.CopyToAsync(memory);
            stored.Append(Encoding.Latin1.GetString(memory.ToArray()));
        }
        Assert.Contains("{{SECRET.db_url}}", stored.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Hunter2", stored.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PollAndClaimNext_ParametersPrintSecret_WorkerGetsValueButApiAndDatabaseNever()
    {
        var name = Unique("secret");
        var queue = Unique("sq");
        await server.DeployAsync(Yaml(name, queue));
        var id = await server.SubmitAsync(name, new JsonObject { ["user"] = "{{SECRET.db_url}}" });

        var a = Assert.Single(await server.PollAsync("w1", routingKey: queue))!;
        Assert.Equal(DbUrl, a["parameters"]!["url"]!.GetValue<string>());
        Assert.Equal("{{SECRET.db_url}}@" + DbUrl + "#x", a["parameters"]!["dsn"]!.GetValue<string>()); // the input stays text

        var (status, completed) = await server.PostAsync($"/api/v1/activities/{a["activity_id"]!.GetValue<string>()}/complete",
            new JsonObject { ["worker_id"] = "w1", ["output"] = new JsonObject(), ["claim_next"] = 1 });
        Assert.Equal(200, status);
        var b = Assert.Single(completed["activities"]!.AsArray())!;
        Assert.Equal(DbUrl, b["parameters"]!["url"]!.GetValue<string>());
        await AssertNotExposedAsync(id);
    }

    [Fact]
    public async Task Submit_WhileALongPollWaits_HandOverCarriesSecretValue()
    {
        var name = Unique("secret-ho");
        var queue = Unique("sho");
        await server.DeployAsync(Yaml(name, queue));
        var polls = server.App.Services.GetRequiredService<PollCoordinator>();
        var poll = server.PollAsync("waiter", wait: 20, routingKey: queue);
        var watch = Stopwatch.StartNew();
        while (polls.WaitingFor(queue) is null)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "the long-poll never waited");
            await Task.Delay(10);
        }
        var id = await server.SubmitAsync(name, new JsonObject { ["user"] = "u" });
        var handed = Assert.Single(await poll.WaitAsync(TimeSpan.FromSeconds(10)))!;
        Assert.Equal(DbUrl, handed["parameters"]!["url"]!.GetValue<string>());
        Assert.Equal("u@" + DbUrl + "#x", handed["parameters"]!["dsn"]!.GetValue<string>());
        await AssertNotExposedAsync(id);
    }

    [Theory]
    [InlineData("{{ SECRET }}")]
    [InlineData("{{ SECRET | tojson }}")]
    [InlineData("{% for k in SECRET %}{{ k }}{% endfor %}")]
    [InlineData("{{ SECRET[INPUT.which] }}")]
    public async Task Deploy_SecretEnumeratedOrComputed_Returns422NamingActivityAndField(string template)
    {
        var yaml = $"name: {Unique("bad-secret")}\nactivities:\n  - {{key: leak, activity_name: echo, parameters: {{all: \"{template}\"}}}}\n";
        using var response = await server.Http.PostAsync("/api/v1/workflow_definitions", new StringContent(yaml));
        Assert.Equal(422, (int)response.StatusCode);
        var body = await ServerFixture.ReadAsync(response);
        var messages = body["error"]!["details"]!["field_errors"]!["activity.leak.parameters.all"]!.AsArray();
        Assert.Contains("SECRET", messages[0]!.GetValue<string>(), StringComparison.Ordinal);
    }
}
