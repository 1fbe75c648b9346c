using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Spindle.Cli.Tests;

/// <summary>
/// Durability on the embedded default: the server process (with its in-process std worker) is killed with SIGKILL
/// while 200 workflows are in flight, restarted on the same data directory, and every workflow must still complete
/// with exactly one completion event per activity.
/// </summary>
public sealed class CrashRecoveryTests : IDisposable
{
    private const int Workflows = 200;
    private readonly string _dataDir = Directory.CreateTempSubdirectory("spindle-crash-").FullName;
    private readonly int _port = FreePort();
    private readonly HttpClient _http;
    private Process? _server;

    public CrashRecoveryTests()
    {
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_port}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    [Fact]
    public async Task Serve_KilledWith200WorkflowsInFlight_EveryWorkflowCompletesExactlyOnce()
    {
        await StartServerAsync();
        // Short leases so that activities held by the killed process are offered again within seconds; each step
        // takes 200 ms (echo's sleep_ms) so that the kill lands while work is in flight.
        const string definition = """
            name: crash_chain
            activities:
              - {key: a, activity_name: echo, parameters: {n: "{{INPUT.n}}", sleep_ms: 200}, settings: {timeout_seconds: 2}}
              - {key: b, activity_name: echo, parameters: {n: "{{a.echo.n}}", sleep_ms: 200}, depends_on: [a], settings: {timeout_seconds: 2}}
              - {key: c, activity_name: echo, parameters: {n: "{{b.echo.n}}", sleep_ms: 200}, depends_on: [b], settings: {timeout_seconds: 2}}
            """;
        using (var deploy = await _http.PostAsync("/api/v1/workflow_definitions", new StringContent(definition)))
        {
            Assert.True(deploy.IsSuccessStatusCode, await deploy.Content.ReadAsStringAsync());
        }
        var ids = new List<string>();
        for (var i = 0; i < Workflows; i++)
        {
            using var submit = await _http.PostAsync("/api/v1/workflows", Json(new JsonObject
            {
                ["definition_name"] = "crash_chain",
                ["input"] = new JsonObject { ["n"] = i },
            }));
            Assert.Equal(HttpStatusCode.Created, submit.StatusCode);
            ids.Add(JsonNode.Parse(await submit.Content.ReadAsStringAsync())!["workflow_id"]!.GetValue<string>());
        }

        var completedBeforeCrash = 0;
        while ((completedBeforeCrash = await CountCompletedAsync()) < 10)
        {
            await Task.Delay(20);
        }
        _server!.Kill(); // SIGKILL: no shutdown hooks, no drain
        await _server.WaitForExitAsync();
        Assert.True(completedBeforeCrash < Workflows, "the kill must land while workflows are in flight");

        await StartServerAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (await CountCompletedAsync() < Workflows)
        {
            Assert.True(DateTime.UtcNow < deadline, "not every workflow completed after the restart");
            await Task.Delay(500);
        }

        foreach (var id in ids)
        {
            var events = JsonNode.Parse(await _http.GetStringAsync($"/api/v1/workflows/{id}/events?event_type=ActivityCompleted"))!;
            var keys = events["events"]!.AsArray().Select(e => e!["activity_key"]!.GetValue<string>()).Order().ToList();
            Assert.Equal(["a", "b", "c"], keys);
        }
    }

    private async Task<int> CountCompletedAsync()
    {
        var json = JsonNode.Parse(await _http.GetStringAsync("/api/v1/workflows?definition_name=crash_chain&status=completed&limit=1"))!;
        return json["total"]!.GetValue<int>();
    }

    private async Task StartServerAsync()
    {
        var root = RepositoryRoot();
        var info = new ProcessStartInfo("bash")
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[] { Path.Combine(root, "spindle"), "serve", "--insecure-dev", "--port", _port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data-dir", _dataDir })
        {
            info.ArgumentList.Add(arg);
        }
        _server = Process.Start(info)!;
        _server.OutputDataReceived += (_, _) => { };
        _server.ErrorDataReceived += (_, _) => { };
        _server.BeginOutputReadLine();
        _server.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        while (true)
        {
            Assert.False(_server.HasExited, "spindle serve exited during start-up");
            try
            {
                using var health = await _http.GetAsync("/health");
                if (health.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            Assert.True(DateTime.UtcNow < deadline, "spindle serve did not become healthy");
            await Task.Delay(100);
        }
    }

    private static StringContent Json(JsonNode node) => new(node.ToJsonString(), Encoding.UTF8, "application/json");

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Spindle.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    public void Dispose()
    {
        if (_server is { HasExited: false })
        {
            _server.Kill();
            _server.WaitForExit();
        }
        _server?.Dispose();
        _http.Dispose();
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
