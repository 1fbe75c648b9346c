using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;

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
        var claimed = Assert.Single(await server.PollAsync("w", worker: queue))!;
        Assert.Equal("report.csv", claimed["output_definitions"]![0]!["name"]!.GetValue<string>());

        var bytes = "a,b\n1,2\n"u8.ToArray();
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        using var upload = await server.Http.PostAsync($"/api/v1/workflows/{id}/activities/report/files/report.csv", content);
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
        using var unknown = await server.Http.PostAsync($"/api/v1/workflows/{Guid.NewGuid()}/activities/report/files/x.txt", new ByteArrayContent([1]));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }
}
