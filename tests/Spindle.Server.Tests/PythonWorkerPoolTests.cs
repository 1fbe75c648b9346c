using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Spindle.Server.Auth;

namespace Spindle.Server.Tests;

/// <summary><c>--python-workers</c>: the server starts py-std processes that authenticate like external workers.</summary>
public sealed class PythonWorkerPoolTests
{
    [Fact]
    public async Task PythonWorkers_SecuredServer_RunScriptActivityEndToEnd()
    {
        var dir = Directory.CreateTempSubdirectory("spindle-pypool-").FullName;
        var app = SpindleServer.Build(new ServerOptions { Port = 0, DataDir = dir, PythonWorkers = 1 },
            logging => logging.SetMinimumLevel(LogLevel.Warning));
        try
        {
            var url = await SpindleServer.StartAsync(app, CancellationToken.None);
            using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };
            var credential = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(dir, AuthBootstrap.AdminCredentialFile)))!;
            using var tokenResponse = await http.PostAsync("/api/v1/oauth/token", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "client_credentials",
                ["client_id"] = credential["client_id"]!.GetValue<string>(),
                ["client_secret"] = credential["client_secret"]!.GetValue<string>(),
            }));
            var token = JsonNode.Parse(await tokenResponse.Content.ReadAsStringAsync())!["access_token"]!.GetValue<string>();
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

            using var deploy = await http.PostAsync("/api/v1/workflow_definitions", new StringContent("""
                name: py_pool
                activities:
                  - {key: double, worker: py-std, activity_name: script,
                     parameters: {script: "OUTPUT = {'x': INPUT['a'] * 2}", inputs: {a: "{{INPUT.a}}"}}}
                """));
            Assert.True(deploy.IsSuccessStatusCode, await deploy.Content.ReadAsStringAsync());
            using var submit = await http.PostAsync("/api/v1/workflows",
                new StringContent("""{"definition_name": "py_pool", "input": {"a": 21}}""", Encoding.UTF8, "application/json"));
            var id = JsonNode.Parse(await submit.Content.ReadAsStringAsync())!["workflow_id"]!.GetValue<string>();

            JsonNode wf;
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            do
            {
                wf = JsonNode.Parse(await http.GetStringAsync($"/api/v1/workflows/{id}?wait_seconds=10"))!;
                Assert.True(DateTime.UtcNow < deadline, "py-std workflow did not finish: " + wf.ToJsonString());
            }
            while (wf["status"]!.GetValue<string>() is "created" or "running");
            Assert.Equal("completed", wf["status"]!.GetValue<string>());
            var output = JsonNode.Parse(await http.GetStringAsync($"/api/v1/workflows/{id}/activities/double/output"))!;
            Assert.Equal(42, output["output"]![0]!["value"]!["x"]!.GetValue<int>());
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }
}
