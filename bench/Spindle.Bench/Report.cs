using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Bench;

/// <summary>Builds the dated JSON and the markdown table from the per-pass files (median of the measured passes).</summary>
public static class Report
{
    private static readonly string[] Metrics =
    [
        "duration_s", "throughput_wf_s", "steps_s", "success_rate", "p50_ms", "p95_ms", "p99_ms", "mean_ms",
        "engine_p50_ms", "engine_p95_ms", "engine_p99_ms", "cpu_s", "cpu_peak_pct", "cpu_avg_pct", "rss_peak_mb",
        "rss_avg_mb", "db_cpu_s", "db_cpu_avg_pct", "db_rss_peak_mb", "submit_rtt_p50_ms", "polls_per_workflow", "failures",
        "driver_cpu_s", "other_cpu_pct_of_machine",
    ];

    private static readonly string[] ProfileMetrics =
    [
        "dispatch_ms", "first_claim_ms", "exec_ms", "finish_ms", "engine_ms", "submit_to_created_ms", "terminal_to_seen_ms",
        "client_ms", "critical_path_exec_ms", "critical_path_dispatch_ms",
    ];

    private static readonly string[] ScenarioNames = ["Sequential-5", "Parallel-10", "High-Concurrency-3"];

    /// <summary>Spindle-only scenarios with a table of their own (peers have no map to compare).</summary>
    private static readonly string[] MapScenarioNames = ["Map-1000"];

    public static int Write(Options o)
    {
        var dir = o.Required("in");
        var passes = Directory.EnumerateFiles(dir, "*.json")
            .Where(f => !Path.GetFileName(f).StartsWith('_'))
            .Select(f => JsonNode.Parse(File.ReadAllText(f))!.AsObject())
            .Where(d => d["scenarios"] is not null)
            .ToList();
        var ramps = Directory.EnumerateFiles(dir, "ramp-*.json")
            .Select(f => JsonNode.Parse(File.ReadAllText(f))!.AsObject())
            .Where(d => d["ramp"] is not null)
            .OrderBy(d => S(d["started_at"]))
            .ToList();
        var solos = Directory.EnumerateFiles(dir, "*-solo.json")
            .Select(f => JsonNode.Parse(File.ReadAllText(f))!.AsObject()).ToList();
        var extras = Path.Combine(dir, "_extras.json");
        var extra = File.Exists(extras) ? JsonNode.Parse(File.ReadAllText(extras))!.AsObject() : new JsonObject();

        var configs = new JsonArray();
        var order = passes.Where(p => p["warmup"]!.GetValue<bool>() == false)
            .GroupBy(p => (Engine: S(p["engine"]), Variant: S(p["variant"]), Mode: S(p["mode"])))
            .OrderBy(g => g.Key.Mode == "wait" ? 1 : 0)
            .ThenBy(g => g.Key.Engine == "spindle" ? 0 : 1)
            .ThenBy(g => S(g.First()["started_at"]));
        foreach (var g in order)
        {
            var list = g.OrderBy(p => p["pass"]!.GetValue<int>()).ToList();
            var scen = new JsonObject();
            foreach (var name in ScenarioNames.Concat(MapScenarioNames))
            {
                var rows = list.Select(p => p["scenarios"]!.AsArray().FirstOrDefault(s => S(s!["name"]) == name)?.AsObject())
                    .Where(s => s is not null).Select(s => s!).ToList();
                if (rows.Count == 0)
                {
                    continue;
                }
                var m = new JsonObject { ["n"] = rows[0]["n"]!.DeepClone(), ["c"] = rows[0]["c"]!.DeepClone(), ["passes"] = rows.Count };
                // wf/s of each measured pass by its number: bench/run.sh runs pass k of every configuration in round k,
                // so the ratio table pairs passes of the same round.
                var byPass = new JsonObject();
                foreach (var p in list)
                {
                    var row = p["scenarios"]!.AsArray().FirstOrDefault(x => S(x!["name"]) == name);
                    if (row?["throughput_wf_s"] is JsonValue v)
                    {
                        byPass[p["pass"]!.GetValue<int>().ToString(CultureInfo.InvariantCulture)] = v.GetValue<double>();
                    }
                }
                m["throughput_wf_s_by_pass"] = byPass;
                foreach (var metric in Metrics)
                {
                    var vals = rows.Where(r => r[metric] is JsonValue).Select(r => r[metric]!.GetValue<double>()).ToList();
                    if (vals.Count > 0)
                    {
                        m[metric] = new JsonObject
                        {
                            ["median"] = Stats.Round(Stats.Median(vals), 2),
                            ["min"] = Stats.Round(vals.Min(), 2),
                            ["max"] = Stats.Round(vals.Max(), 2),
                        };
                    }
                }
                var profiles = rows.Where(r => r["profile"] is JsonObject).Select(r => r["profile"]!.AsObject()).ToList();
                if (profiles.Count > 0)
                {
                    var prof = new JsonObject();
                    foreach (var pm in ProfileMetrics)
                    {
                        var stat = new JsonObject();
                        foreach (var k in new[] { "mean", "p50", "p95", "p99", "max" })
                        {
                            stat[k] = Stats.Round(Stats.Median(profiles.Select(p => p[pm]![k]!.GetValue<double>())), 2);
                        }
                        prof[pm] = stat;
                    }
                    foreach (var scalar in new[] { "claim_tx_per_workflow", "write_tx_per_workflow" })
                    {
                        if (profiles.All(p => p[scalar] is JsonValue))
                        {
                            prof[scalar] = Stats.Round(Stats.Median(profiles.Select(p => p[scalar]!.GetValue<double>())), 2);
                        }
                    }
                    m["profile"] = prof;
                }
                scen[name] = m;
            }
            var last = list[^1];
            // Every invocation of the driver (one per round) samples its own window, so the whole run's CPU is the sum
            // over all passes of the configuration, warm-ups included.
            var all = passes.Where(p => (S(p["engine"]), S(p["variant"]), S(p["mode"])) == g.Key).ToList();
            var cpuTotal = new JsonObject();
            foreach (var name in all.SelectMany(p => p["cpu_seconds_total"]?.AsObject().Select(kv => kv.Key) ?? []).Distinct())
            {
                cpuTotal[name] = Stats.Round(all.Sum(p => p["cpu_seconds_total"]?[name]?.GetValue<double>() ?? 0), 2);
            }
            configs.Add(new JsonObject
            {
                ["engine"] = g.Key.Engine,
                ["variant"] = g.Key.Variant,
                ["mode"] = g.Key.Mode,
                ["describe"] = last["describe"]?.DeepClone(),
                ["passes"] = list.Count,
                ["peak_memory"] = last["peak_memory"]?.DeepClone(),
                ["cpu_seconds_total"] = cpuTotal,
                ["scenarios"] = scen,
            });
        }
        var environment = passes.Select(p => p["environment"]).FirstOrDefault(e => e is JsonObject)?.DeepClone();
        var doc = new JsonObject
        {
            ["generated_at"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["title"] = o.Get("title"),
            ["environment"] = environment,
            ["extras"] = extra.DeepClone(),
            ["configurations"] = configs,
            ["ramps"] = new JsonArray(ramps.Select(x => (JsonNode)x.DeepClone()).ToArray()),
            ["solo_profiles"] = new JsonArray(solos.Select(x => (JsonNode)x.DeepClone()).ToArray()),
            ["passes"] = new JsonArray(passes.OrderBy(p => S(p["started_at"])).Select(p => (JsonNode)p.DeepClone()).ToArray()),
        };
        if (o.Get("json") is { } jsonOut)
        {
            File.WriteAllText(jsonOut, doc.ToJsonString(new JsonSerializerOptions
            {
                WriteIndented = true,
                Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            }));
        }
        var md = Markdown(doc);
        if (o.Get("md") is { } mdOut)
        {
            File.WriteAllText(mdOut, md);
        }
        else
        {
            Console.Write(md);
        }
        return 0;
    }

    internal static string S(JsonNode? n) => n?.GetValue<string>() ?? "";

    private static double? Med(JsonNode? scen, string metric) => scen?[metric]?["median"]?.GetValue<double>();

    internal static string F(double? v, int digits = 1) => v is null ? "–" : v.Value.ToString("N" + digits, CultureInfo.InvariantCulture);

    private static string Range(JsonNode? scen, string metric, int digits = 1) =>
        scen?[metric] is JsonObject m
            ? $"{F(m["median"]!.GetValue<double>(), digits)} ({F(m["min"]!.GetValue<double>(), digits)}–{F(m["max"]!.GetValue<double>(), digits)})"
            : "–";

    private static string Label(JsonNode c) => $"{S(c["engine"])} · {S(c["variant"])}" + (S(c["mode"]) == "wait" ? " · wait_seconds" : "");

    public static string Markdown(JsonObject doc)
    {
        var sb = new StringBuilder();
        var configs = doc["configurations"]!.AsArray();
        var poll = configs.Where(c => S(c!["mode"]) == "poll").ToList();
        var wait = configs.Where(c => S(c!["mode"]) == "wait").ToList();
        sb.AppendLine($"# Benchmark results {doc["title"]?.GetValue<string>() ?? ""}".TrimEnd());
        sb.AppendLine();
        if (doc["environment"] is JsonObject env)
        {
            var relaxed = new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
            sb.AppendLine("Environment: " + string.Join("; ", env.Select(kv => $"{kv.Key}: {kv.Value?.ToJsonString(relaxed).Trim('"')}")));
            sb.AppendLine();
        }
        if (poll.Count > 0)
        {
            sb.AppendLine("## Headline: workflows per second, median (min–max) of the measured passes; the client polls every 50 ms");
            sb.AppendLine();
            HeadlineTable(sb, poll);
        }
        if (wait.Count > 0)
        {
            sb.AppendLine("### Native waits: `GET /workflows/{id}?wait_seconds=30` instead of polling (Spindle's waiting read; the peers' " +
                          "adapters await the engine's own result: DBOS `getResult()`, Restate attach). Not comparable with the rows above");
            sb.AppendLine();
            HeadlineTable(sb, wait);
        }
        foreach (var name in ScenarioNames)
        {
            var any = configs.Where(c => c!["scenarios"]![name] is not null).ToList();
            if (any.Count == 0)
            {
                continue;
            }
            var n = any[0]!["scenarios"]![name]!;
            sb.AppendLine($"## {name} (N = {n["n"]}, C = {n["c"]}); median (min–max) of the measured passes");
            sb.AppendLine();
            sb.AppendLine("CPU s = utime+stime of the process tree during the scenario; other load % = CPU used meanwhile by processes " +
                          "outside the engine, its database and the driver (other work on the machine), in % of all cores.");
            sb.AppendLine();
            sb.AppendLine("| Configuration | wf/s | steps/s | P50 ms | P95 ms | P99 ms | engine P50 ms | success % | engine CPU s | engine CPU avg % | engine RSS peak MB | DB CPU s | other load % |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var c in any)
            {
                var s = c!["scenarios"]![name];
                sb.AppendLine($"| {Label(c)} | {Range(s, "throughput_wf_s")} | {F(Med(s, "steps_s"), 0)} | {Range(s, "p50_ms", 0)} | {F(Med(s, "p95_ms"), 0)} | " +
                              $"{F(Med(s, "p99_ms"), 0)} | {F(Med(s, "engine_p50_ms"), 1)} | {F(Med(s, "success_rate"), 1)} | {F(Med(s, "cpu_s"), 2)} | " +
                              $"{F(Med(s, "cpu_avg_pct"), 0)} | {F(Med(s, "rss_peak_mb"), 0)} | {F(Med(s, "db_cpu_s"), 2)} | {F(Med(s, "other_cpu_pct_of_machine"), 0)} |");
            }
            sb.AppendLine();
        }
        foreach (var name in MapScenarioNames)
        {
            var any = configs.Where(c => c!["scenarios"]![name] is not null).ToList();
            if (any.Count == 0)
            {
                continue;
            }
            var n = any[0]!["scenarios"]![name]!;
            sb.AppendLine($"## {name}: one workflow mapping 1,000 echo items (for_each), N = {n["n"]} one after another; median (min–max)");
            sb.AppendLine();
            sb.AppendLine("| Configuration | items/s | workflow P50 ms | success % | engine CPU s |");
            sb.AppendLine("|---|---|---|---|---|");
            foreach (var c in any)
            {
                var s = c!["scenarios"]![name];
                sb.AppendLine($"| {Label(c)} | {Range(s, "steps_s", 0)} | {Range(s, "p50_ms", 0)} | {F(Med(s, "success_rate"), 1)} | {F(Med(s, "cpu_s"), 2)} |");
            }
            sb.AppendLine();
        }
        RatioTable(sb, poll, "the client polls every 50 ms");
        RatioTable(sb, wait, "native waits");
        // Profile.
        var profiled = configs.Where(c => ScenarioNames.Any(n => c!["scenarios"]![n]?["profile"] is not null)).ToList();
        if (profiled.Count > 0)
        {
            sb.AppendLine("## Profile from engine timestamps (Spindle): where a workflow's time goes");
            sb.AppendLine();
            sb.AppendLine("Dispatch = dependency's ActivityCompleted → dependent's ActivityStarted (claimed). Exec = ActivityStarted → " +
                          "ActivityCompleted (claim answer to worker, echo, complete request, complete transaction). Submit = client t0 → " +
                          "WorkflowCreated; detect = WorkflowCompleted → the client's poll that saw it. Means per workflow, except the P50/P99 columns.");
            sb.AppendLine();
            sb.AppendLine("| Configuration | Scenario | dispatch P50 ms | dispatch P99 ms | exec P50 ms | submit→created | created→first claim | critical path: exec Σ | critical path: dispatch Σ | last complete→workflow done | engine total | done→seen by client | client latency | write tx / workflow (measured) |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var c in profiled)
            {
                foreach (var name in ScenarioNames)
                {
                    if (c!["scenarios"]![name]?["profile"] is not JsonObject p)
                    {
                        continue;
                    }
                    string P(string m, string k) => F(p[m]![k]!.GetValue<double>(), 2);
                    sb.AppendLine($"| {Label(c)} | {name} | {P("dispatch_ms", "p50")} | {P("dispatch_ms", "p99")} | {P("exec_ms", "p50")} | " +
                                  $"{P("submit_to_created_ms", "mean")} | {P("first_claim_ms", "mean")} | {P("critical_path_exec_ms", "mean")} | " +
                                  $"{P("critical_path_dispatch_ms", "mean")} | {P("finish_ms", "mean")} | {P("engine_ms", "mean")} | " +
                                  $"{P("terminal_to_seen_ms", "mean")} | {P("client_ms", "mean")} | {F(p["write_tx_per_workflow"]?.GetValue<double>(), 1)} |");
                }
            }
            sb.AppendLine();
        }
        if (doc["solo_profiles"] is JsonArray { Count: > 0 } soloRows)
        {
            sb.AppendLine("### One workflow at a time (Sequential-5, C = 1, waiting read): the engine's own cost per step, without queueing");
            sb.AppendLine();
            sb.AppendLine("| Configuration | workflows | dispatch P50 ms | dispatch P99 ms | claim→complete P50 ms | created→first claim P50 ms | engine total P50 ms | client latency P50 ms |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|");
            foreach (var row in soloRows)
            {
                var p = row!["solo"]!;
                string P(string m, string k) => F(p[m]![k]!.GetValue<double>(), 2);
                sb.AppendLine($"| {S(row["engine"])} · {S(row["variant"])} | {p["workflows"]} | {P("dispatch_ms", "p50")} | {P("dispatch_ms", "p99")} | " +
                              $"{P("exec_ms", "p50")} | {P("first_claim_ms", "p50")} | {P("engine_ms", "p50")} | {P("client_ms", "p50")} |");
            }
            sb.AppendLine();
        }
        // Memory and CPU per configuration.
        if (configs.Count > 0)
        {
            sb.AppendLine("## Peak memory and CPU per configuration (whole run: warm-up + measured passes)");
            sb.AppendLine();
            sb.AppendLine("| Configuration | server VmHWM MB | engine tree VmHWM MB (Σ processes) | engine tree CPU s | DB tree CPU s | how it was set up |");
            sb.AppendLine("|---|---|---|---|---|---|");
            foreach (var c in configs)
            {
                var pm = c!["peak_memory"];
                var cpu = c["cpu_seconds_total"];
                sb.AppendLine($"| {Label(c)} | {F(pm?["engine"]?["root_vmhwm_mb"]?.GetValue<double>(), 0)} | {F(pm?["engine"]?["tree_vmhwm_mb"]?.GetValue<double>(), 0)} | " +
                              $"{F(cpu?["engine"]?.GetValue<double>(), 1)} | {F(cpu?["db"]?.GetValue<double>(), 1)} | {S(c["describe"])} |");
            }
            sb.AppendLine();
        }
        if (doc["ramps"] is JsonArray { Count: > 0 } rampRows)
        {
            Ramp.Markdown(sb, rampRows, doc["extras"]?["pgbench"] as JsonObject);
        }
        if (doc["extras"] is JsonObject extras && extras.Count > 0)
        {
            if (extras["pgbench"] is JsonObject pg)
            {
                sb.AppendLine("## Physical limit: PostgreSQL commit rate (pgbench, one-row UPDATE per transaction)");
                sb.AppendLine();
                sb.AppendLine("| clients | commits/s | ⇒ Sequential-5 wf/s | ⇒ Parallel-10 wf/s | ⇒ High-Concurrency-3 wf/s |");
                sb.AppendLine("|---|---|---|---|---|");
                var tx = pg["tx_per_workflow"]!.AsObject();
                foreach (var row in pg["runs"]!.AsArray())
                {
                    var tps = row!["tps"]!.GetValue<double>();
                    sb.AppendLine($"| {row["clients"]} | {F(tps, 0)} | {F(tps / tx["Sequential-5"]!.GetValue<double>(), 0)} | " +
                                  $"{F(tps / tx["Parallel-10"]!.GetValue<double>(), 0)} | {F(tps / tx["High-Concurrency-3"]!.GetValue<double>(), 0)} |");
                }
                sb.AppendLine();
                sb.AppendLine($"Write transactions per workflow counted from the engine: {tx.ToJsonString()} ({S(pg["tx_note"])}).");
                sb.AppendLine();
            }
            if (extras["skipped"] is JsonArray skipped && skipped.Count > 0)
            {
                sb.AppendLine("## Skipped configurations");
                sb.AppendLine();
                foreach (var s in skipped)
                {
                    sb.AppendLine($"- {S(s)}");
                }
                sb.AppendLine();
            }
            if (extras["noise"] is JsonNode noise)
            {
                sb.AppendLine($"Machine noise: {noise.ToJsonString().Trim('"')}");
                sb.AppendLine();
            }
            if (extras["frozen_idle_cpu_s"] is JsonObject { Count: > 0 } frozen)
            {
                sb.AppendLine("CPU s used by each engine's process tree while frozen for the other engines' turns (the idle cost of keeping it): " +
                              string.Join(", ", frozen.Select(kv => $"{kv.Key} {kv.Value}")) + ".");
                sb.AppendLine();
            }
        }
        return sb.ToString();
    }

    /// <summary>Spindle ÷ the best peer of the same mode, per scenario: the peer with the highest median wf/s, and the
    /// ratio of each round's passes (median, min–max over the rounds both ran).</summary>
    private static void RatioTable(StringBuilder sb, List<JsonNode?> rows, string how)
    {
        var spindle = rows.Where(c => S(c!["engine"]) == "spindle").ToList();
        var peers = rows.Where(c => S(c!["engine"]) != "spindle").ToList();
        if (spindle.Count == 0 || peers.Count == 0)
        {
            return;
        }
        sb.AppendLine($"## Ratios ({how}): Spindle wf/s ÷ best peer wf/s, median (min–max) of the per-round ratios");
        sb.AppendLine();
        sb.AppendLine("| Spindle configuration | " + string.Join(" | ", ScenarioNames) + " |");
        sb.AppendLine("|---|" + string.Concat(ScenarioNames.Select(_ => "---|")));
        foreach (var s in spindle)
        {
            var cells = ScenarioNames.Select(name =>
            {
                var best = peers.Where(p => Med(p!["scenarios"]![name], "throughput_wf_s") is > 0)
                    .MaxBy(p => Med(p!["scenarios"]![name], "throughput_wf_s"));
                var mine = s!["scenarios"]![name]?["throughput_wf_s_by_pass"]?.AsObject();
                var theirs = best?["scenarios"]![name]?["throughput_wf_s_by_pass"]?.AsObject();
                if (best is null || mine is null || theirs is null)
                {
                    return "–";
                }
                var ratios = mine.Where(kv => theirs[kv.Key] is JsonValue b && b.GetValue<double>() > 0)
                    .Select(kv => kv.Value!.GetValue<double>() / theirs[kv.Key]!.GetValue<double>()).ToList();
                if (ratios.Count == 0)
                {
                    return "–";
                }
                string X(double v) => v.ToString("0.00", CultureInfo.InvariantCulture) + "×";
                return $"{X(Stats.Median(ratios))} ({X(ratios.Min())}–{X(ratios.Max())}) vs {Label(best)}";
            });
            sb.AppendLine($"| {Label(s!)} | " + string.Join(" | ", cells) + " |");
        }
        sb.AppendLine();
    }

    private static void HeadlineTable(StringBuilder sb, List<JsonNode?> rows)
    {
        sb.AppendLine("| Configuration | Sequential-5 | Parallel-10 | High-Concurrency-3 | success | server VmHWM MB |");
        sb.AppendLine("|---|---|---|---|---|---|");
        foreach (var c in rows)
        {
            var cells = ScenarioNames.Select(n => Range(c!["scenarios"]![n], "throughput_wf_s"));
            var success = ScenarioNames.Select(n => Med(c!["scenarios"]![n], "success_rate")).Where(v => v is not null).DefaultIfEmpty(null).Min();
            sb.AppendLine($"| {Label(c!)} | {string.Join(" | ", cells)} | {F(success, 0)} % | {F(c!["peak_memory"]?["engine"]?["root_vmhwm_mb"]?.GetValue<double>(), 0)} |");
        }
        sb.AppendLine();
    }
}
