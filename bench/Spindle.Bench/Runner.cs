using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Spindle.Bench;

/// <summary>How the client learns that a workflow finished.</summary>
public enum WaitMode
{
    /// <summary>GET /api/v1/workflows/{id} every 50 ms (the seed's form; the headline rows).</summary>
    Poll,

    /// <summary>GET /api/v1/workflows/{id}?wait_seconds=30: Spindle's own waiting read (docs/api.md); the peers'
    /// adapters answer it from the engine's native wait (DBOS: the handle's getResult(), Restate: attach).</summary>
    Wait,
}

/// <summary>One workflow as the client saw it.</summary>
public sealed class WorkflowRun
{
    public string? Id;
    public long T0;            // Stopwatch ticks just before the submit
    public long SubmittedAt;   // Stopwatch ticks when the submit answered
    public long DoneAt;        // Stopwatch ticks of the poll that saw the terminal status
    public string Status = "unknown";
    public bool Success;
    public double LatencyMs;
    public DateTimeOffset? EngineCreated;
    public DateTimeOffset? EngineUpdated;
    public int Polls;
    public string? Error;
}

public sealed class ScenarioResult
{
    public required Scenario Scenario;
    public required List<WorkflowRun> Runs;
    public double DurationS;
    public long StartTicks;
    public long EndTicks;
}

/// <summary>Runs one scenario over HTTP exactly as BENCHMARKS.md (How it is measured) describes it.</summary>
public sealed class Runner
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);
    public static readonly TimeSpan GiveUp = TimeSpan.FromSeconds(30);

    private readonly HttpClient _http;
    private readonly WaitMode _mode;
    private readonly string _suffix;

    public Runner(HttpClient http, WaitMode mode, string suffix)
    {
        _http = http;
        _mode = mode;
        _suffix = suffix;
    }

    public static HttpClient NewClient(string baseUrl, string? token)
    {
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 1000,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
        };
        var http = new HttpClient(handler) { BaseAddress = new Uri(baseUrl.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return http;
    }

    public static async Task DeployAsync(HttpClient http, string suffix)
    {
        foreach (var (name, yaml) in Scenario.Definitions(suffix))
        {
            using var content = new StringContent(yaml, Encoding.UTF8, "application/yaml");
            using var resp = await http.PostAsync("api/v1/workflow_definitions", content);
            var body = await resp.Content.ReadAsStringAsync();
            if (!resp.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"deploy {name}: HTTP {(int)resp.StatusCode}: {body}");
            }
        }
    }

    public async Task<ScenarioResult> RunAsync(Scenario scenario)
    {
        var runs = Enumerable.Range(0, scenario.N).Select(_ => new WorkflowRun()).ToList();
        using var slots = new SemaphoreSlim(scenario.C, scenario.C);
        var tasks = new List<Task>(scenario.N);
        long start = 0;
        foreach (var run in runs)
        {
            await slots.WaitAsync();
            if (start == 0)
            {
                start = Stopwatch.GetTimestamp();
            }
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    await OneAsync(scenario, run);
                }
                finally
                {
                    slots.Release();
                }
            }));
        }
        await Task.WhenAll(tasks);
        var end = runs.Max(r => r.DoneAt);
        return new ScenarioResult
        {
            Scenario = scenario,
            Runs = runs,
            StartTicks = start,
            EndTicks = end,
            DurationS = Stopwatch.GetElapsedTime(start, end).TotalSeconds,
        };
    }

    /// <summary>Submits one workflow and follows it to its end. A preset <see cref="WorkflowRun.T0"/> (the open-loop
    /// ramp's scheduled arrival) is kept, so a late submit counts against the engine's latency.</summary>
    public async Task OneAsync(Scenario scenario, WorkflowRun run)
    {
        if (run.T0 == 0)
        {
            run.T0 = Stopwatch.GetTimestamp();
        }
        try
        {
            var submit = new JsonObject { ["definition_name"] = scenario.DefinitionName + _suffix, ["input"] = new JsonObject() };
            using (var content = new StringContent(submit.ToJsonString(), Encoding.UTF8, "application/json"))
            using (var resp = await _http.PostAsync("api/v1/workflows", content))
            {
                var text = await resp.Content.ReadAsStringAsync();
                if (!resp.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"submit: HTTP {(int)resp.StatusCode}: {text}");
                }
                run.Id = JsonNode.Parse(text)!["workflow_id"]!.GetValue<string>();
            }
            run.SubmittedAt = Stopwatch.GetTimestamp();
            var deadline = run.T0 + (long)(GiveUp.TotalSeconds * Stopwatch.Frequency);
            while (true)
            {
                var now = Stopwatch.GetTimestamp();
                if (now >= deadline)
                {
                    run.Status = "timeout";
                    break;
                }
                string path;
                if (_mode == WaitMode.Poll)
                {
                    await Task.Delay(PollInterval);
                    path = "api/v1/workflows/" + run.Id;
                }
                else
                {
                    var left = (int)Math.Ceiling(Stopwatch.GetElapsedTime(now, deadline).TotalSeconds);
                    path = "api/v1/workflows/" + run.Id + "?wait_seconds=" + Math.Clamp(left, 1, 30).ToString(CultureInfo.InvariantCulture);
                }
                if (Stopwatch.GetTimestamp() >= deadline)
                {
                    run.Status = "timeout";
                    break;
                }
                using var resp = await _http.GetAsync(path);
                var body = await resp.Content.ReadAsStringAsync();
                run.Polls++;
                if (!resp.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"status: HTTP {(int)resp.StatusCode}: {body}");
                }
                var node = JsonNode.Parse(body)!;
                var status = node["status"]?.GetValue<string>() ?? "unknown";
                if (status is "completed" or "failed" or "cancelled")
                {
                    run.DoneAt = Stopwatch.GetTimestamp();
                    run.Status = status;
                    run.Success = status == "completed";
                    run.EngineCreated = ParseTime(node["created_at"]);
                    run.EngineUpdated = ParseTime(node["completed_at"]) ?? ParseTime(node["updated_at"]);
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            run.Status = "error";
            run.Error = ex.Message;
        }
        if (!run.Success)
        {
            run.DoneAt = Math.Max(Stopwatch.GetTimestamp(), run.T0);
            run.LatencyMs = GiveUp.TotalMilliseconds;
            if (run.Status == "failed" || run.Status == "cancelled")
            {
                run.LatencyMs = Stopwatch.GetElapsedTime(run.T0, run.DoneAt).TotalMilliseconds;
            }
        }
        else
        {
            run.LatencyMs = Stopwatch.GetElapsedTime(run.T0, run.DoneAt).TotalMilliseconds;
        }
    }

    public static DateTimeOffset? ParseTime(JsonNode? node)
    {
        if (node is null)
        {
            return null;
        }
        if (node.GetValueKind() == System.Text.Json.JsonValueKind.Number)
        {
            // epoch milliseconds (peer adapters may answer so)
            return DateTimeOffset.FromUnixTimeMilliseconds((long)node.GetValue<double>());
        }
        return DateTimeOffset.TryParse(node.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)
            ? t
            : null;
    }
}
