using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Spindle.Server;
using Spindle.TestSupport;
using Spindle.Worker.Tests.Email;

namespace Spindle.Compat.Tests;

/// <summary>
/// Everything a Kruxia Flow definition talks to, all real and on loopback: a throwaway PostgreSQL cluster (its
/// address as a <c>postgres://</c> URL in <c>SPINDLE_SECRET_DB_URL</c>), an HTTP target, the OpenAI-compatible
/// server of <c>examples/local-llm</c>, an SMTP server, and a Spindle server with its built-in std worker.
/// </summary>
public sealed class CompatFixture : IAsyncLifetime
{
    private readonly PostgresFixture _postgres = new();
    private WebApplication? _target;
    private WebApplication? _spindle;
    private Process? _llm;

    public string DataDir { get; } = Directory.CreateTempSubdirectory("spindle-compat-").FullName;

    public HttpClient Http { get; private set; } = null!;

    public string TargetUrl { get; private set; } = "";

    public string DbUrl { get; private set; } = "";

    internal TinySmtpServer Smtp { get; } = new();

    public async Task InitializeAsync()
    {
        await _postgres.InitializeAsync();
        var database = new NpgsqlConnectionStringBuilder(await _postgres.CreateDatabaseAsync());
        DbUrl = $"postgres://{Uri.EscapeDataString(database.Username!)}@{database.Host}:{database.Port}/{database.Database}?sslmode=disable&connect_timeout=10";

        _target = BuildTarget();
        await _target.StartAsync();
        TargetUrl = _target.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        string llmUrl = await StartLocalLlmAsync();

        // The server reads secrets, and its std worker the provider settings, from the environment at start.
        Environment.SetEnvironmentVariable("SPINDLE_SECRET_DB_URL", DbUrl);
        Environment.SetEnvironmentVariable("SPINDLE_OPENAI_BASE_URL", llmUrl);
        Environment.SetEnvironmentVariable("SPINDLE_OPENAI_API_KEY", "local-compat-key");
        Environment.SetEnvironmentVariable("SPINDLE_ANTHROPIC_API_KEY", null);
        Environment.SetEnvironmentVariable("ANTHROPIC_API_KEY", null);

        var options = new ServerOptions
        {
            Port = 0,
            DataDir = DataDir,
            InsecureDev = true,
            TimerInterval = TimeSpan.FromMilliseconds(200),
        };
        _spindle = SpindleServer.Build(options, logging => logging.SetMinimumLevel(LogLevel.Warning));
        string baseUrl = await SpindleServer.StartAsync(_spindle, CancellationToken.None);
        Http = new HttpClient { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(60) };
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_spindle is not null)
        {
            await _spindle.StopAsync();
            await _spindle.DisposeAsync();
        }

        if (_target is not null)
        {
            await _target.DisposeAsync();
        }

        if (_llm is not null)
        {
            try
            {
                _llm.Kill(entireProcessTree: true);
                await _llm.WaitForExitAsync();
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }

            _llm.Dispose();
        }

        await Smtp.DisposeAsync();
        await _postgres.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Deploys a definition of <c>tests/compat/definitions</c>, runs it with <paramref name="input"/> and returns the finished workflow.</summary>
    public async Task<JsonObject> RunAsync(string definitionFile, JsonObject? input = null)
    {
        string yaml = await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "tests", "compat", "definitions", definitionFile));
        using (var deploy = await Http.PostAsync("/api/v1/workflow_definitions", new StringContent(yaml, Encoding.UTF8, "application/yaml")))
        {
            Assert.True(deploy.IsSuccessStatusCode, await deploy.Content.ReadAsStringAsync());
        }

        string name = yaml.Split('\n').First(l => l.StartsWith("name:", StringComparison.Ordinal))["name:".Length..].Trim();
        using var submit = await Http.PostAsJsonAsync("/api/v1/workflows", new JsonObject { ["definition_name"] = name, ["input"] = input ?? new JsonObject() });
        var submitted = JsonNode.Parse(await submit.Content.ReadAsStringAsync())!.AsObject();
        Assert.True(submit.IsSuccessStatusCode, submitted.ToJsonString());
        string id = submitted["workflow_id"]!.GetValue<string>();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var wf = JsonNode.Parse(await Http.GetStringAsync($"/api/v1/workflows/{id}?wait_seconds=10"))!.AsObject();
            if (wf["status"]!.GetValue<string>() is "completed" or "failed" or "cancelled")
            {
                return wf;
            }

            Assert.True(DateTime.UtcNow < deadline, "workflow did not finish: " + wf.ToJsonString());
        }
    }

    /// <summary>The single value output (<c>echo</c>) of the workflow's <c>check</c> activity.</summary>
    public static JsonObject CheckOutput(JsonObject workflow)
    {
        Assert.True(workflow["status"]!.GetValue<string>() == "completed", workflow.ToJsonString());
        JsonObject check = Activity(workflow, "check");
        JsonObject output = Assert.Single(check["outputs"]!.AsArray())!.AsObject();
        Assert.Equal("echo", output["name"]!.GetValue<string>());
        return output["value"]!.AsObject();
    }

    public static JsonObject Activity(JsonObject workflow, string key) =>
        workflow["activities"]!.AsArray().Single(a => a!["activity_key"]!.GetValue<string>() == key)!.AsObject();

    private static WebApplication BuildTarget()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapGet("/json", (HttpContext context) => Results.Json(new
        {
            hello = "world",
            query = context.Request.Query["q"].ToString(),
            header = context.Request.Headers["X-Compat"].ToString(),
        }));
        app.MapGet("/status/{code:int}", (int code) => Results.Text($"status {code}", statusCode: code));
        app.MapPost("/echo", async (HttpContext context) =>
        {
            var received = await JsonNode.ParseAsync(context.Request.Body);
            return Results.Json(new JsonObject { ["received"] = received, ["content_type"] = context.Request.ContentType });
        });
        return app;
    }

    private async Task<string> StartLocalLlmAsync()
    {
        var start = new ProcessStartInfo("/usr/bin/python3")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(RepositoryRoot(), "examples", "local-llm", "server.py"));
        start.ArgumentList.Add("--port");
        start.ArgumentList.Add("0");
        _llm = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        string line = await _llm.StandardOutput.ReadLineAsync(timeout.Token)
            ?? throw new InvalidOperationException("the local LLM server exited: " + await _llm.StandardError.ReadToEndAsync());
        const string marker = "http://";
        return line[line.IndexOf(marker, StringComparison.Ordinal)..].Trim();
    }

    internal static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Spindle.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}

[CollectionDefinition(Name)]
public sealed class CompatCollection : ICollectionFixture<CompatFixture>
{
    public const string Name = "kruxia-compat";
}
