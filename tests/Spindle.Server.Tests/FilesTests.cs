using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

[Collection(ServerCollection.Name)]
public sealed class FilesTests(ServerFixture server)
{
    [Fact]
    public async Task UploadThenDownload_RoundTripsBytesAndListsInActivityOutput()
    {
        var name = "files_" + Guid.NewGuid().ToString("N")[..8];
        var queue = "fq_" + Guid.NewGuid().ToString("N")[..8];
        await server.DeployAsync($$"""
            name: {{name}}
            activities:
              - {key: report, worker: {{queue}}, activity_name: render, outputs: [{name: report.csv, type: file}]}
            """);
        var id = await server.SubmitAsync(name);
        var claimed = Assert.Single(await server.PollAsync("w", routingKey: queue))!;
        Assert.Equal("report.csv", claimed["output_definitions"]![0]!["name"]!.GetValue<string>());

        var bytes = "a,b\n1,2\n"u8.ToArray();
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        using var upload = await server.Http.PostAsync($"/api/v1/workflows/{id}/activities/report/files/report.csv?worker_id=w", content);
        var uploaded = await ServerFixture.ReadAsync(upload);
        Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        Assert.Equal(bytes.Length, uploaded["size"]!.GetValue<int>());
        Assert.Equal($"postgres://{id}/report/report.csv", uploaded["reference"]!.GetValue<string>());

        using var download = await server.Http.GetAsync($"/api/v1/workflows/{id}/activities/report/files/report.csv");
        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        Assert.Equal("text/csv", download.Content.Headers.ContentType!.MediaType);
        Assert.Equal(bytes, await download.Content.ReadAsByteArrayAsync());
        Assert.Contains("report.csv", download.Content.Headers.ContentDisposition!.ToString(), StringComparison.Ordinal);

        await server.PostAsync($"/api/v1/activities/{claimed["activity_id"]}/complete", new JsonObject { ["worker_id"] = "w", ["output"] = new JsonObject() });
        var (_, output) = await server.GetAsync($"/api/v1/workflows/{id}/activities/report/output");
        var file = Assert.Single(output["files"]!.AsArray())!;
        Assert.Equal("report.csv", file["filename"]!.GetValue<string>());
        Assert.EndsWith("/files/report.csv", file["download_url"]!.GetValue<string>(), StringComparison.Ordinal);

        Assert.Equal(404, (await server.GetAsync($"/api/v1/workflows/{id}/activities/report/files/missing.txt")).Status);
        using var unknown = await server.Http.PostAsync($"/api/v1/workflows/{Guid.NewGuid()}/activities/report/files/x.txt?worker_id=w", new ByteArrayContent([1]));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Upload_WorkerWithoutTheLease_409AndNothingStored()
    {
        var (id, claimed) = await StartActivityAsync("w1");
        Assert.Equal(HttpStatusCode.Conflict, (await UploadAsync(id, "other-worker")).Status);
        Assert.Equal(404, (await server.GetAsync($"/api/v1/workflows/{id}/activities/report/files/report.csv")).Status);
        Assert.Equal(HttpStatusCode.Created, (await UploadAsync(id, "w1")).Status);
        Assert.NotNull(claimed);
    }

    [Fact]
    public async Task Upload_WithoutWorkerId_AcceptedOnlyWhileTheAttemptHoldsALease()
    {
        // Reference workers upload without naming themselves: accepted while the current attempt is leased, never after.
        var (id, claimed) = await StartActivityAsync("w1");
        Assert.Equal(HttpStatusCode.Created, (await UploadAsync(id, null, "during")).Status);
        var (completed, _) = await server.PostAsync($"/api/v1/activities/{claimed["activity_id"]}/complete",
            new JsonObject { ["worker_id"] = "w1", ["output"] = new JsonObject() });
        Assert.Equal(200, completed);
        Assert.Equal(HttpStatusCode.Conflict, (await UploadAsync(id, null, "after")).Status);
        using var download = await server.Http.GetAsync($"/api/v1/workflows/{id}/activities/report/files/report.csv");
        Assert.Equal("during", await download.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Upload_PreviousAttemptsWorker_409OnceAnotherAttemptHoldsTheLease()
    {
        var (id, claimed) = await StartActivityAsync("w1", retries: true);
        var (failed, _) = await server.PostAsync($"/api/v1/activities/{claimed["activity_id"]}/fail", new JsonObject
        {
            ["worker_id"] = "w1",
            ["error"] = new JsonObject { ["code"] = "BOOM", ["message"] = "try again", ["retryable"] = true },
        });
        Assert.Equal(200, failed);
        var queue = claimed["worker"]!.GetValue<string>();
        JsonNode? retry = null;
        for (var i = 0; i < 50 && retry is null; i++)
        {
            retry = (await server.PollAsync("w2", routingKey: queue)).FirstOrDefault();
            if (retry is null)
            {
                await Task.Delay(100);
            }
        }
        Assert.NotNull(retry);
        var (status, body) = await UploadAsync(id, "w1");
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("CONFLICT", body["error"]!["code"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Created, (await UploadAsync(id, "w2")).Status);
    }

    [Fact]
    public async Task Upload_AfterTheLeaseRanOut_409()
    {
        var (id, _) = await StartActivityAsync("w1", settings: "settings: {timeout_seconds: 1, retry: {max_attempts: 1}}");
        await Task.Delay(TimeSpan.FromSeconds(1.5)); // past the 1 s lease, whether or not the timer has reaped it yet
        var (status, body) = await UploadAsync(id, "w1");
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("CONFLICT", body["error"]!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task Upload_CompletedActivity_409AndFilesUnchanged()
    {
        var (id, claimed) = await StartActivityAsync("w1");
        Assert.Equal(HttpStatusCode.Created, (await UploadAsync(id, "w1", "original")).Status);
        var (completed, _) = await server.PostAsync($"/api/v1/activities/{claimed["activity_id"]}/complete",
            new JsonObject { ["worker_id"] = "w1", ["output"] = new JsonObject() });
        Assert.Equal(200, completed);

        var (status, body) = await UploadAsync(id, "w1", "overwritten");
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Contains("completed", body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        using var download = await server.Http.GetAsync($"/api/v1/workflows/{id}/activities/report/files/report.csv");
        Assert.Equal("original", await download.Content.ReadAsStringAsync());
    }

    private async Task<(string Id, JsonNode Claimed)> StartActivityAsync(string workerId, bool retries = false, string? settings = null)
    {
        var name = "files_" + Guid.NewGuid().ToString("N")[..8];
        var queue = "fq_" + Guid.NewGuid().ToString("N")[..8];
        var retry = settings is not null ? ", " + settings : retries ? ", settings: {retry: {max_attempts: 3, base_seconds: 0}}" : "";
        await server.DeployAsync($$"""
            name: {{name}}
            activities:
              - {key: report, worker: {{queue}}, activity_name: render, outputs: [{name: report.csv, type: file}]{{retry}}}
            """);
        var id = await server.SubmitAsync(name);
        return (id, Assert.Single(await server.PollAsync(workerId, routingKey: queue))!);
    }

    private async Task<(HttpStatusCode Status, JsonObject Body)> UploadAsync(string id, string? workerId, string text = "a,b\n")
    {
        var query = workerId is null ? "" : "?worker_id=" + Uri.EscapeDataString(workerId);
        using var content = new StringContent(text, System.Text.Encoding.UTF8, "text/csv");
        using var response = await server.Http.PostAsync($"/api/v1/workflows/{id}/activities/report/files/report.csv{query}", content);
        return (response.StatusCode, await ServerFixture.ReadAsync(response));
    }
}
