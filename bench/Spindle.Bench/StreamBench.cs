using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Spindle.Bench;

/// <summary>
/// <c>spindle-bench streams</c>: live activity streams (docs/api.md, Streams), measured over HTTP like a worker and
/// its subscribers use them.
/// <list type="bullet">
/// <item>Latency: a worker holding a lease POSTs tokens to server A one at a time; a WebSocket subscriber on server B
/// (or A) receives each; publish-to-receive time per token (the next token is sent once the previous arrived).</item>
/// <item>Fan-out: N concurrent SSE subscribers of one activity on server A; each token is sent once all N have the
/// previous one; the time until the last subscriber has it, and the server's resident memory before, with the
/// subscribers connected, and its peak (VmHWM).</item>
/// </list>
///   spindle-bench streams --url A [--url2 B] [--tokens 500] [--subscribers 1000] [--fanout-tokens 100]
///                         [--server-pid PID] [--out FILE]
/// </summary>
public static class StreamBench
{
    private const string Queue = "bench_streams";
    private const string WorkerId = "bench-streams-worker";

    public static async Task<int> RunAsync(Options o)
    {
        var urlA = o.Required("url");
        var urlB = o.Get("url2") ?? urlA;
        var tokens = int.Parse(o.Get("tokens") ?? "500", CultureInfo.InvariantCulture);
        var subscribers = int.Parse(o.Get("subscribers") ?? "0", CultureInfo.InvariantCulture);
        var fanoutTokens = int.Parse(o.Get("fanout-tokens") ?? "100", CultureInfo.InvariantCulture);
        int? serverPid = o.Get("server-pid") is { } pid ? int.Parse(pid, CultureInfo.InvariantCulture) : null;

        using var a = new HttpClient { BaseAddress = new Uri(urlA), Timeout = TimeSpan.FromSeconds(60) };
        var result = new JsonObject { ["url"] = urlA, ["subscriber_url"] = urlB, ["cross_server"] = urlA != urlB };
        await DeployAsync(a);

        var latencies = await LatencyAsync(a, urlB, tokens);
        result["latency_ms"] = Summary(latencies);
        Console.WriteLine($"publish→receive ({(urlA == urlB ? "one server" : "across two servers")}, {tokens} tokens, WebSocket): " +
                          $"p50 {Percentile(latencies, 50):0.00} ms, p99 {Percentile(latencies, 99):0.00} ms");

        if (subscribers > 0)
        {
            var fanout = await FanOutAsync(a, urlA, subscribers, fanoutTokens, serverPid);
            result["fanout"] = fanout;
            Console.WriteLine($"fan-out to {subscribers} SSE subscribers ({fanoutTokens} tokens): last subscriber p50 {fanout["last_receive_ms"]!["p50"]} ms, " +
                              $"p99 {fanout["last_receive_ms"]!["p99"]} ms; server RSS {fanout["rss_before_mib"]} MiB before, " +
                              $"{fanout["rss_connected_mib"]} MiB connected, {fanout["rss_after_mib"]} MiB after, peak {fanout["rss_peak_mib"]} MiB");
        }
        if (o.Get("out") is { } path)
        {
            await File.WriteAllTextAsync(path, result.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        }
        return 0;
    }

    private static async Task DeployAsync(HttpClient http)
    {
        var yaml = $"name: bench_streams\nactivities:\n  - {{key: talk, worker: {Queue}, activity_name: talk}}\n";
        using var response = await http.PostAsync("/api/v1/workflow_definitions", new StringContent(yaml, Encoding.UTF8, "application/yaml"));
        if (!response.IsSuccessStatusCode && (int)response.StatusCode != 409)
        {
            throw new InvalidOperationException($"deploy: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>Submits a run and claims its activity as the bench worker: only the lease holder may publish.</summary>
    private static async Task<string> LeaseAsync(HttpClient http)
    {
        using (var submit = await http.PostAsJsonAsync("/api/v1/workflows", new JsonObject { ["definition_name"] = "bench_streams", ["input"] = new JsonObject() }))
        {
            submit.EnsureSuccessStatusCode();
        }
        using var poll = await http.PostAsJsonAsync("/api/v1/workers/poll",
            new JsonObject { ["worker"] = Queue, ["worker_id"] = WorkerId, ["max_activities"] = 1, ["wait_seconds"] = 10 });
        var body = JsonNode.Parse(await poll.Content.ReadAsStringAsync())!;
        return body["activities"]![0]!["activity_id"]!.GetValue<string>();
    }

    private static async Task PublishAsync(HttpClient http, string activityId, string kind, JsonObject body)
    {
        body["worker_id"] = WorkerId;
        using var response = await http.PostAsJsonAsync($"/api/v1/activities/{activityId}/ws/{kind}", body);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"publish: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    private static async Task<List<double>> LatencyAsync(HttpClient a, string subscriberUrl, int tokens)
    {
        var activityId = await LeaseAsync(a);
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri(subscriberUrl.Replace("http://", "ws://", StringComparison.Ordinal) + $"/api/v1/activities/{activityId}/ws"),
            CancellationToken.None);
        // The subscriber must be counted (on every server) before tokens are sent, or the first ones are replayed.
        await WaitForSubscribersAsync(a, activityId, 1);
        var buffer = new byte[64 * 1024];
        var latencies = new List<double>(tokens);
        var warmup = Math.Min(50, tokens / 10);
        for (var i = 0; i < tokens + warmup; i++)
        {
            var sent = Stopwatch.GetTimestamp();
            await PublishAsync(a, activityId, "token", new JsonObject { ["text"] = "t" + i, ["index"] = i });
            while (true)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                var received = await socket.ReceiveAsync(buffer, cts.Token);
                var frame = JsonNode.Parse(Encoding.UTF8.GetString(buffer, 0, received.Count))!;
                if ((string?)frame["type"] == "token" && (string?)frame["text"] == "t" + i)
                {
                    break;
                }
            }
            if (i >= warmup)
            {
                latencies.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
            }
        }
        await PublishAsync(a, activityId, "complete", new JsonObject { ["result"] = "done" });
        // The server closes after complete: read up to its close, then answer it.
        using (var end = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            while ((await socket.ReceiveAsync(buffer, end.Token)).MessageType != WebSocketMessageType.Close)
            {
            }
        }
        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        return latencies;
    }

    private static async Task<JsonObject> FanOutAsync(HttpClient a, string url, int subscribers, int tokens, int? serverPid)
    {
        var activityId = await LeaseAsync(a);
        var rssBefore = Rss(serverPid, "VmRSS");
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
        using var sseClient = new HttpClient(handler) { BaseAddress = new Uri(url), Timeout = Timeout.InfiniteTimeSpan };
        var counts = new int[subscribers];
        var allHave = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reached = 0;
        using var stop = new CancellationTokenSource();
        var readers = new List<Task>(subscribers);
        for (var s = 0; s < subscribers; s++)
        {
            var me = s;
            var response = await sseClient.GetAsync($"/api/v1/activities/{activityId}/stream", HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            var stream = await response.Content.ReadAsStreamAsync();
            readers.Add(Task.Run(async () =>
            {
                using (response)
                {
                    await foreach (var item in SseParser.Create(stream).EnumerateAsync(stop.Token))
                    {
                        if (item.EventType != "message")
                        {
                            continue;
                        }
                        var frame = JsonNode.Parse(item.Data)!;
                        if ((string?)frame["type"] != "token")
                        {
                            return;
                        }
                        counts[me]++;
                        if (Interlocked.Increment(ref reached) == subscribers)
                        {
                            Volatile.Read(ref allHave).TrySetResult();
                        }
                    }
                }
            }));
        }
        await WaitForSubscribersAsync(a, activityId, subscribers);
        var rssConnected = Rss(serverPid, "VmRSS");
        var lasts = new List<double>(tokens);
        for (var i = 0; i < tokens; i++)
        {
            Interlocked.Exchange(ref reached, 0);
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref allHave, gate);
            var sent = Stopwatch.GetTimestamp();
            await PublishAsync(a, activityId, "token", new JsonObject { ["text"] = "t" + i, ["index"] = i });
            if (await Task.WhenAny(gate.Task, Task.Delay(TimeSpan.FromSeconds(60))) != gate.Task)
            {
                throw new InvalidOperationException($"token {i} reached only {reached} of {subscribers} subscribers in 60 s");
            }
            lasts.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
        }
        await PublishAsync(a, activityId, "complete", new JsonObject { ["result"] = "done" });
        await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(60));
        await stop.CancelAsync();
        var rssAfter = Rss(serverPid, "VmRSS");
        return new JsonObject
        {
            ["subscribers"] = subscribers,
            ["tokens"] = tokens,
            ["every_subscriber_got_every_token"] = counts.All(c => c == tokens),
            ["last_receive_ms"] = Summary(lasts),
            ["rss_before_mib"] = rssBefore,
            ["rss_connected_mib"] = rssConnected,
            ["rss_after_mib"] = rssAfter,
            ["rss_peak_mib"] = Rss(serverPid, "VmHWM"),
        };
    }

    private static async Task WaitForSubscribersAsync(HttpClient http, string activityId, int expected)
    {
        for (var i = 0; i < 600; i++)
        {
            var body = JsonNode.Parse(await http.GetStringAsync($"/api/v1/activities/{activityId}/ws/subscribers"))!;
            if (body["count"]!.GetValue<int>() >= expected)
            {
                return;
            }
            await Task.Delay(50);
        }
        throw new InvalidOperationException($"fewer than {expected} subscribers were counted after 30 s");
    }

    /// <summary>A memory figure of /proc/PID/status in MiB (null without a pid).</summary>
    private static double? Rss(int? pid, string field)
    {
        if (pid is null)
        {
            return null;
        }
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        var kib = long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        return Math.Round(kib / 1024.0, 1);
    }

    private static JsonObject Summary(List<double> values) => new()
    {
        ["count"] = values.Count,
        ["p50"] = Math.Round(Percentile(values, 50), 2),
        ["p99"] = Math.Round(Percentile(values, 99), 2),
        ["max"] = Math.Round(values.Count == 0 ? 0 : values.Max(), 2),
    };

    private static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0)
        {
            return 0;
        }
        var sorted = values.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }
}
