using System.Text;
using System.Text.Json.Nodes;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary><c>POST /api/v1/workers/report</c>: several completions and failures in one request, each answered on its own.</summary>
[Collection(ServerCollection.Name)]
public sealed class WorkerReportsApiTests(ServerFixture server)
{
    private const string Route = "/api/v1/workers/report";

    private static string Unique(string prefix) => prefix + "_" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>Independent activities p0..p(n-1) (retried up to 3 times), all claimable at once.</summary>
    private static string ParallelYaml(string name, string queue, int width) =>
        $"name: {name}\nactivities:\n" + string.Concat(Enumerable.Range(0, width).Select(i =>
            $"  - {{key: p{i}, worker: {queue}, activity_name: echo, settings: {{retry: {{max_attempts: 3}}}}}}\n"));

    private static string ChainYaml(string name, string queue) => $$"""
        name: {{name}}
        activities:
          - {key: a, worker: {{queue}}, activity_name: echo, dependency_of: [b]}
          - {key: b, worker: {{queue}}, activity_name: echo}
        """;

    private static JsonObject Complete(string activityId, JsonNode? output = null) =>
        new() { ["activity_id"] = activityId, ["action"] = "complete", ["output"] = output ?? new JsonObject { ["ok"] = true } };

    private static JsonObject Fail(string activityId, bool retryable) => new()
    {
        ["activity_id"] = activityId,
        ["action"] = "fail",
        ["error"] = new JsonObject { ["code"] = "BOOM", ["message"] = "it broke", ["retryable"] = retryable },
    };

    private Task<(int Status, JsonObject Body)> ReportAsync(string workerId, params JsonObject[] reports) =>
        server.PostAsync(Route, new JsonObject { ["worker_id"] = workerId, ["reports"] = new JsonArray([.. reports]) });

    private static Dictionary<string, string> IdsByKey(JsonArray claimed) =>
        claimed.ToDictionary(a => a!["activity_key"]!.GetValue<string>(), a => a!["activity_id"]!.GetValue<string>());

    private static (int Status, string? Code, JsonObject? FieldErrors) Result(JsonObject answer, int index)
    {
        var result = answer["results"]![index]!;
        return (result["status"]!.GetValue<int>(), result["error"]?["code"]?.GetValue<string>(),
            result["error"]?["details"]?["field_errors"] as JsonObject);
    }

    [Fact]
    public async Task Report_MixedOutcomes_AnswersEachInOrderAndOneBadReportFailsOnlyItself()
    {
        var name = Unique("batch_mixed");
        var queue = Unique("q");
        await server.DeployAsync(ParallelYaml(name, queue, 5));
        var id = await server.SubmitAsync(name);
        var mine = IdsByKey(await server.PollAsync("w1", max: 4, routingKey: queue));
        Assert.Equal(4, mine.Count);
        var theirs = Assert.Single(await server.PollAsync("w2", max: 1, routingKey: queue))!["activity_id"]!.GetValue<string>();
        var keys = mine.Keys.Order(StringComparer.Ordinal).ToList();

        var (status, answer) = await ReportAsync("w1",
            Complete(mine[keys[0]], new JsonObject { ["n"] = 1 }),
            Fail(mine[keys[1]], retryable: true),
            Complete("0190ffff-0000-7000-8000-000000000000"),
            Complete(theirs), // leased to w2: this worker's lease is lost
            Complete(mine[keys[2]], 3), // output must be an object
            Complete(mine[keys[0]]), // the same activity twice in one batch
            new JsonObject { ["activity_id"] = mine[keys[3]], ["action"] = "finish" },
            Fail(mine[keys[3]], retryable: true));

        Assert.Equal(200, status);
        Assert.Equal(8, answer["count"]!.GetValue<int>());
        Assert.Equal(mine[keys[0]], answer["results"]![0]!["activity_id"]!.GetValue<string>());
        Assert.Equal((200, null), (Result(answer, 0).Status, Result(answer, 0).Code));
        Assert.True(answer["results"]![0]!["acknowledged"]!.GetValue<bool>());
        Assert.Null(answer["results"]![0]!["activities"]); // no claim_next asked: no list, as the single route
        Assert.Equal(200, Result(answer, 1).Status);
        Assert.True(answer["results"]![1]!["will_retry"]!.GetValue<bool>());
        Assert.Equal((404, "NOT_FOUND"), (Result(answer, 2).Status, Result(answer, 2).Code));
        Assert.Equal((409, "CONFLICT"), (Result(answer, 3).Status, Result(answer, 3).Code));
        Assert.Equal((422, "VALIDATION_ERROR"), (Result(answer, 4).Status, Result(answer, 4).Code));
        Assert.NotNull(Result(answer, 4).FieldErrors!["reports[4].output"]);
        Assert.Equal(422, Result(answer, 5).Status);
        Assert.NotNull(Result(answer, 5).FieldErrors!["reports[5].activity_id"]);
        Assert.Equal(422, Result(answer, 6).Status);
        Assert.NotNull(Result(answer, 6).FieldErrors!["reports[6].action"]);
        Assert.Equal(200, Result(answer, 7).Status);
        Assert.True(answer["results"]![7]!["will_retry"]!.GetValue<bool>());

        var (_, wf) = await server.GetAsync($"/api/v1/workflows/{id}");
        var byKey = wf["activities"]!.AsArray().ToDictionary(a => a!["activity_key"]!.GetValue<string>(), a => a!);
        Assert.Equal("completed", byKey[keys[0]]["status"]!.GetValue<string>());
        Assert.Equal("pending", byKey[keys[1]]["status"]!.GetValue<string>()); // retried
        Assert.Equal("running", byKey[keys[2]]["status"]!.GetValue<string>()); // its malformed report recorded nothing
        Assert.Equal("pending", byKey[keys[3]]["status"]!.GetValue<string>());

        // Exactly once: a repeated report of the recorded completion is acknowledged, and the first result stands.
        var (againStatus, again) = await ReportAsync("w1", Complete(mine[keys[0]], new JsonObject { ["n"] = 2 }), Complete(mine[keys[2]]));
        Assert.Equal(200, againStatus);
        Assert.Equal([200, 200], again["results"]!.AsArray().Select(r => r!["status"]!.GetValue<int>()));
        var (_, output) = await server.GetAsync($"/api/v1/workflows/{id}/activities/{keys[0]}/output");
        Assert.Equal(1, output["output"]![0]!["value"]!.GetValue<int>());
        var (_, events) = await server.GetAsync($"/api/v1/workflows/{id}/events");
        Assert.Equal(1, events["events"]!.AsArray().Count(e =>
            e!["event_type"]!.GetValue<string>() == "ActivityCompleted" && e["activity_key"]!.GetValue<string>() == keys[0]));
    }

    [Fact]
    public async Task Report_CompletionsWithClaimNext_EachHandsBackTheStepItUnblocked()
    {
        var name = Unique("batch_chain");
        var queue = Unique("q");
        await server.DeployAsync(ChainYaml(name, queue));
        var first = await server.SubmitAsync(name);
        var second = await server.SubmitAsync(name);
        var claimed = await server.PollAsync("w1", max: 2, routingKey: queue);
        Assert.Equal(2, claimed.Count);

        var reports = claimed.Select(a =>
        {
            var report = Complete(a!["activity_id"]!.GetValue<string>());
            report["claim_next"] = 1;
            report["worker"] = queue;
            return report;
        }).ToArray();
        var (status, answer) = await ReportAsync("w1", reports);

        Assert.Equal(200, status);
        var next = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            var result = answer["results"]![i]!;
            Assert.Equal(200, result["status"]!.GetValue<int>());
            Assert.Equal(1, result["count"]!.GetValue<int>());
            var b = Assert.Single(result["activities"]!.AsArray())!;
            Assert.Equal("b", b["activity_key"]!.GetValue<string>());
            // Each result carries the step of its own workflow.
            Assert.Equal(claimed[i]!["workflow_id"]!.GetValue<string>(), b["workflow_id"]!.GetValue<string>());
            next.Add(b["activity_id"]!.GetValue<string>());
        }
        Assert.Empty(await server.PollAsync("w2", routingKey: queue)); // both leased to w1 already

        var (doneStatus, done) = await ReportAsync("w1", [.. next.Select(n => Complete(n))]);
        Assert.Equal(200, doneStatus);
        Assert.All(done["results"]!.AsArray(), r => Assert.Equal(200, r!["status"]!.GetValue<int>()));
        foreach (var id in new[] { first, second })
        {
            var (_, wf) = await server.GetAsync($"/api/v1/workflows/{id}");
            Assert.Equal("completed", wf["status"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task Report_MalformedBatch_Returns422NamingTheField()
    {
        async Task<JsonObject> Refused(JsonObject body, string field)
        {
            var (status, answer) = await server.PostAsync(Route, body);
            Assert.Equal(422, status);
            Assert.Equal("VALIDATION_ERROR", answer["error"]!["code"]!.GetValue<string>());
            Assert.NotNull(answer["error"]!["details"]!["field_errors"]![field]);
            return answer;
        }

        var one = new JsonArray(Complete("x"));
        await Refused(new JsonObject { ["reports"] = one.DeepClone() }, "worker_id");
        await Refused(new JsonObject { ["worker_id"] = new string('w', 256), ["reports"] = one.DeepClone() }, "worker_id");
        await Refused(new JsonObject { ["worker_id"] = "w1" }, "reports");
        await Refused(new JsonObject { ["worker_id"] = "w1", ["reports"] = new JsonObject() }, "reports");
        await Refused(new JsonObject { ["worker_id"] = "w1", ["reports"] = new JsonArray() }, "reports");
        var tooMany = new JsonArray([.. Enumerable.Range(0, 101).Select(i => (JsonNode)Complete($"id-{i}"))]);
        await Refused(new JsonObject { ["worker_id"] = "w1", ["reports"] = tooMany }, "reports");

        // A report that is no object, or lacks its id, fails alone (named from the body's root).
        var (status, answer) = await server.PostAsync(Route, new JsonObject
        {
            ["worker_id"] = "w1",
            ["reports"] = new JsonArray(3, new JsonObject { ["action"] = "complete", ["output"] = new JsonObject() }, Fail("unknown-id", false)),
        });
        Assert.Equal(200, status);
        Assert.Equal((422, "VALIDATION_ERROR"), (Result(answer, 0).Status, Result(answer, 0).Code));
        Assert.NotNull(Result(answer, 0).FieldErrors!["reports[0]"]);
        Assert.Null(answer["results"]![0]!["activity_id"]);
        Assert.NotNull(Result(answer, 1).FieldErrors!["reports[1].activity_id"]);
        Assert.Equal((404, "NOT_FOUND"), (Result(answer, 2).Status, Result(answer, 2).Code));

        // The body itself is read as every other route's.
        using var notJson = await server.Http.PostAsync(Route, new StringContent("{", Encoding.UTF8, "application/json"));
        Assert.Equal(400, (int)notJson.StatusCode);
    }

    [Fact]
    public async Task Info_ListsBatchReport()
    {
        var (_, info) = await server.GetAsync("/api/v1/info");
        Assert.Contains(info["features"]!.AsArray(), f => f!.GetValue<string>() == "batch-report");
    }
}

/// <summary>The batched report under the server's body limit (1 MiB here).</summary>
public sealed class WorkerReportsBodyLimitTests(SmallBodyServerFixture server) : IClassFixture<SmallBodyServerFixture>
{
    [Fact]
    public async Task Report_BatchOverTheBodyLimit_Returns413Envelope()
    {
        // Each report is small; together they are over the limit.
        var chunk = new string('x', 20 * 1024);
        var reports = new JsonArray([.. Enumerable.Range(0, 60).Select(i => (JsonNode)new JsonObject
        {
            ["activity_id"] = $"id-{i}",
            ["action"] = "complete",
            ["output"] = new JsonObject { ["data"] = chunk },
        })]);
        var (status, body) = await server.PostAsync("/api/v1/workers/report", new JsonObject { ["worker_id"] = "w1", ["reports"] = reports });
        Assert.Equal(413, status);
        Assert.Equal("PAYLOAD_TOO_LARGE", body["error"]!["code"]!.GetValue<string>());
    }
}
