using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Bench;

/// <summary>
/// Open-loop capacity ramp (BENCHMARKS.md, How it is measured): Chain-3 workflows arrive as a Poisson process at a
/// rate that rises step by step (start × factor per step); each is followed to its end with the native waiting read.
/// A step is sustained when every workflow that arrived in it completed and their P99 end-to-end latency (from the
/// scheduled arrival, so a late submit counts) stayed within the limit; the ramp stops at the first step that is not.
/// A failed step is repeated once at the same rate (--confirm N: N times) before the ramp stops, so one burst of
/// outside load does not end it. Between steps the driver lets the step's workflows finish, so each step starts
/// from an idle engine.
/// </summary>
public static class Ramp
{
    public static async Task<int> RunAsync(Options o)
    {
        var url = o.Required("url");
        var engine = o.Required("engine");
        var variant = o.Required("variant");
        var outDir = o.Required("out-dir");
        var start = D(o, "start", 50);
        var factor = D(o, "factor", 1.4);
        var stepSeconds = D(o, "step-seconds", 20);
        var p99Limit = D(o, "p99-limit-ms", 1000);
        var maxSteps = (int)D(o, "max-steps", 20);
        var maxInFlight = (int)D(o, "max-in-flight", 5000);
        var seed = (int)D(o, "seed", 1);
        var groups = Program.ProcGroups(o);
        Directory.CreateDirectory(outDir);

        using var http = Runner.NewClient(url, o.Get("token"));
        if (o.Has("deploy"))
        {
            await Runner.DeployAsync(http, "");
        }
        var runner = new Runner(http, WaitMode.Wait, "");
        // A few unrecorded closed-loop workflows first: the engine may have just started (--ramp-only) or been thawed.
        foreach (var scenario in Scenario.All(0.1).Where(x => !x.Name.StartsWith("Map-", StringComparison.Ordinal)))
        {
            await runner.RunAsync(scenario);
        }
        await using var sampler = new ProcSampler(groups);
        var rng = new Random(seed);
        var steps = new JsonArray();
        double? sustained = null;
        string? stop = null;
        var rate = start;
        var confirms = (int)D(o, "confirm", 1);
        var failedAtRate = 0;
        for (var i = 0; i < maxSteps && stop is null; i++)
        {
            sampler.Begin();
            var (runs, lagP99Ms) = await StepAsync(runner, rng, rate, stepSeconds, maxInFlight);
            var res = sampler.End();
            var ok = runs.Where(r => r.Success).Select(r => r.LatencyMs).ToList();
            var errors = runs.Count - ok.Count;
            var p99 = Stats.Percentile(ok, 0.99);
            var step = new JsonObject
            {
                ["rate_wf_s"] = Stats.Round(rate, 1),
                ["arrivals"] = runs.Count,
                ["offered_wf_s"] = Stats.Round(runs.Count / stepSeconds, 1),
                ["completed"] = ok.Count,
                ["errors"] = errors,
                ["p50_ms"] = Stats.Round(Stats.Percentile(ok, 0.50), 1),
                ["p95_ms"] = Stats.Round(Stats.Percentile(ok, 0.95), 1),
                ["p99_ms"] = Stats.Round(p99, 1),
                ["max_ms"] = Stats.Round(ok.Count == 0 ? 0 : ok.Max(), 1),
                ["driver_lag_p99_ms"] = Stats.Round(lagP99Ms, 1),
            };
            foreach (var (name, g) in res)
            {
                var prefix = name == "engine" ? "" : name + "_";
                step[prefix + "cpu_avg_pct"] = Stats.Round(g.CpuAvgPct, 1);
            }
            steps.Add(step);
            var firstError = runs.FirstOrDefault(r => !r.Success);
            Console.Error.WriteLine(FormattableString.Invariant(
                $"  {engine}/{variant}/ramp {rate:F0} wf/s: {runs.Count} arrivals, {ok.Count} ok, p50 {step["p50_ms"]} ms, p99 {p99:F0} ms, driver lag p99 {lagP99Ms:F1} ms"));
            string? failure = null;
            if (errors > 0)
            {
                failure = FormattableString.Invariant($"{errors} of {runs.Count} workflows failed at {rate:F0} wf/s (first: {firstError!.Status} {firstError.Error})");
            }
            else if (ok.Count == 0 || p99 > p99Limit)
            {
                failure = FormattableString.Invariant($"P99 {p99:F0} ms > {p99Limit:F0} ms at {rate:F0} wf/s");
            }
            step["sustained"] = failure is null;
            if (failure is null)
            {
                sustained = rate;
                failedAtRate = 0;
                rate *= factor;
            }
            else if (++failedAtRate > confirms)
            {
                stop = failure;
            }
            // else: the same rate once more, so one burst of outside load does not end the ramp.
        }
        stop ??= FormattableString.Invariant($"stopped after {maxSteps} steps without reaching the limit");
        var doc = new JsonObject
        {
            ["engine"] = engine,
            ["variant"] = variant,
            ["mode"] = "wait",
            ["describe"] = o.Get("describe"),
            ["started_at"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["ramp"] = new JsonObject
            {
                ["scenario"] = Scenario.Chain3.Name,
                ["steps_per_workflow"] = Scenario.Chain3.Steps,
                ["start_wf_s"] = start,
                ["factor"] = factor,
                ["step_seconds"] = stepSeconds,
                ["p99_limit_ms"] = p99Limit,
                ["confirm"] = confirms,
                ["last_sustained_wf_s"] = sustained is null ? null : Stats.Round(sustained.Value, 1),
                ["last_sustained_steps_s"] = sustained is null ? null : Stats.Round(sustained.Value * Scenario.Chain3.Steps, 0),
                ["stop_reason"] = stop,
                ["steps"] = steps,
            },
        };
        await File.WriteAllTextAsync(Path.Combine(outDir, $"ramp-{engine}-{variant}.json"),
            doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Console.Error.WriteLine(FormattableString.Invariant(
            $"  {engine}/{variant}/ramp: last sustained {(sustained is null ? "none" : sustained.Value.ToString("F0", CultureInfo.InvariantCulture))} wf/s; {stop}"));
        return 0;
    }

    /// <summary>One step: Poisson arrivals at <paramref name="rate"/> for <paramref name="seconds"/>, then waits until
    /// every workflow of the step has ended (or given up). Returns the runs and the P99 of how late the driver
    /// launched arrivals (a large lag means the driver, not the engine, was the limit).</summary>
    private static async Task<(List<WorkflowRun> Runs, double LagP99Ms)> StepAsync(Runner runner, Random rng, double rate, double seconds, int maxInFlight)
    {
        var runs = new List<WorkflowRun>();
        var tasks = new List<Task>();
        var lags = new List<double>();
        var inFlight = 0;
        var begin = Stopwatch.GetTimestamp();
        var t = 0.0;
        while (true)
        {
            t += -Math.Log(1 - rng.NextDouble()) / rate;
            if (t >= seconds)
            {
                break;
            }
            var due = begin + (long)(t * Stopwatch.Frequency);
            var ahead = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (ahead > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(ahead);
            }
            lags.Add(Math.Max(0, Stopwatch.GetElapsedTime(due).TotalMilliseconds));
            var run = new WorkflowRun { T0 = due };
            runs.Add(run);
            if (Volatile.Read(ref inFlight) >= maxInFlight)
            {
                run.Status = "overload";
                run.Error = $"more than {maxInFlight} workflows in flight";
                continue;
            }
            Interlocked.Increment(ref inFlight);
            tasks.Add(Task.Run(async () =>
            {
                try
                {
                    await runner.OneAsync(Scenario.Chain3, run);
                }
                finally
                {
                    Interlocked.Decrement(ref inFlight);
                }
            }));
        }
        await Task.WhenAll(tasks);
        return (runs, Stats.Percentile(lags, 0.99));
    }

    /// <summary>The ramp's section of the results page: one summary row per configuration, the pgbench ceiling of the
    /// same run next to it, then every step.</summary>
    public static void Markdown(System.Text.StringBuilder sb, JsonArray ramps, JsonObject? pgbench)
    {
        var first = ramps[0]!["ramp"]!;
        sb.AppendLine(FormattableString.Invariant(
            $"## Open-loop capacity ramp: Chain-3 (3-step chain), Poisson arrivals from {first["start_wf_s"]} wf/s, ×{first["factor"]} every {first["step_seconds"]} s, native waits"));
        sb.AppendLine();
        sb.AppendLine(FormattableString.Invariant(
            $"A step is sustained when every workflow that arrived in it completed with P99 end-to-end latency (scheduled arrival → end seen) ≤ {first["p99_limit_ms"]} ms; a step that is not is run again at the same rate ({first["confirm"]} time(s)), and the ramp stops when it fails again. Each step's workflows finish before the next step starts."));
        sb.AppendLine();
        sb.AppendLine("| Configuration | last sustained wf/s | steps/s | P99 there ms | engine CPU there % | stopped because |");
        sb.AppendLine("|---|---|---|---|---|---|");
        foreach (var r in ramps)
        {
            var ramp = r!["ramp"]!;
            var last = ramp["last_sustained_wf_s"]?.GetValue<double>();
            var at = last is null ? null : ramp["steps"]!.AsArray().LastOrDefault(x => x!["rate_wf_s"]!.GetValue<double>() == last);
            sb.AppendLine($"| {Report.S(r["engine"])} · {Report.S(r["variant"])} | {Report.F(last, 0)} | {Report.F(ramp["last_sustained_steps_s"]?.GetValue<double>(), 0)} | " +
                          $"{Report.F(at?["p99_ms"]?.GetValue<double>(), 0)} | {Report.F(at?["cpu_avg_pct"]?.GetValue<double>(), 0)} | {Report.S(ramp["stop_reason"])} |");
        }
        if (pgbench?["runs"] is JsonArray runs && runs.Count > 0)
        {
            var top = runs.MaxBy(x => x!["tps"]!.GetValue<double>())!;
            var tps = top["tps"]!.GetValue<double>();
            var tx = pgbench["tx_per_workflow"]?["High-Concurrency-3"]?.GetValue<double>() ?? 4;
            sb.AppendLine(FormattableString.Invariant(
                $"| physical limit: pgbench one-row UPDATE, {top["clients"]} clients, {tps:F0} commits/s ÷ {tx} write tx per Chain-3 workflow | {tps / tx:F0} | {tps / tx * 3:F0} | – | – | – |"));
        }
        sb.AppendLine();
        sb.AppendLine("| Configuration | rate wf/s | sustained | arrivals | completed | errors | P50 ms | P99 ms | max ms | engine CPU % | DB CPU % | driver lag P99 ms |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in ramps)
        {
            foreach (var st in r!["ramp"]!["steps"]!.AsArray())
            {
                double? V(string k) => st![k]?.GetValue<double>();
                sb.AppendLine($"| {Report.S(r["engine"])} · {Report.S(r["variant"])} | {Report.F(V("rate_wf_s"), 0)} | {(st!["sustained"]?.GetValue<bool>() == true ? "yes" : "no")} | {st["arrivals"]} | {st["completed"]} | {st["errors"]} | " +
                              $"{Report.F(V("p50_ms"), 0)} | {Report.F(V("p99_ms"), 0)} | {Report.F(V("max_ms"), 0)} | {Report.F(V("cpu_avg_pct"), 0)} | {Report.F(V("db_cpu_avg_pct"), 0)} | {Report.F(V("driver_lag_p99_ms"), 1)} |");
            }
        }
        sb.AppendLine();
    }

    private static double D(Options o, string key, double fallback) =>
        o.Get(key) is { } v ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
}
