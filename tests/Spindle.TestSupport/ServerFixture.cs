using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Spindle.Server;
using Xunit;

namespace Spindle.TestSupport;

/// <summary>
/// A real server on a loopback port with a fresh SQLite file; the tests act as HTTP clients and workers.
/// Derived fixtures adjust it through <see cref="WithStdWorker"/>, <see cref="InsecureDev"/>, <see cref="Secrets"/>
/// and <see cref="Configure"/>. xunit only finds collection definitions in the test assembly itself, so each test
/// project declares its own <c>[CollectionDefinition]</c> for the fixtures it shares.
/// </summary>
public class ServerFixture : IAsyncLifetime
{
    private WebApplication? _app;

    /// <summary>Whether the server hosts its built-in std worker (as <c>spindle serve</c> does by default).</summary>
    protected virtual bool WithStdWorker => false;

    /// <summary>Whether requests without a token are accepted (loopback dev mode).</summary>
    protected virtual bool InsecureDev => true;

    /// <summary>The server's secrets; null reads them from the environment.</summary>
    protected virtual IReadOnlyDictionary<string, string>? Secrets => null;

    public WebApplication App => _app!;

    public string DataDir { get; } = Directory.CreateTempSubdirectory("spindle-server-").FullName;

    public HttpClient Http { get; private set; } = null!;

    public string BaseUrl { get; private set; } = "";

    /// <summary>Adjusts the server's options before it is built (a fake clock, a default deadline).</summary>
    protected virtual void Configure(ServerOptions options)
    {
    }

    public virtual async Task InitializeAsync()
    {
        var options = new ServerOptions
        {
            Port = 0,
            DataDir = DataDir,
            InsecureDev = InsecureDev,
            NoWorker = !WithStdWorker,
            TimerInterval = TimeSpan.FromMilliseconds(200),
            Secrets = Secrets,
        };
        Configure(options);
        _app = SpindleServer.Build(options, logging => logging.SetMinimumLevel(LogLevel.Warning));
        BaseUrl = await SpindleServer.StartAsync(_app, CancellationToken.None);
        Http = new HttpClient { BaseAddress = new Uri(BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
    }

    public virtual async Task DisposeAsync()
    {
        Http.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public async Task<JsonObject> DeployAsync(string yaml)
    {
        using var response = await Http.PostAsync("/api/v1/workflow_definitions", new StringContent(yaml, Encoding.UTF8, "application/yaml"));
        var body = await ReadAsync(response);
        Assert.True(response.IsSuccessStatusCode, body.ToJsonString());
        return body;
    }

    public async Task<string> SubmitAsync(string name, JsonObject? input = null)
    {
        using var response = await Http.PostAsJsonAsync("/api/v1/workflows", new JsonObject { ["definition_name"] = name, ["input"] = input ?? new JsonObject() });
        var body = await ReadAsync(response);
        Assert.Equal(201, (int)response.StatusCode);
        return body["workflow_id"]!.GetValue<string>();
    }

    public async Task<(int Status, JsonObject Body)> PostAsync(string path, JsonNode? body)
    {
        using var response = await Http.PostAsync(path, new StringContent(body?.ToJsonString() ?? "", Encoding.UTF8, "application/json"));
        return ((int)response.StatusCode, await ReadAsync(response));
    }

    public async Task<(int Status, JsonObject Body)> GetAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        return ((int)response.StatusCode, await ReadAsync(response));
    }

    public async Task<JsonArray> PollAsync(string workerId, int max = 10, int wait = 0, string routingKey = "std")
    {
        var (status, body) = await PostAsync("/api/v1/workers/poll",
            new JsonObject { ["worker"] = routingKey, ["worker_id"] = workerId, ["max_activities"] = max, ["wait_seconds"] = wait });
        Assert.Equal(200, status);
        return body["activities"]!.AsArray();
    }

    public static async Task<JsonObject> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return string.IsNullOrEmpty(text) ? new JsonObject() : JsonNode.Parse(text) as JsonObject ?? new JsonObject { ["_"] = JsonNode.Parse(text) };
    }
}
