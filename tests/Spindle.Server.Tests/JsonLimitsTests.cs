using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Spindle.Core.Common;
using Spindle.Server.Wakeups;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>
/// Documents at the depth limit and of a few MiB go in through every route that takes one and come back out of
/// every route that shows one, and the workflows holding them still cancel, complete, time out and expire;
/// anything deeper, or with a repeated key, gets a 422 naming the field. On both stores.
/// </summary>
public abstract class JsonLimitsBehaviour : IAsyncLifetime
{
    private const int Limit = JsonLimits.MaxDocumentDepth;

    /// <summary>Large enough to be more than a toy, small enough for two cores: well under the 50 MiB body limit.</summary>
    private static readonly string Big = new('x', 3 * 1024 * 1024);

    private LimitsServer _server = null!;

    private HttpClient Http => _server.Http;

    protected abstract Task<string?> DatabaseUrlAsync();

    public async Task InitializeAsync()
    {
        var databaseUrl = await DatabaseUrlAsync();
        _server = new LimitsServer(databaseUrl);
        await _server.InitializeAsync();
        if (databaseUrl is not null)
        {
            await _server.App.Services.GetRequiredService<PostgresWakeupListener>().Listening.WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    public Task DisposeAsync() => _server.DisposeAsync();

    /// <summary>The shared fixture's server, on the store this run tests.</summary>
    private sealed class LimitsServer(string? databaseUrl) : ServerFixture
    {
        protected override void Configure(ServerOptions options) => options.DatabaseUrl = databaseUrl;
    }

    /// <summary>An object nested exactly <paramref name="levels"/> levels deep (<c>{}</c> is one).</summary>
    private static JsonObject Nest(int levels)
    {
        var node = new JsonObject();
        for (var i = 1; i < levels; i++)
        {
            node = new JsonObject { ["n"] = node };
        }
        return node;
    }

    /// <summary>A document exactly at the limit and a few MiB large.</summary>
    private static JsonObject Deepest() => new() { ["big"] = Big, ["deep"] = Nest(Limit - 1) };

    private static JsonObject TooDeep() => new() { ["deep"] = Nest(Limit) };

    [Fact]
    public async Task EveryRoute_DocumentAtTheLimit_IsStoredReadBackAndNeverA500()
    {
        // Definition parameters: the definition is the document, so its parameters sit four levels down.
        var definition = new JsonObject
        {
            ["name"] = "deep",
            ["activities"] = new JsonArray(
                new JsonObject { ["key"] = "a", ["activity_name"] = "echo", ["worker"] = "t1", ["parameters"] = new JsonObject { ["deep"] = Nest(Limit - 4) } },
                new JsonObject
                {
                    ["key"] = "s",
                    ["activity_name"] = "echo",
                    ["worker"] = "t1",
                    ["depends_on"] = new JsonArray("a"),
                    ["settings"] = new JsonObject { ["wait_for_signal"] = new JsonObject { ["event_name"] = "go" } },
                }),
        };
        Assert.Equal(Limit, JsonLimits.Depth(definition));
        await ExpectAsync(201, await PostAsync("/api/v1/workflow_definitions", definition));
        var tooDeepDefinition = definition.DeepClone().AsObject();
        tooDeepDefinition["name"] = "too_deep";
        tooDeepDefinition["activities"]![0]!["parameters"] = new JsonObject { ["deep"] = Nest(Limit - 3) };
        var rejected = await ExpectAsync(422, await PostAsync("/api/v1/workflow_definitions", tooDeepDefinition));
        Assert.Contains("nested deeper than 64 levels", rejected["error"]!["details"]!["field_errors"]!["definition"]![0]!.GetValue<string>(), StringComparison.Ordinal);

        // Submit input.
        var id = await SubmitAsync("deep", Deepest());
        await ExpectFieldErrorAsync("input", await PostAsync("/api/v1/workflows", new JsonObject { ["definition_name"] = "deep", ["input"] = TooDeep() }));
        await ExpectFieldErrorAsync("inputs", await PostAsync("/api/v1/workflows/start", new JsonObject { ["name"] = "deep", ["inputs"] = TooDeep() }));

        // Complete output.
        var a = Assert.Single(await PollAsync("t1"))!;
        Assert.True(JsonNode.DeepEquals(Nest(Limit - 4), a["parameters"]!["deep"]));
        var activityId = a["activity_id"]!.GetValue<string>();
        await ExpectFieldErrorAsync("output", await PostAsync($"/api/v1/activities/{activityId}/complete",
            new JsonObject { ["worker_id"] = "w", ["output"] = TooDeep() }));
        await ExpectAsync(200, await PostAsync($"/api/v1/activities/{activityId}/complete", new JsonObject { ["worker_id"] = "w", ["output"] = Deepest() }));

        // Signal data, then the signalled activity completes the workflow.
        await ExpectFieldErrorAsync("data", await PostAsync($"/api/v1/workflows/{id}/signal",
            new JsonObject { ["event_name"] = "go", ["activity_key"] = "s", ["data"] = TooDeep() }));
        var signaled = await ExpectAsync(200, await PostAsync($"/api/v1/workflows/{id}/signal",
            new JsonObject { ["event_name"] = "go", ["activity_key"] = "s", ["data"] = Deepest() }));
        Assert.True(signaled["signaled"]!.GetValue<bool>());
        var s = Assert.Single(await PollAsync("t1"))!;
        Assert.True(JsonNode.DeepEquals(Deepest(), s["signal_data"]));
        await ExpectAsync(200, await PostAsync($"/api/v1/activities/{s["activity_id"]}/complete", new JsonObject { ["worker_id"] = "w", ["output"] = Deepest() }));

        // Every read route of the completed workflow.
        var wf = await GetAsync($"/api/v1/workflows/{id}");
        Assert.Equal("completed", wf["status"]!.GetValue<string>());
        Assert.Contains(Big, wf.ToJsonString(), StringComparison.Ordinal);
        var output = await GetAsync($"/api/v1/workflows/{id}/output");
        Assert.Contains(Big, output.ToJsonString(), StringComparison.Ordinal);
        var activityOutput = await GetAsync($"/api/v1/workflows/{id}/activities/a/output");
        var outputs = activityOutput["output"]!.AsArray();
        Assert.True(JsonNode.DeepEquals(Nest(Limit - 1), outputs.Single(o => o!["name"]!.GetValue<string>() == "deep")!["value"]));
        Assert.Equal(Big, outputs.Single(o => o!["name"]!.GetValue<string>() == "big")!["value"]!.GetValue<string>());
        var events = await GetAsync($"/api/v1/workflows/{id}/events");
        Assert.NotEmpty(events["events"]!.AsArray());
        Assert.Contains(id, (await GetAsync("/api/v1/workflows")).ToJsonString(), StringComparison.Ordinal);
        await GetAsync($"/api/v1/workflows/{id}/cost");
        await GetAsync($"/api/v1/workflows/{id}/cost/history");
        await GetAsync("/api/v1/cost/analytics");
        Assert.Contains("\"deep\"", (await GetAsync("/api/v1/workflow_definitions")).ToJsonString(), StringComparison.Ordinal);
        var stored = await GetAsync("/api/v1/workflow_definitions/deep");
        Assert.True(JsonNode.DeepEquals(Nest(Limit - 4), stored["activities"]![0]!["parameters"]!["deep"]));

        // Cancel, then retry, of a running workflow holding the deepest input.
        var cancelled = await SubmitAsync("deep", Deepest());
        await ExpectAsync(200, await PostAsync($"/api/v1/workflows/{cancelled}/cancel", new JsonObject { ["reason"] = "test" }));
        Assert.Equal("cancelled", (await GetAsync($"/api/v1/workflows/{cancelled}"))["status"]!.GetValue<string>());
        await GetAsync($"/api/v1/workflows/{cancelled}/events");
        Assert.True((await PostAsync($"/api/v1/workflows/{cancelled}/retry", null)).Status < 500);
    }

    [Fact]
    public async Task FailAndTimers_WorkflowsHoldingTheDeepestDocuments_StillFail()
    {
        await DeployAsync("""
            name: deep_fail
            activities:
              - {key: f, activity_name: echo, worker: t2, settings: {retry: {max_attempts: 1}}}
            """);
        await DeployAsync("""
            name: deep_deadline
            settings: {timeout: 1}
            activities:
              - {key: a, activity_name: echo, worker: nobody}
            """);
        await DeployAsync("""
            name: deep_lease
            activities:
              - {key: l, activity_name: echo, worker: t3, settings: {timeout_seconds: 1, retry: {max_attempts: 1}}}
            """);

        // Fail with error details at the limit.
        var failing = await SubmitAsync("deep_fail", Deepest());
        var f = Assert.Single(await PollAsync("t2"))!;
        var error = new JsonObject { ["code"] = "BOOM", ["message"] = "failed on purpose", ["retryable"] = false, ["details"] = Nest(Limit - 1) };
        await ExpectFieldErrorAsync("error", await PostAsync($"/api/v1/activities/{f["activity_id"]}/fail",
            new JsonObject { ["worker_id"] = "w", ["error"] = new JsonObject { ["code"] = "BOOM", ["message"] = "m", ["details"] = Nest(Limit) } }));
        await ExpectAsync(200, await PostAsync($"/api/v1/activities/{f["activity_id"]}/fail", new JsonObject { ["worker_id"] = "w", ["error"] = error }));
        Assert.Equal("failed", (await GetAsync($"/api/v1/workflows/{failing}"))["status"]!.GetValue<string>());
        await GetAsync($"/api/v1/workflows/{failing}/events");

        // The timer pass loads these workflows: deadline and lease expiry fire on them.
        var deadline = await SubmitAsync("deep_deadline", Deepest());
        var leased = await SubmitAsync("deep_lease", Deepest());
        Assert.Single(await PollAsync("t3"));
        await WaitForStatusAsync(deadline, "failed");
        var expired = await WaitForStatusAsync(leased, "failed");
        Assert.Contains("ACTIVITY_TIMEOUT", expired.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bodies_DuplicateKeys_422NamingTheKey()
    {
        await DeployAsync("""
            name: dup
            activities:
              - {key: a, activity_name: echo, worker: t4}
            """);
        var nested = await ExpectFieldErrorAsync("input.a.b",
            await PostRawAsync("/api/v1/workflows", """{"definition_name": "dup", "input": {"a": {"b": 1, "b": 2}}}"""));
        Assert.Contains("duplicate key 'b'", nested["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        await ExpectFieldErrorAsync("definition_name", await PostRawAsync("/api/v1/workflows", """{"definition_name": "dup", "definition_name": "x"}"""));
        await ExpectFieldErrorAsync("input.list[1].k", await PostRawAsync("/api/v1/workflows",
            """{"definition_name": "dup", "input": {"list": [{"k": 1}, {"k": 1, "k": 2}]}}"""));

        var id = await SubmitAsync("dup", new JsonObject());
        await ExpectFieldErrorAsync("reason", await PostRawAsync($"/api/v1/workflows/{id}/cancel", """{"reason": "a", "reason": "b"}"""));
        await ExpectFieldErrorAsync("data.x", await PostRawAsync($"/api/v1/workflows/{id}/signal", """{"event_name": "go", "data": {"x": 1, "x": 1}}"""));
        var a = Assert.Single(await PollAsync("t4"))!;
        await ExpectFieldErrorAsync("output.v", await PostRawAsync($"/api/v1/activities/{a["activity_id"]}/complete",
            """{"worker_id": "w", "output": {"v": 1, "v": 2}}"""));
        await ExpectFieldErrorAsync("worker_id", await PostRawAsync("/api/v1/workers/poll", """{"worker": "t4", "worker_id": "a", "worker_id": "b"}"""));
        // A definition is read as YAML, which has always refused repeated keys.
        var definition = await ExpectAsync(422, await PostRawAsync("/api/v1/workflow_definitions", """{"name": "d", "name": "e", "activities": []}"""));
        Assert.Contains("Duplicate key name", definition.ToJsonString(), StringComparison.Ordinal);
        // Nothing of the refused requests was applied.
        Assert.Equal("running", (await GetAsync($"/api/v1/workflows/{id}"))["status"]!.GetValue<string>());
    }

    private async Task<JsonObject> WaitForStatusAsync(string id, string status)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var wf = await GetAsync($"/api/v1/workflows/{id}");
            if (wf["status"]!.GetValue<string>() == status)
            {
                return wf;
            }
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), $"workflow {id} is still {wf["status"]}, expected {status}");
            await Task.Delay(100);
        }
    }

    private async Task DeployAsync(string yaml)
    {
        using var response = await Http.PostAsync("/api/v1/workflow_definitions", new StringContent(yaml, Encoding.UTF8, "application/yaml"));
        await ExpectAsync(201, ((int)response.StatusCode, await ReadAsync(response)));
    }

    private async Task<string> SubmitAsync(string name, JsonObject input)
    {
        var body = await ExpectAsync(201, await PostAsync("/api/v1/workflows", new JsonObject { ["definition_name"] = name, ["input"] = input }));
        return body["workflow_id"]!.GetValue<string>();
    }

    private async Task<JsonArray> PollAsync(string routingKey)
    {
        var body = await ExpectAsync(200, await PostAsync("/api/v1/workers/poll",
            new JsonObject { ["worker"] = routingKey, ["worker_id"] = "w", ["max_activities"] = 10 }));
        return body["activities"]!.AsArray();
    }

    private Task<(int Status, JsonObject Body)> PostAsync(string path, JsonNode? body) => PostRawAsync(path, body?.ToJsonString() ?? "");

    private async Task<(int Status, JsonObject Body)> PostRawAsync(string path, string body)
    {
        using var response = await Http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        return ((int)response.StatusCode, await ReadAsync(response));
    }

    private async Task<JsonObject> GetAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        return await ExpectAsync(200, ((int)response.StatusCode, await ReadAsync(response)));
    }

    private static async Task<JsonObject> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        var node = text.Length == 0 ? null : JsonNode.Parse(text, documentOptions: JsonLimits.ReadOptions);
        return node as JsonObject ?? new JsonObject { ["_"] = node }; // a few routes answer with a list
    }

    private static Task<JsonObject> ExpectAsync(int status, (int Status, JsonObject Body) answer)
    {
        Assert.True(answer.Status == status, $"expected {status}, got {answer.Status}: {Shorten(answer.Body.ToJsonString())}");
        return Task.FromResult(answer.Body);
    }

    private static async Task<JsonObject> ExpectFieldErrorAsync(string field, (int Status, JsonObject Body) answer)
    {
        var body = await ExpectAsync(422, answer);
        var fields = body["error"]!["details"]!["field_errors"]!.AsObject();
        Assert.True(fields.ContainsKey(field), $"expected a field error for '{field}': {body.ToJsonString()}");
        Assert.StartsWith(field + ": ", body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        return body;
    }

    private static string Shorten(string text) => text.Length > 600 ? text[..600] + "..." : text;
}

public sealed class SqliteJsonLimitsTests : JsonLimitsBehaviour
{
    protected override Task<string?> DatabaseUrlAsync() => Task.FromResult<string?>(null);
}

[Collection(PostgresFixture.CollectionName)]
public sealed class PostgresJsonLimitsTests(PostgresFixture postgres) : JsonLimitsBehaviour
{
    protected override async Task<string?> DatabaseUrlAsync() => await postgres.CreateDatabaseAsync();
}

/// <summary>One throwaway PostgreSQL cluster for the server tests that run on PostgreSQL.</summary>
[CollectionDefinition(PostgresFixture.CollectionName)]
public sealed class PostgresServerCollection : ICollectionFixture<PostgresFixture>;
