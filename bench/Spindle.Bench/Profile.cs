using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Spindle.Bench;

/// <summary>
/// Where a Spindle workflow's time goes, from the engine's own event timestamps (GET /api/v1/workflows/{id}/events)
/// and the client's clock (same machine, so the clocks agree).
/// </summary>
public static class Profile
{
    private static readonly long AnchorTicks = Stopwatch.GetTimestamp();
    private static readonly DateTimeOffset AnchorUtc = DateTimeOffset.UtcNow;

    public static DateTimeOffset Utc(long stopwatchTicks) => AnchorUtc + Stopwatch.GetElapsedTime(AnchorTicks, stopwatchTicks);

    public sealed class Result
    {
        public List<double> DispatchMs = [];      // dependency completed → dependent claimed (ActivityStarted)
        public List<double> FirstClaimMs = [];    // WorkflowCreated → first root claimed
        public List<double> ExecMs = [];          // ActivityStarted → ActivityCompleted (worker round trip incl. complete tx)
        public List<double> FinishMs = [];        // last ActivityCompleted → WorkflowCompleted
        public List<double> EngineMs = [];        // WorkflowCreated → WorkflowCompleted
        public List<double> SubmitMs = [];        // client t0 → WorkflowCreated
        public List<double> DetectMs = [];        // WorkflowCompleted → client saw the terminal status
        public List<double> ClientMs = [];        // client latency
        // Critical path of each workflow split into segments (means are reported).
        public List<double> PathExecMs = [];
        public List<double> PathDispatchMs = [];
        public int Workflows;
        public int Activities;
        public HashSet<DateTimeOffset> ClaimInstants = [];  // one claim transaction stamps all it claims with one time
    }

    public static async Task<Result> CollectAsync(HttpClient http, ScenarioResult scenario)
    {
        var result = new Result();
        var ok = scenario.Runs.Where(r => r.Success && r.Id is not null).ToList();
        using var gate = new SemaphoreSlim(8);
        var fetched = await Task.WhenAll(ok.Select(async run =>
        {
            await gate.WaitAsync();
            try
            {
                var text = await http.GetStringAsync($"api/v1/workflows/{run.Id}/events?limit=1000");
                return (run, JsonNode.Parse(text)!["events"]!.AsArray());
            }
            catch (HttpRequestException)
            {
                return (run, (JsonArray?)null);
            }
            finally
            {
                gate.Release();
            }
        }));
        var deps = scenario.Scenario.DependsOn;
        foreach (var (run, events) in fetched)
        {
            if (events is null)
            {
                continue;
            }
            DateTimeOffset? created = null, finished = null;
            var started = new Dictionary<string, DateTimeOffset>();
            var completed = new Dictionary<string, DateTimeOffset>();
            foreach (var e in events)
            {
                var type = e!["event_type"]!.GetValue<string>();
                var key = e["activity_key"]?.GetValue<string>();
                var ts = Runner.ParseTime(e["timestamp"])!.Value;
                switch (type)
                {
                    case "WorkflowCreated": created = ts; break;
                    case "WorkflowCompleted": finished = ts; break;
                    case "ActivityStarted" when key is not null: started.TryAdd(key, ts); result.Activities++; break;
                    case "ActivityCompleted" when key is not null: completed[key] = ts; break;
                }
            }
            // A claim stamped with the instant of one of the workflow's completions was made by that completion's
            // transaction (claim-next), and one stamped with its creation by the submit's (handed to a waiting poll),
            // not by a claim transaction of its own.
            var completionInstants = completed.Values.ToHashSet();
            if (created is not null)
            {
                completionInstants.Add(created.Value);
            }
            result.ClaimInstants.UnionWith(started.Values.Where(ts => !completionInstants.Contains(ts)));
            if (created is null || finished is null)
            {
                continue;
            }
            result.Workflows++;
            result.EngineMs.Add(Ms(created.Value, finished.Value));
            result.SubmitMs.Add(Ms(Utc(run.T0), created.Value));
            result.DetectMs.Add(Ms(finished.Value, Utc(run.DoneAt)));
            result.ClientMs.Add(run.LatencyMs);
            var roots = deps.Where(kv => kv.Value.Length == 0 && started.ContainsKey(kv.Key)).Select(kv => started[kv.Key]).ToList();
            if (roots.Count > 0)
            {
                result.FirstClaimMs.Add(Ms(created.Value, roots.Min()));
            }
            foreach (var (key, ds) in deps)
            {
                if (started.TryGetValue(key, out var s) && completed.TryGetValue(key, out var c))
                {
                    result.ExecMs.Add(Ms(s, c));
                }
                if (ds.Length > 0 && started.TryGetValue(key, out var s2) && ds.All(completed.ContainsKey))
                {
                    result.DispatchMs.Add(Ms(ds.Max(d => completed[d]), s2));
                }
            }
            if (completed.Count > 0)
            {
                result.FinishMs.Add(Ms(completed.Values.Max(), finished.Value));
                // Walk the critical path back from the activity that completed last.
                var key = completed.MaxBy(kv => kv.Value).Key;
                double exec = 0, dispatch = 0;
                while (true)
                {
                    if (!started.TryGetValue(key, out var s) || !completed.TryGetValue(key, out var c))
                    {
                        break;
                    }
                    exec += Ms(s, c);
                    var ds = deps[key];
                    if (ds.Length == 0 || !ds.All(completed.ContainsKey))
                    {
                        break;
                    }
                    var prev = ds.MaxBy(d => completed[d])!;
                    dispatch += Ms(completed[prev], s);
                    key = prev;
                }
                result.PathExecMs.Add(exec);
                result.PathDispatchMs.Add(dispatch);
            }
        }
        return result;
    }

    private static double Ms(DateTimeOffset from, DateTimeOffset to) => (to - from).TotalMilliseconds;

    public static JsonObject ToJson(Result r)
    {
        JsonObject Dist(List<double> xs) => new()
        {
            ["n"] = xs.Count,
            ["mean"] = Stats.Round(xs.Count == 0 ? 0 : xs.Average()),
            ["p50"] = Stats.Round(Stats.Percentile(xs, 0.50)),
            ["p95"] = Stats.Round(Stats.Percentile(xs, 0.95)),
            ["p99"] = Stats.Round(Stats.Percentile(xs, 0.99)),
            ["max"] = Stats.Round(xs.Count == 0 ? 0 : xs.Max()),
        };
        var claimsPerWorkflow = r.Workflows == 0 ? 0 : (double)r.ClaimInstants.Count / r.Workflows;
        var stepsPerWorkflow = r.Workflows == 0 ? 0 : (double)r.Activities / r.Workflows;
        return new JsonObject
        {
            ["workflows"] = r.Workflows,
            // Write transactions per workflow: 1 submit + the claims (distinct ActivityStarted instants) + 1 complete per step.
            ["claim_tx_per_workflow"] = Stats.Round(claimsPerWorkflow),
            ["write_tx_per_workflow"] = Stats.Round(1 + claimsPerWorkflow + stepsPerWorkflow),
            ["dispatch_ms"] = Dist(r.DispatchMs),
            ["first_claim_ms"] = Dist(r.FirstClaimMs),
            ["exec_ms"] = Dist(r.ExecMs),
            ["finish_ms"] = Dist(r.FinishMs),
            ["engine_ms"] = Dist(r.EngineMs),
            ["submit_to_created_ms"] = Dist(r.SubmitMs),
            ["terminal_to_seen_ms"] = Dist(r.DetectMs),
            ["client_ms"] = Dist(r.ClientMs),
            ["critical_path_exec_ms"] = Dist(r.PathExecMs),
            ["critical_path_dispatch_ms"] = Dist(r.PathDispatchMs),
        };
    }
}

public static class Stats
{
    /// <summary>Percentiles (BENCHMARKS.md, How it is measured): sort, take the element at floor(n × p), capped at n − 1.</summary>
    public static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.OrderBy(v => v).ToList();
        if (sorted.Count == 0)
        {
            return 0;
        }
        var i = Math.Min((int)Math.Floor(sorted.Count * p), sorted.Count - 1);
        return sorted[i];
    }

    public static double Median(IEnumerable<double> values)
    {
        var s = values.OrderBy(v => v).ToList();
        if (s.Count == 0)
        {
            return 0;
        }
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    public static double Round(double v, int digits = 2) => Math.Round(v, digits, MidpointRounding.AwayFromZero);
}
