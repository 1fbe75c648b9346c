using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Spindle.Server.Wakeups;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class ApiTests(ServerFixture server)
{
    private static string Unique(string prefix) => prefix + "_" + Guid.NewGuid().ToString("N")[..8];

    private static string ChainYaml(string name, string routingKey = "std") => """
        name: NAME
        activities:
          - {key: a, worker: WORKER, activity_name: echo, parameters: {n: "{{INPUT.n}}"}}
          - {key: b, worker: WORKER, activity_name: echo, parameters: {prev: "{{a.echo.n}}"}, depends_on: [a]}
        """.Replace("NAME", name, StringComparison.Ordinal).Replace("WORKER", routingKey, StringComparison.Ordinal);

    [Fact]
    public async Task Deploy_NewThenIdentical_Returns201Then200Unchanged()
    {
        var name = Unique("deploy");
        using var first = await server.Http.PostAsync("/api/v1/workflow_definitions", new StringContent(ChainYaml(name)));
        Assert.Equal(201, (int)first.StatusCode);
        var created = await ServerFixture.ReadAsync(first);
        Assert.Matches(@"^\d{8}\.\d{6}\.\d{6}$", created["version"]!.GetValue<string>());
        using var second = await server.Http.PostAsync("/api/v1/workflow_definitions", new StringContent(ChainYaml(name)));
        Assert.Equal(200, (int)second.StatusCode);
        var same = await ServerFixture.ReadAsync(second);
        Assert.True(same["unchanged"]!.GetValue<bool>());
        Assert.Equal(created["version"]!.GetValue<string>(), same["version"]!.GetValue<string>());

        var (status, got) = await server.GetAsync($"/api/v1/workflow_definitions/{name}");
        Assert.Equal(200, status);
        Assert.Equal("b", got["activities"]![1]!["key"]!.GetValue<string>());
        Assert.Equal("a", got["activities"]![1]!["depends_on"]![0]!["activity_key"]!.GetValue<string>());
        var (listStatus, list) = await server.GetAsync("/api/v1/workflow_definitions");
        Assert.Equal(200, listStatus);
        Assert.Contains(list["definitions"]!.AsArray(), d => d!["name"]!.GetValue<string>() == name);
    }

    [Fact]
    public async Task Deploy_UnknownDependency_Returns422WithFieldError()
    {
        const string yaml = """
            name: broken
            activities:
              - {key: a, activity_name: echo, depends_on: [ghost]}
            """;
        using var response = await server.Http.PostAsync("/api/v1/workflow_definitions", new StringContent(yaml));
        Assert.Equal(422, (int)response.StatusCode);
        var body = await ServerFixture.ReadAsync(response);
        Assert.Equal("VALIDATION_ERROR", body["error"]!["code"]!.GetValue<string>());
        var messages = body["error"]!["details"]!["field_errors"]!["activity.a.depends_on"]!.AsArray();
        Assert.Contains("ghost", messages[0]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deploy_MalformedYaml_Returns422WithLineAndColumn()
    {
        using var response = await server.Http.PostAsync("/api/v1/workflow_definitions", new StringContent("name: x\nactivities: [\n  {key: a"));
        Assert.Equal(422, (int)response.StatusCode);
        var body = await ServerFixture.ReadAsync(response);
        var message = body["error"]!["details"]!["field_errors"]!["definition"]![0]!.GetValue<string>();
        Assert.Contains("line", message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("column", message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task GetDefinition_BadOrUnknownVersion_Returns400Or404()
    {
        var name = Unique("versions");
        await server.DeployAsync(ChainYaml(name));
        Assert.Equal(400, (await server.GetAsync($"/api/v1/workflow_definitions/{name}?version=yesterday")).Status);
        Assert.Equal(404, (await server.GetAsync($"/api/v1/workflow_definitions/{name}?version=20000101.000000.000000")).Status);
        Assert.Equal(404, (await server.GetAsync("/api/v1/workflow_definitions/nope_" + Guid.NewGuid().ToString("N"))).Status);
    }

    [Fact]
    public async Task Submit_BadInput_Returns4xxWithEnvelopeAndStoresNothing()
    {
        var name = Unique("bad_submit");
        await server.DeployAsync(ChainYaml(name));
        var (status, body) = await server.PostAsync("/api/v1/workflows", new JsonObject { ["definition_name"] = name, ["input"] = new JsonArray(1) });
        Assert.Equal(422, status);
        Assert.NotNull(body["error"]!["details"]!["field_errors"]!["input"]);
        Assert.Equal(404, (await server.PostAsync("/api/v1/workflows", new JsonObject { ["definition_name"] = "missing_" + name })).Status);
        Assert.Equal(400, (await server.PostAsync("/api/v1/workflows", new JsonObject { ["definition_name"] = name, ["version"] = "bad" })).Status);

        using var malformed = await server.Http.PostAsync("/api/v1/workflows", new StringContent("{\"definition_name\": ", Encoding.UTF8, "application/json"));
        Assert.Equal(400, (int)malformed.StatusCode);
        Assert.Equal("BAD_REQUEST", (await ServerFixture.ReadAsync(malformed))["error"]!["code"]!.GetValue<string>());
        using var wrongType = await server.Http.PostAsync("/api/v1/workflows", new StringContent("x", Encoding.UTF8, "text/plain"));
        Assert.Equal(415, (int)wrongType.StatusCode);

        var (listStatus, list) = await server.GetAsync($"/api/v1/workflows?definition_name={name}");
        Assert.Equal(200, listStatus);
        Assert.Equal(0, list["total"]!.GetValue<int>());
    }

    [Fact]
    public async Task Submit_DuplicateUniqueKey_Returns409()
    {
        var name = Unique("unique");
        await server.DeployAsync(ChainYaml(name));
        var body = new JsonObject { ["definition_name"] = name, ["input"] = new JsonObject { ["n"] = 1 }, ["unique_key"] = "k-" + name };
        Assert.Equal(201, (await server.PostAsync("/api/v1/workflows", body.DeepClone())).Status);
        var (status, error) = await server.PostAsync("/api/v1/workflows", body.DeepClone());
        Assert.Equal(409, status);
        Assert.Equal("CONFLICT", error["error"]!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task Poll_FanOut_EachClaimSaysHowManyActivitiesDependOnIt()
    {
        var name = Unique("fan");
        var queue = Unique("q");
        await server.DeployAsync("""
            name: NAME
            activities:
              - {key: root, worker: WORKER, activity_name: echo, parameters: {}}
              - {key: b1, worker: WORKER, activity_name: echo, parameters: {}, depends_on: [root]}
              - {key: b2, worker: WORKER, activity_name: echo, parameters: {}, depends_on: [root]}
              - {key: b3, worker: WORKER, activity_name: echo, parameters: {}, depends_on: [root]}
              - {key: join, worker: WORKER, activity_name: echo, parameters: {}, depends_on: [b1, b2, b3]}
            """.Replace("NAME", name, StringComparison.Ordinal).Replace("WORKER", queue, StringComparison.Ordinal));
        await server.SubmitAsync(name, new JsonObject());

        var root = Assert.Single(await server.PollAsync("w1", routingKey: queue))!;
        Assert.Equal(3, root["dependents"]!.GetValue<int>());
        // What a worker reserves with that count: the completion leases all three branches at once.
        var (status, answer) = await server.PostAsync($"/api/v1/activities/{root["activity_id"]}/complete",
            new JsonObject { ["worker_id"] = "w1", ["output"] = new JsonObject(), ["claim_next"] = 3 });
        Assert.Equal(200, status);
        var branches = answer["activities"]!.AsArray();
        Assert.Equal(["b1", "b2", "b3"], branches.Select(b => b!["activity_key"]!.GetValue<string>()).Order(StringComparer.Ordinal));
        Assert.All(branches, b => Assert.Equal(1, b!["dependents"]!.GetValue<int>()));

        JsonNode? join = null;
        foreach (var b in branches)
        {
            var (_, done) = await server.PostAsync($"/api/v1/activities/{b!["activity_id"]}/complete",
                new JsonObject { ["worker_id"] = "w1", ["output"] = new JsonObject(), ["claim_next"] = 1 });
            join ??= done["activities"]?.AsArray().SingleOrDefault();
        }
        Assert.Equal("join", join!["activity_key"]!.GetValue<string>());
        Assert.Equal(0, join["dependents"]!.GetValue<int>());
    }

    [Fact]
    public async Task WorkerProtocol_Chain_CompletesWithOutputsAndHistory()
    {
        var name = Unique("proto");
        var queue = Unique("q");
        await server.DeployAsync(ChainYaml(name, queue));
        var id = await server.SubmitAsync(name, new JsonObject { ["n"] = 5 });

        var first = Assert.Single(await server.PollAsync("w1", routingKey: queue))!;
        Assert.Equal("a", first["activity_key"]!.GetValue<string>());
        Assert.Equal(5, first["parameters"]!["n"]!.GetValue<int>());
        Assert.Null(first["timeout_seconds"]);
        Assert.Equal(60, first["lease_seconds"]!.GetValue<int>());
        var activityId = first["activity_id"]!.GetValue<string>();

        var (hbStatus, hb) = await server.PostAsync($"/api/v1/activities/{activityId}/heartbeat", new JsonObject { ["worker_id"] = "w1" });
        Assert.Equal(200, hbStatus);
        Assert.Equal(30, hb["next_heartbeat_seconds"]!.GetValue<int>());
        Assert.False(hb["cancel_requested"]!.GetValue<bool>());
        Assert.Equal(409, (await server.PostAsync($"/api/v1/activities/{activityId}/heartbeat", new JsonObject { ["worker_id"] = "other" })).Status);

        var output = new JsonObject { ["echo"] = new JsonObject { ["n"] = 5 } };
        Assert.Equal(422, (await server.PostAsync($"/api/v1/activities/{activityId}/complete", new JsonObject { ["worker_id"] = "w1", ["output"] = 3 })).Status);
        Assert.Equal(409, (await server.PostAsync($"/api/v1/activities/{activityId}/complete", new JsonObject { ["worker_id"] = "w2", ["output"] = output.DeepClone() })).Status);
        Assert.Equal(200, (await server.PostAsync($"/api/v1/activities/{activityId}/complete", new JsonObject { ["worker_id"] = "w1", ["output"] = output.DeepClone() })).Status);

        var second = Assert.Single(await server.PollAsync("w1", routingKey: queue))!;
        Assert.Equal(5, second["parameters"]!["prev"]!.GetValue<int>());
        Assert.Equal(200, (await server.PostAsync($"/api/v1/activities/{second["activity_id"]}/complete",
            new JsonObject { ["worker_id"] = "w1", ["output"] = new JsonObject { ["done"] = true }, ["cost_usd"] = "0.0125" })).Status);

        var (status, wf) = await server.GetAsync($"/api/v1/workflows/{id}");
        Assert.Equal(200, status);
        Assert.Equal("completed", wf["status"]!.GetValue<string>());
        Assert.Equal("0.0125", wf["total_cost_usd"]!.GetValue<string>());
        var a = wf["activities"]!.AsArray().First(x => x!["activity_key"]!.GetValue<string>() == "a")!;
        Assert.Equal("echo", a["outputs"]![0]!["name"]!.GetValue<string>());
        Assert.Equal("value", a["outputs"]![0]!["type"]!.GetValue<string>());

        var (outStatus, outputs) = await server.GetAsync($"/api/v1/workflows/{id}/output");
        Assert.Equal(200, outStatus);
        Assert.Equal(["b"], outputs["terminal_outputs"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.False(outputs["outputs"]!["a"]!["is_terminal"]!.GetValue<bool>());
        var (actStatus, activityOut) = await server.GetAsync($"/api/v1/workflows/{id}/activities/b/output");
        Assert.Equal(200, actStatus);
        Assert.True(activityOut["output"]![0]!["value"]!.GetValue<bool>());

        var (evStatus, events) = await server.GetAsync($"/api/v1/workflows/{id}/events");
        Assert.Equal(200, evStatus);
        var types = events["events"]!.AsArray().Select(e => e!["event_type"]!.GetValue<string>()).ToList();
        Assert.Equal(["WorkflowCreated", "ActivityScheduled", "ActivityStarted", "ActivityCompleted", "ActivityScheduled",
            "ActivityStarted", "ActivityCompleted", "WorkflowCompleted"], types);
    }

    [Fact]
    public async Task Complete_WithClaimNext_AnswersWithTheNextStepLeasedToTheWorker()
    {
        var name = Unique("eager");
        var queue = Unique("q");
        await server.DeployAsync(ChainYaml(name, queue));
        var id = await server.SubmitAsync(name, new JsonObject { ["n"] = 4 });
        var first = Assert.Single(await server.PollAsync("w1", routingKey: queue))!;
        var completeA = $"/api/v1/activities/{first["activity_id"]}/complete";
        Assert.Equal(422, (await server.PostAsync(completeA, new JsonObject { ["worker_id"] = "w1", ["output"] = new JsonObject(), ["claim_next"] = 101 })).Status);
        Assert.Equal(422, (await server.PostAsync(completeA, new JsonObject { ["worker_id"] = "w1", ["output"] = new JsonObject(), ["claim_next"] = 1, ["activity_names"] = new JsonArray() })).Status);

        var (status, answer) = await server.PostAsync(completeA, new JsonObject
        {
            ["worker_id"] = "w1",
            ["output"] = new JsonObject { ["echo"] = new JsonObject { ["n"] = 4 } },
            ["claim_next"] = 3,
            ["worker"] = queue,
            ["activity_names"] = new JsonArray("echo"),
        });
        Assert.Equal(200, status);
        Assert.True(answer["acknowledged"]!.GetValue<bool>());
        Assert.Equal(1, answer["count"]!.GetValue<int>());
        var b = Assert.Single(answer["activities"]!.AsArray())!;
        Assert.Equal(("b", queue, 4, 1, 60), (b["activity_key"]!.GetValue<string>(), b["worker"]!.GetValue<string>(),
            b["parameters"]!["prev"]!.GetValue<int>(), b["attempt"]!.GetValue<int>(), b["lease_seconds"]!.GetValue<int>()));
        Assert.Empty(await server.PollAsync("w2", routingKey: queue));

        // A repeated completion (its answer was lost) hands out again what the first one leased; nothing new.
        var (againStatus, again) = await server.PostAsync(completeA, new JsonObject { ["worker_id"] = "w1", ["output"] = new JsonObject(), ["claim_next"] = 3 });
        Assert.Equal(200, againStatus);
        Assert.Equal(b["activity_id"]!.GetValue<string>(), Assert.Single(again["activities"]!.AsArray())!["activity_id"]!.GetValue<string>());
        var (lastStatus, last) = await server.PostAsync($"/api/v1/activities/{b["activity_id"]}/complete", new JsonObject { ["worker_id"] = "w1", ["output"] = new JsonObject() });
        Assert.Equal(200, lastStatus);
        Assert.Null(last["activities"]);
        var (_, wf) = await server.GetAsync($"/api/v1/workflows/{id}");
        Assert.Equal("completed", wf["status"]!.GetValue<string>());
    }

    private static string FanOutYaml(string name, string queue, int width) =>
        $"name: {name}\nactivities:\n" +
        $"  - {{key: start, worker: {queue}, activity_name: echo, dependency_of: [{string.Join(", ", Enumerable.Range(0, width).Select(i => $"p{i}"))}]}}\n" +
        string.Concat(Enumerable.Range(0, width).Select(i => $"  - {{key: p{i}, worker: {queue}, activity_name: echo}}\n"));

    /// <summary>
    /// A fan-out of <paramref name="width"/> submitted, its start claimed by w1, and w1's long-poll "poll-1" waiting
    /// with three slots (it has found nothing and waits).
    /// </summary>
    private async Task<(string Name, string Queue, string Complete, Task<JsonArray> Waiting)> FanOutWithWaitingPollAsync(int width)
    {
        var name = Unique("fan_borrow");
        var queue = Unique("q");
        await server.DeployAsync(FanOutYaml(name, queue, width));
        await server.SubmitAsync(name);
        var start = Assert.Single(await server.PollAsync("w1", max: 1, routingKey: queue))!;
        var waiting = Task.Run(async () =>
        {
            var (status, body) = await server.PostAsync("/api/v1/workers/poll", new JsonObject
            {
                ["worker"] = queue,
                ["worker_id"] = "w1",
                ["max_activities"] = 3,
                ["wait_seconds"] = 20,
                ["poll_id"] = "poll-1",
            });
            Assert.Equal(200, status);
            return body["activities"]!.AsArray();
        });
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted);
        return (name, queue, $"/api/v1/activities/{start["activity_id"]}/complete", waiting);
    }

    private static JsonObject BorrowingReport(string queue, int fromPoll) => new()
    {
        ["worker_id"] = "w1",
        ["output"] = new JsonObject(),
        ["claim_next"] = 1,
        ["claim_next_from_poll"] = fromPoll,
        ["poll_id"] = "poll-1",
        ["worker"] = queue,
    };

    [Fact]
    public async Task Complete_WithClaimNextFromPoll_TakesTheWaitingPollsSlotsAndThePollAnswersWhenNoneAreLeft()
    {
        var (_, queue, complete, waiting) = await FanOutWithWaitingPollAsync(5);
        Assert.Equal(422, (await server.PostAsync(complete, BorrowingReport(queue, 101))).Status);

        var (status, answer) = await server.PostAsync(complete, BorrowingReport(queue, 3));
        Assert.Equal(200, status);
        Assert.Equal(4, answer["count"]!.GetValue<int>()); // its own slot and the poll's three

        // The poll has no slot left: it answers at once, empty, instead of waiting out its 20 s.
        Assert.Empty(await waiting.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Single(await server.PollAsync("w2", routingKey: queue));
    }

    [Fact]
    public async Task Complete_WithClaimNextFromPollBeyondTheFanOut_GivesTheRestBackToThePoll()
    {
        var (name, queue, complete, waiting) = await FanOutWithWaitingPollAsync(3);
        var (_, answer) = await server.PostAsync(complete, BorrowingReport(queue, 3));
        Assert.Equal(3, answer["count"]!.GetValue<int>()); // one own slot, two of the poll's

        // The poll kept one slot and still waits; new work gets it, and no more than it.
        await Task.Delay(100);
        Assert.False(waiting.IsCompleted);
        await server.SubmitAsync(name);
        await server.SubmitAsync(name);
        Assert.Single(await waiting.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Poll_LongPoll_WakesPromptlyWhenWorkArrives()
    {
        var name = Unique("longpoll");
        var queue = Unique("lp");
        await server.DeployAsync(ChainYaml(name, queue));
        var watch = Stopwatch.StartNew();
        var poll = server.PollAsync("waiter", wait: 20, routingKey: queue);
        await Task.Delay(300);
        Assert.False(poll.IsCompleted);
        var submitted = watch.Elapsed;
        await server.SubmitAsync(name, new JsonObject { ["n"] = 1 });
        var claimed = await poll;
        Assert.Single(claimed);
        // Woken by the commit, not by a timer: far below the 20 s wait and the 1 s fallback.
        Assert.True(watch.Elapsed - submitted < TimeSpan.FromMilliseconds(900), $"woke after {(watch.Elapsed - submitted).TotalMilliseconds} ms");
    }

    [Fact]
    public async Task Submit_WhileALongPollWaits_HandsItTheFirstStepLeasedInTheSubmitTransaction()
    {
        var name = Unique("handover");
        var queue = Unique("ho");
        await server.DeployAsync(ChainYaml(name, queue));
        var polls = server.App.Services.GetRequiredService<PollCoordinator>();
        var poll = server.PollAsync("waiter", wait: 20, routingKey: queue);
        var watch = Stopwatch.StartNew();
        while (polls.WaitingFor(queue) is null)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "the long-poll never waited");
            await Task.Delay(10);
        }

        var id = await server.SubmitAsync(name, new JsonObject { ["n"] = 1 });
        var handed = Assert.Single(await poll.WaitAsync(TimeSpan.FromSeconds(10)))!;
        Assert.Equal(("a", id), (handed["activity_key"]!.GetValue<string>(), handed["workflow_id"]!.GetValue<string>()));

        var (_, events) = await server.GetAsync($"/api/v1/workflows/{id}/events");
        var list = events["events"]!.AsArray();
        var created = list.Single(e => e!["event_type"]!.GetValue<string>() == "WorkflowCreated")!;
        var started = list.Single(e => e!["event_type"]!.GetValue<string>() == "ActivityStarted")!;
        Assert.Equal(created["timestamp"]!.ToJsonString(), started["timestamp"]!.ToJsonString()); // no claim in between
        Assert.Equal("waiter", started["payload"]!["worker_id"]!.GetValue<string>());
        var (status, _) = await server.PostAsync($"/api/v1/activities/{handed["activity_id"]!.GetValue<string>()}/complete",
            new JsonObject { ["worker_id"] = "waiter", ["output"] = new JsonObject() });
        Assert.Equal(200, status);
    }

    [Fact]
    public async Task GetWorkflow_WaitSeconds_ReturnsWhenTerminal()
    {
        var name = Unique("wait");
        var queue = Unique("wq");
        await server.DeployAsync($$"""
            name: {{name}}
            activities:
              - {key: only, worker: {{queue}}, activity_name: echo}
            """);
        var id = await server.SubmitAsync(name);
        var waiting = server.GetAsync($"/api/v1/workflows/{id}?wait_seconds=20");
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);
        var claimed = Assert.Single(await server.PollAsync("w", routingKey: queue))!;
        await server.PostAsync($"/api/v1/activities/{claimed["activity_id"]}/complete", new JsonObject { ["worker_id"] = "w", ["output"] = new JsonObject() });
        var (status, wf) = await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(200, status);
        Assert.Equal("completed", wf["status"]!.GetValue<string>());
        Assert.Equal(422, (await server.GetAsync($"/api/v1/workflows/{id}?wait_seconds=31")).Status);
    }

    [Fact]
    public async Task Fail_RetryableThenCancel_ReportsWillRetryAndCancels()
    {
        var name = Unique("failcancel");
        var queue = Unique("fq");
        await server.DeployAsync($$"""
            name: {{name}}
            activities:
              - {key: f, worker: {{queue}}, activity_name: echo, settings: {retry: {max_attempts: 2, base_seconds: 30} } }
            """);
        var id = await server.SubmitAsync(name);
        var claimed = Assert.Single(await server.PollAsync("w", routingKey: queue))!;
        var path = $"/api/v1/activities/{claimed["activity_id"]}/fail";
        Assert.Equal(422, (await server.PostAsync(path, new JsonObject { ["worker_id"] = "w", ["error"] = new JsonObject { ["code"] = "" } })).Status);
        var (status, body) = await server.PostAsync(path,
            new JsonObject { ["worker_id"] = "w", ["error"] = new JsonObject { ["code"] = "X", ["message"] = "boom", ["retryable"] = true } });
        Assert.Equal(200, status);
        Assert.True(body["will_retry"]!.GetValue<bool>());
        var (cancelStatus, cancel) = await server.PostAsync($"/api/v1/workflows/{id}/cancel", new JsonObject { ["reason"] = "test" });
        Assert.Equal(200, cancelStatus);
        Assert.True(cancel["cancel_requested"]!.GetValue<bool>());
        var (_, wf) = await server.GetAsync($"/api/v1/workflows/{id}");
        Assert.Equal("cancelled", wf["status"]!.GetValue<string>());
        Assert.Equal("Cancelled: test", wf["error_message"]!.GetValue<string>());
        Assert.Equal(200, (await server.PostAsync($"/api/v1/workflows/{id}/retry", null)).Status);
        Assert.Equal(409, (await server.PostAsync($"/api/v1/workflows/{id}/retry", null)).Status);
    }

    [Fact]
    public async Task ListWorkflows_FiltersAndPaging_ValidatesParameters()
    {
        var name = Unique("list");
        await server.DeployAsync(ChainYaml(name, Unique("lq")));
        for (var i = 0; i < 3; i++)
        {
            await server.SubmitAsync(name, new JsonObject { ["n"] = i });
        }
        var (status, page) = await server.GetAsync($"/api/v1/workflows?definition_name={name}&limit=2&offset=1");
        Assert.Equal(200, status);
        Assert.Equal(3, page["total"]!.GetValue<int>());
        Assert.Equal(2, page["count"]!.GetValue<int>());
        Assert.Equal(422, (await server.GetAsync("/api/v1/workflows?limit=0")).Status);
        Assert.Equal(422, (await server.GetAsync("/api/v1/workflows?status=sleeping")).Status);
        Assert.Equal(422, (await server.GetAsync("/api/v1/workflows?created_after=2026-02-01T00:00:00Z&created_before=2026-01-01T00:00:00Z")).Status);
    }

    [Fact]
    public async Task Poll_InvalidRequests_Return422()
    {
        Assert.Equal(422, (await server.PostAsync("/api/v1/workers/poll", new JsonObject { ["worker"] = "std" })).Status);
        Assert.Equal(422, (await server.PostAsync("/api/v1/workers/poll", new JsonObject { ["worker"] = "std", ["worker_id"] = "w", ["max_activities"] = 101 })).Status);
        Assert.Equal(422, (await server.PostAsync("/api/v1/workers/poll", new JsonObject { ["worker"] = "std", ["worker_id"] = "w", ["wait_seconds"] = 31 })).Status);
        Assert.Equal(422, (await server.PostAsync("/api/v1/workers/poll", new JsonObject { ["worker"] = "std", ["worker_id"] = "w", ["activity_names"] = new JsonArray() })).Status);
        Assert.Equal(404, (await server.PostAsync($"/api/v1/activities/{Guid.NewGuid()}/complete", new JsonObject { ["worker_id"] = "w", ["output"] = new JsonObject() })).Status);
    }

    [Fact]
    public async Task UnknownRoute_Returns404Envelope()
    {
        var (status, body) = await server.GetAsync("/api/v1/nothing-here");
        Assert.Equal(404, status);
        Assert.Equal("NOT_FOUND", body["error"]!["code"]!.GetValue<string>());
        Assert.Equal(404, (await server.GetAsync($"/api/v1/workflows/{Guid.NewGuid()}")).Status);
        Assert.Equal(404, (await server.GetAsync("/api/v1/workflows/not-a-uuid")).Status);
    }

    [Fact]
    public async Task Post_BodyOverLimit_Returns413Envelope()
    {
        var big = new ByteArrayContent(new byte[51 * 1024 * 1024]);
        big.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        // Expect: 100-continue lets the server refuse before the client has sent the whole body.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/workflows") { Content = big };
        request.Headers.ExpectContinue = true;
        using var response = await server.Http.SendAsync(request);
        Assert.Equal(413, (int)response.StatusCode);
        Assert.Equal("PAYLOAD_TOO_LARGE", (await ServerFixture.ReadAsync(response))["error"]!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task Info_ListsExtensionFeatures()
    {
        var (status, info) = await server.GetAsync("/api/v1/info");
        Assert.Equal(200, status);
        Assert.Contains(info["features"]!.AsArray(), f => f!.GetValue<string>() == "long-poll");
        Assert.Contains(info["features"]!.AsArray(), f => f!.GetValue<string>() == "claim-next");
        Assert.True(info["insecure_dev"]!.GetValue<bool>());
        var health = await server.Http.GetFromJsonAsync<JsonObject>("/health");
        Assert.Equal("ok", health!["status"]!.GetValue<string>());
    }
}
