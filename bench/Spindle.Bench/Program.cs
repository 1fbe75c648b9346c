using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Bench;

/// <summary>
/// spindle-bench: the benchmark driver of BENCHMARKS.md. It speaks only HTTP: the Spindle API, or a peer's
/// thin adapter that exposes the same submit/status routes.
///
///   spindle-bench run --url URL --engine NAME --variant NAME --out-dir DIR [options]
///   spindle-bench report --in DIR --json FILE --md FILE
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.WriteLine("""
                usage: spindle-bench run --url URL --engine NAME --variant NAME --out-dir DIR [options]
                         --suffix S          definition name suffix ("" built-in echo, "_py-std" Python steps)
                         --mode poll|wait    poll every 50 ms (default) or wait natively: GET …?wait_seconds=30 (Spindle's
                                             own read; the peers' adapters wait on the engine's result)
                         --deploy            deploy the definitions first (Spindle)
                         --warmups N         warm-up passes, discarded (default 1)
                         --repeats N         measured passes (default 3)
                         --pass N [--warmup] run exactly one pass, numbered N (a round of bench/run.sh's alternation);
                                             with --warmup it is warm-up N (discarded)
                         --no-prime          with --pass: skip the few unrecorded workflows per scenario run first
                         --solo N            afterwards, N Sequential-5 workflows one at a time (profile, Spindle)
                         --scale X           multiply every N by X (smoke runs)
                         --events            profile from GET /workflows/{id}/events (Spindle)
                         --proc NAME=PID[,PID]  sample this process tree (engine, db, ...) from /proc
                         --describe TEXT     how the configuration was set up (goes into the table)
                         --env FILE          environment record (JSON) to embed
                       spindle-bench ramp --url URL --engine NAME --variant NAME --out-dir DIR [--deploy] [--proc ...]
                         [--start WF_S] [--factor X] [--step-seconds S] [--p99-limit-ms MS] [--max-steps N]
                         open-loop Poisson arrivals of Chain-3 at rising rates, native waits (Ramp.cs)
                       spindle-bench report --in DIR --json FILE --md FILE [--title TEXT]
                       spindle-bench trace --url URL [--deploy] [--trace-file FILE] [--n 50] [--c 10] [--passes 2]
                                           [--warmups 1] [--label TEXT] [--out FILE] [--json FILE]   (bench/trace.sh)
                       spindle-bench streams --url A [--url2 B] [--tokens N] [--subscribers N] [--server-pid PID] [--out FILE]
                """);
            return 2;
        }
        try
        {
            return args[0] switch
            {
                "run" => await RunAsync(Options.Parse(args[1..])),
                "report" => Report.Write(Options.Parse(args[1..])),
                "streams" => await StreamBench.RunAsync(Options.Parse(args[1..])),
                "ramp" => await Ramp.RunAsync(Options.Parse(args[1..])),
                "trace" => await DispatchTraceCommand.RunAsync(Options.Parse(args[1..])),
                _ => throw new ArgumentException($"unknown command '{args[0]}'"),
            };
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or HttpRequestException)
        {
            Console.Error.WriteLine("spindle-bench: " + ex.Message);
            return 1;
        }
    }

    private static async Task<int> RunAsync(Options o)
    {
        var url = o.Required("url");
        var engine = o.Required("engine");
        var variant = o.Required("variant");
        var outDir = o.Required("out-dir");
        var suffix = o.Get("suffix") ?? "";
        var mode = o.Get("mode") == "wait" ? WaitMode.Wait : WaitMode.Poll;
        var warmups = int.Parse(o.Get("warmups") ?? "1", CultureInfo.InvariantCulture);
        var repeats = int.Parse(o.Get("repeats") ?? "3", CultureInfo.InvariantCulture);
        var scale = double.Parse(o.Get("scale") ?? "1", CultureInfo.InvariantCulture);
        var groups = ProcGroups(o);
        var environment = EnvironmentRecord(o);
        Directory.CreateDirectory(outDir);

        using var http = Runner.NewClient(url, o.Get("token"));
        if (o.Has("deploy"))
        {
            await Runner.DeployAsync(http, suffix);
        }
        var runner = new Runner(http, mode, suffix);
        await using var sampler = new ProcSampler(groups);
        // Map-1000 is Spindle's own (the peers have no map to compare).
        var scenarios = Scenario.All(scale).Where(x => engine == "spindle" || !x.Name.StartsWith("Map-", StringComparison.Ordinal)).ToList();
        var tag = mode == WaitMode.Wait ? "wait" : "poll";
        var exit = 0;
        // (warm-up?, number) of every pass to run: the classic warm-ups then measured passes, or the one pass of a round.
        var plan = o.Get("pass") is { } onePass
            ? [(o.Has("warmup"), int.Parse(onePass, CultureInfo.InvariantCulture))]
            : Enumerable.Range(1, warmups).Select(i => (true, i)).Concat(Enumerable.Range(1, repeats).Select(i => (false, i))).ToList();
        if (o.Get("pass") is not null && !o.Has("no-prime"))
        {
            // One pass of a round runs in a fresh driver process against an engine that was just thawed: a few
            // unrecorded workflows per scenario first, so neither side's cold start (JIT, pools, caches) is measured.
            foreach (var scenario in Scenario.All(0.05 * scale).Where(x => !x.Name.StartsWith("Map-", StringComparison.Ordinal)))
            {
                await runner.RunAsync(scenario);
            }
        }
        foreach (var (warmup, number) in plan)
        {
            var startedAt = DateTimeOffset.UtcNow;
            var results = new List<(ScenarioResult Result, Dictionary<string, ProcSampler.GroupStats> Res)>();
            foreach (var scenario in scenarios)
            {
                sampler.Begin();
                var r = await runner.RunAsync(scenario);
                var res = sampler.End();
                results.Add((r, res));
                var ok = r.Runs.Count(x => x.Success);
                var label = (warmup ? "warm-up " : "pass ") + number.ToString(CultureInfo.InvariantCulture);
                var p50 = Stats.Percentile(r.Runs.Where(x => x.Success).Select(x => x.LatencyMs), 0.5);
                var cpuText = res.TryGetValue("engine", out var e) ? FormattableString.Invariant($", engine cpu {e.CpuSeconds:F2} s") : "";
                var itemsText = scenario.Name.StartsWith("Map-", StringComparison.Ordinal)
                    ? FormattableString.Invariant($", {scenario.N * scenario.Steps / r.DurationS:F0} items/s") : "";
                Console.Error.WriteLine(FormattableString.Invariant(
                    $"  {engine}/{variant}/{tag} {label} {scenario.Name}: {scenario.N / r.DurationS:F1} wf/s{itemsText}, p50 {p50:F0} ms, {ok}/{scenario.N} ok{cpuText}"));
                foreach (var bad in r.Runs.Where(x => !x.Success).Take(3))
                {
                    Console.Error.WriteLine($"    failure: {bad.Id} {bad.Status} {bad.Error}");
                }
                if (ok != scenario.N)
                {
                    exit = 3;
                }
            }
            var scenarioJson = new JsonArray();
            foreach (var (r, res) in results)
            {
                var s = ScenarioJson(r, res);
                if (!warmup && o.Has("events"))
                {
                    s["profile"] = Profile.ToJson(await Profile.CollectAsync(http, r));
                }
                scenarioJson.Add(s);
            }
            var doc = new JsonObject
            {
                ["engine"] = engine,
                ["variant"] = variant,
                ["mode"] = tag,
                ["describe"] = o.Get("describe"),
                ["pass"] = warmup ? 0 : number,
                ["warmup"] = warmup,
                ["started_at"] = startedAt.ToString("O", CultureInfo.InvariantCulture),
                ["loadavg_at_start"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : null,
                ["environment"] = environment?.DeepClone(),
                ["scenarios"] = scenarioJson,
            };
            var hwm = new JsonObject();
            foreach (var (name, (root, tree)) in sampler.HighWaterMarks())
            {
                hwm[name] = new JsonObject { ["root_vmhwm_mb"] = Stats.Round(root, 1), ["tree_vmhwm_mb"] = Stats.Round(tree, 1) };
            }
            doc["peak_memory"] = hwm;
            var cpu = new JsonObject();
            foreach (var name in groups.Keys)
            {
                cpu[name] = Stats.Round(sampler.TotalCpuSeconds(name), 2);
            }
            doc["cpu_seconds_total"] = cpu;
            var file = Path.Combine(outDir, $"{engine}-{variant}-{tag}-{(warmup ? "warmup" : "pass")}{number}.json");
            await File.WriteAllTextAsync(file, doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        if (o.Get("solo") is { } soloText && int.Parse(soloText, CultureInfo.InvariantCulture) > 0)
        {
            // Profiling only (not a compared row): Sequential-5 workflows one at a time, so the engine's own per-step
            // cost shows without queueing behind other workflows.
            var solo = new Scenario("Sequential-5 alone", "sequential_bench_5", int.Parse(soloText, CultureInfo.InvariantCulture), 1, 5,
                Scenario.All()[0].DependsOn);
            var r = await new Runner(http, WaitMode.Wait, suffix).RunAsync(solo);
            var doc = new JsonObject
            {
                ["engine"] = engine,
                ["variant"] = variant,
                ["mode"] = tag,
                ["solo"] = Profile.ToJson(await Profile.CollectAsync(http, r)),
            };
            await File.WriteAllTextAsync(Path.Combine(outDir, $"{engine}-{variant}-{tag}-solo.json"), doc.ToJsonString());
        }
        return exit;
    }

    /// <summary>--proc NAME=PID[,PID] groups to sample, plus the driver itself.</summary>
    internal static Dictionary<string, int[]> ProcGroups(Options o)
    {
        var groups = new Dictionary<string, int[]>();
        foreach (var p in o.All("proc"))
        {
            var (name, pids) = (p[..p.IndexOf('=')], p[(p.IndexOf('=') + 1)..]);
            groups[name] = pids.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        }
        groups["driver"] = [Environment.ProcessId];
        return groups;
    }

    internal static JsonNode? EnvironmentRecord(Options o) =>
        o.Get("env") is { } envFile && File.Exists(envFile) ? JsonNode.Parse(File.ReadAllText(envFile)) : null;

    private static JsonObject ScenarioJson(ScenarioResult r, Dictionary<string, ProcSampler.GroupStats> res)
    {
        var sc = r.Scenario;
        var ok = r.Runs.Where(x => x.Success).ToList();
        var lat = ok.Select(x => x.LatencyMs).ToList();
        var engineLat = ok.Where(x => x.EngineCreated is not null && x.EngineUpdated is not null)
            .Select(x => (x.EngineUpdated!.Value - x.EngineCreated!.Value).TotalMilliseconds).ToList();
        var submitRtt = r.Runs.Where(x => x.SubmittedAt > 0).Select(x => (x.SubmittedAt - x.T0) * 1000.0 / System.Diagnostics.Stopwatch.Frequency).ToList();
        var j = new JsonObject
        {
            ["name"] = sc.Name,
            ["n"] = sc.N,
            ["c"] = sc.C,
            ["steps_per_workflow"] = sc.Steps,
            ["duration_s"] = Stats.Round(r.DurationS, 3),
            ["throughput_wf_s"] = Stats.Round(sc.N / r.DurationS),
            ["steps_s"] = Stats.Round(sc.N * sc.Steps / r.DurationS),
            ["success_rate"] = Stats.Round(100.0 * ok.Count / sc.N),
            ["failures"] = sc.N - ok.Count,
            ["p50_ms"] = Stats.Round(Stats.Percentile(lat, 0.50), 1),
            ["p95_ms"] = Stats.Round(Stats.Percentile(lat, 0.95), 1),
            ["p99_ms"] = Stats.Round(Stats.Percentile(lat, 0.99), 1),
            ["mean_ms"] = Stats.Round(lat.Count == 0 ? 0 : lat.Average(), 1),
            ["engine_p50_ms"] = engineLat.Count == 0 ? null : Stats.Round(Stats.Percentile(engineLat, 0.50), 1),
            ["engine_p95_ms"] = engineLat.Count == 0 ? null : Stats.Round(Stats.Percentile(engineLat, 0.95), 1),
            ["engine_p99_ms"] = engineLat.Count == 0 ? null : Stats.Round(Stats.Percentile(engineLat, 0.99), 1),
            ["submit_rtt_p50_ms"] = Stats.Round(Stats.Percentile(submitRtt, 0.50), 2),
            ["polls_per_workflow"] = Stats.Round(r.Runs.Average(x => x.Polls), 2),
        };
        foreach (var (name, g) in res)
        {
            if (name == "other")
            {
                j["other_cpu_pct_of_machine"] = Stats.Round(g.CpuAvgPct, 1);
                continue;
            }
            var prefix = name == "engine" ? "" : name + "_";
            j[prefix + "cpu_s"] = Stats.Round(g.CpuSeconds, 2);
            j[prefix + "cpu_peak_pct"] = Stats.Round(g.CpuPeakPct, 1);
            j[prefix + "cpu_avg_pct"] = Stats.Round(g.CpuAvgPct, 1);
            j[prefix + "rss_peak_mb"] = Stats.Round(g.RssPeakMb, 1);
            j[prefix + "rss_avg_mb"] = Stats.Round(g.RssAvgMb, 1);
        }
        return j;
    }
}

/// <summary>--key value options; repeated keys accumulate; a key without value is a flag.</summary>
public sealed class Options
{
    private readonly List<(string Key, string? Value)> _items = [];

    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                throw new ArgumentException($"unexpected argument '{args[i]}'");
            }
            var key = args[i][2..];
            string? value = null;
            if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                value = args[++i];
            }
            o._items.Add((key, value));
        }
        return o;
    }

    public string? Get(string key) => _items.LastOrDefault(x => x.Key == key).Value;

    public bool Has(string key) => _items.Any(x => x.Key == key);

    public IEnumerable<string> All(string key) => _items.Where(x => x.Key == key && x.Value is not null).Select(x => x.Value!);

    public string Required(string key) => Get(key) ?? throw new ArgumentException($"--{key} is required");
}
