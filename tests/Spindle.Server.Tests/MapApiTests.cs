using System.Text.Json.Nodes;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>Maps over HTTP with the in-process std worker: the documented snippet runs, items page through the API,
/// bad map fields are 422s naming the field.</summary>
[Collection(StdWorkerServerCollection.Name)]
public sealed class MapApiTests(StdWorkerServerFixture server)
{
    // The snippet of docs/workflow-format.md#maps, with the input the doc's default stands for.
    private const string ShoutEach = """
        name: shout_each
        activities:
          - key: split
            activity_name: echo
            parameters: {words: "{{INPUT.text | default('map runs per item') | split(' ')}}"}
          - key: shout
            activity_name: echo
            for_each: "{{split.echo.words}}"
            max_parallel: 2
            continue_on_failure: true
            parameters: {word: "{{ITEM | upper}}", position: "{{ITEM_INDEX}}"}
            depends_on: [split]
          - key: join
            activity_name: echo
            parameters:
              text: "{{shout.echo | select | map(attribute='word') | join(' ')}}"
              done: "{{shout.map.completed}} of {{shout.map.total}}"
              failed: "{{shout.map.failures | map(attribute='index') | list}}"
            depends_on: [shout]
        """;

    [Fact]
    public async Task DocumentedSnippet_WithStdWorker_JoinsItemsInOrder()
    {
        await server.DeployAsync(ShoutEach);
        var id = await server.SubmitAsync("shout_each");
        var wf = await WaitTerminalAsync(id);
        Assert.True(wf["status"]!.GetValue<string>() == "completed", wf.ToJsonString());
        var (_, join) = await server.GetAsync($"/api/v1/workflows/{id}/activities/join/output");
        var echo = join["output"]![0]!["value"]!;
        Assert.Equal("MAP RUNS PER ITEM", echo["text"]!.GetValue<string>());
        Assert.Equal("4 of 4", echo["done"]!.GetValue<string>());
        Assert.Equal("[]", echo["failed"]!.ToJsonString());

        var shout = wf["activities"]!.AsArray().Single(a => a!["activity_key"]!.GetValue<string>() == "shout")!;
        Assert.Equal(4, shout["map"]!["total"]!.GetValue<int>());
        Assert.Equal(3, wf["activities"]!.AsArray().Count); // the items are not activities of the run

        var (status, page) = await server.GetAsync($"/api/v1/workflows/{id}/activities/shout/items?offset=1&limit=2");
        Assert.Equal(200, status);
        Assert.Equal(4, page["total"]!.GetValue<int>());
        var items = page["items"]!.AsArray();
        Assert.Equal(["shout[1]", "shout[2]"], items.Select(i => i!["activity_key"]!.GetValue<string>()).ToArray());
        Assert.Equal("runs", items[0]!["item"]!.GetValue<string>());
        Assert.Equal("completed", items[0]!["status"]!.GetValue<string>());
        Assert.Equal("RUNS", items[0]!["outputs"]![0]!["value"]!["word"]!.GetValue<string>());

        var (_, events) = await server.GetAsync($"/api/v1/workflows/{id}/events?event_type=ActivityStarted");
        Assert.Equal(4, events["events"]!.AsArray().Count(e => e!["activity_key"]!.GetValue<string>().StartsWith("shout[", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Items_OfAnActivityThatIsNoMap_Is404()
    {
        await server.DeployAsync(ShoutEach);
        var id = await server.SubmitAsync("shout_each");
        await WaitTerminalAsync(id);
        var (status, _) = await server.GetAsync($"/api/v1/workflows/{id}/activities/join/items");
        Assert.Equal(404, status);
        var (limitStatus, body) = await server.GetAsync($"/api/v1/workflows/{id}/activities/shout/items?limit=0");
        Assert.Equal(422, limitStatus);
        Assert.NotNull(body["error"]!["details"]!["field_errors"]!["limit"]);
    }

    [Fact]
    public async Task UploadFile_ByTheItemsLeaseHolder_IsStoredUnderTheItemKey()
    {
        await server.DeployAsync("""
            name: map_files
            activities:
              - {key: m, worker: map-files, activity_name: render, for_each: [a, b], parameters: {name: "{{ITEM}}"}}
            """);
        var id = await server.SubmitAsync("map_files");
        var claimed = await server.PollAsync("fw", 10, routingKey: "map-files");
        Assert.Equal(2, claimed.Count);
        var key = claimed.Select(c => c!["activity_key"]!.GetValue<string>()).Order().First();
        Assert.Equal("m[0]", key);
        using var upload = await server.Http.PostAsync(
            $"/api/v1/workflows/{id}/activities/{Uri.EscapeDataString(key)}/files/out.txt?worker_id=fw", new ByteArrayContent("hello"u8.ToArray()));
        Assert.Equal(201, (int)upload.StatusCode);
        using var other = await server.Http.PostAsync(
            $"/api/v1/workflows/{id}/activities/{Uri.EscapeDataString(key)}/files/out.txt?worker_id=intruder", new ByteArrayContent([1]));
        Assert.Equal(409, (int)other.StatusCode);
        using var missing = await server.Http.PostAsync(
            $"/api/v1/workflows/{id}/activities/{Uri.EscapeDataString("m[7]")}/files/out.txt", new ByteArrayContent([1]));
        Assert.Equal(404, (int)missing.StatusCode);
    }

    [Fact]
    public async Task Retry_FailedMap_OffersOnlyTheFailedItemAndKeepsTheOthersOutputs()
    {
        await server.DeployAsync("""
            name: map_retry_http
            activities:
              - {key: m, worker: map-retry, activity_name: shout, for_each: [a, b, c], parameters: {word: "{{ITEM}}"}, settings: {retry: {max_attempts: 1}}}
            """);
        var id = await server.SubmitAsync("map_retry_http");
        var first = await server.PollAsync("rw", 10, routingKey: "map-retry");
        string IdOf(JsonArray claimed, string key) =>
            claimed.Single(c => c!["activity_key"]!.GetValue<string>() == key)!["activity_id"]!.GetValue<string>();
        await server.PostAsync($"/api/v1/activities/{IdOf(first, "m[0]")}/complete", new JsonObject { ["worker_id"] = "rw", ["output"] = new JsonObject { ["word"] = "A" } });
        await server.PostAsync($"/api/v1/activities/{IdOf(first, "m[2]")}/complete", new JsonObject { ["worker_id"] = "rw", ["output"] = new JsonObject { ["word"] = "C" } });
        await server.PostAsync($"/api/v1/activities/{IdOf(first, "m[1]")}/fail", new JsonObject
        {
            ["worker_id"] = "rw",
            ["error"] = new JsonObject { ["code"] = "FLAKY", ["message"] = "b broke", ["retryable"] = false },
        });
        var failed = await WaitTerminalAsync(id);

        var (retryStatus, _) = await server.PostAsync($"/api/v1/workflows/{id}/retry", new JsonObject());
        var again = await server.PollAsync("rw", 10, routingKey: "map-retry");
        await server.PostAsync($"/api/v1/activities/{IdOf(again, "m[1]")}/complete", new JsonObject { ["worker_id"] = "rw", ["output"] = new JsonObject { ["word"] = "B" } });
        var done = await WaitTerminalAsync(id);
        var (_, output) = await server.GetAsync($"/api/v1/workflows/{id}/activities/m/output");
        var (_, scheduled) = await server.GetAsync($"/api/v1/workflows/{id}/events?event_type=ActivityScheduled");

        Assert.Equal("failed", failed["status"]!.GetValue<string>());
        Assert.Equal(200, retryStatus);
        Assert.Equal(["m[1]"], again.Select(c => c!["activity_key"]!.GetValue<string>()).ToArray());
        Assert.Equal("completed", done["status"]!.GetValue<string>());
        Assert.Equal("""["A","B","C"]""", output["output"]!.AsArray().Single(o => o!["name"]!.GetValue<string>() == "word")!["value"]!.ToJsonString());
        var mapStarts = scheduled["events"]!.AsArray().Where(e => e!["activity_key"]!.GetValue<string>() == "m").ToList();
        Assert.Equal(2, mapStarts.Count);
        Assert.Equal(2, mapStarts[1]!["payload"]!["map_items_kept"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("for_each: 7", "activities[0].for_each")]
    [InlineData("for_each: \"{{INPUT.xs}}\", max_parallel: 0", "activities[0].max_parallel")]
    [InlineData("max_parallel: 4", "activities[0].max_parallel")]
    public async Task Deploy_BadMapField_Returns422NamingTheField(string fields, string field)
    {
        var yaml = $"name: bad_map\nactivities:\n  - {{key: m, activity_name: echo, {fields}}}\n";
        using var response = await server.Http.PostAsync("/api/v1/workflow_definitions", new StringContent(yaml));
        Assert.Equal(422, (int)response.StatusCode);
        var body = await ServerFixture.ReadAsync(response);
        Assert.NotNull(body["error"]!["details"]!["field_errors"]![field]);
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
