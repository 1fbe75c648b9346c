using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Bench;

/// <summary>
/// <c>spindle-bench trace</c>: the dispatch trace of Parallel-10 (docs/performance-notes.md, "Dispatch trace"). Runs
/// the scenario, then follows every branch (and the join) from its parent's completion to its handler starting, from
/// the engine's events and, when the server ran with <c>SPINDLE_TRACE_DISPATCH=1</c>, its timing record:
/// parent's completion stamped → committed → branch claimed (by whom) → answer sent → received by the worker → started.
/// Without the record (an older build) only the events' part is shown: completion → claim and whether the claim was
/// the completing transaction's own (claim-next) or another claim statement.
/// </summary>
public static class DispatchTraceCommand
{
    private sealed class Hops
    {
        public string? Id;
        public string? Via;
        public DateTimeOffset? ClaimFrom;
        public DateTimeOffset? Claim;
        public DateTimeOffset? Answer;
        public DateTimeOffset? Receive;
        public DateTimeOffset? Start;
        public DateTimeOffset? Committed; // this activity's own completion returned from the store (after commit)
    }

    private sealed class Sample
    {
        public required string Kind; // "branch" or "join"
        public required string Via;
        public required double Dispatch; // parent's ActivityCompleted → ActivityStarted (events)
        public double? Commit, ToClaimStart, ClaimStatement, ReadyToClaim, ClaimToAnswer, AnswerToReceive, ReceiveToStart, Total;
        public bool LastOfWorkflow;
    }

    public static async Task<int> RunAsync(Options o)
    {
        var url = o.Required("url");
        var n = int.Parse(o.Get("n") ?? "50", CultureInfo.InvariantCulture);
        var c = int.Parse(o.Get("c") ?? "10", CultureInfo.InvariantCulture);
        var passes = int.Parse(o.Get("passes") ?? "2", CultureInfo.InvariantCulture);
        var warmups = int.Parse(o.Get("warmups") ?? "1", CultureInfo.InvariantCulture);
        var label = o.Get("label") ?? url;
        var parallel = Scenario.All().Single(s => s.Name == "Parallel-10");
        var scenario = parallel with { N = n, C = c };
        using var http = Runner.NewClient(url, o.Get("token"));
        if (o.Has("deploy"))
        {
            await Runner.DeployAsync(http, "");
        }
        var runner = new Runner(http, WaitMode.Poll, "");
        var measured = new List<WorkflowRun>();
        var rates = new List<double>();
        for (var pass = 0; pass < warmups + passes; pass++)
        {
            var r = await runner.RunAsync(scenario);
            if (pass >= warmups)
            {
                measured.AddRange(r.Runs.Where(x => x.Success && x.Id is not null));
                rates.Add(scenario.N / r.DurationS);
            }
        }
        await Task.Delay(500); // the server flushes its record every 100 ms
        var traced = ReadRecord(o.Get("trace-file"));
        var samples = new List<Sample>();
        foreach (var run in measured)
        {
            var text = await http.GetStringAsync($"api/v1/workflows/{run.Id}/events?limit=1000");
            Collect(run.Id!, JsonNode.Parse(text)!["events"]!.AsArray(), traced, scenario, samples);
        }
        var output = Render(label, rates, measured.Count, traced.Count > 0, samples);
        Console.Write(output);
        if (o.Get("out") is { } file)
        {
            await File.AppendAllTextAsync(file, output);
        }
        if (o.Get("json") is { } jsonFile)
        {
            await File.WriteAllTextAsync(jsonFile, ToJson(label, rates, samples).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        return measured.Count == scenario.N * passes ? 0 : 3;
    }

    /// <summary>The server's timing record, by (workflow, activity key); activities are named in it by their claims.</summary>
    private static Dictionary<(string Wf, string Key), Hops> ReadRecord(string? path)
    {
        var byKey = new Dictionary<(string, string), Hops>();
        if (path is null || !File.Exists(path))
        {
            return byKey;
        }
        var byId = new Dictionary<string, Hops>(StringComparer.Ordinal);
        Hops For(string id) => byId.TryGetValue(id, out var h) ? h : byId[id] = new Hops { Id = id };
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            JsonNode? node;
            try
            {
                node = JsonNode.Parse(line);
            }
            catch (JsonException)
            {
                continue; // a line cut by a flush in progress
            }
            var hop = node?["hop"]?.GetValue<string>();
            var id = node?["id"]?.GetValue<string>();
            if (hop is null || string.IsNullOrEmpty(id))
            {
                continue;
            }
            var t = Runner.ParseTime(node!["t"]);
            var h = For(id);
            switch (hop)
            {
                case "claim" when h.Claim is null:
                    h.Via = node["via"]?.GetValue<string>();
                    h.Claim = t;
                    h.ClaimFrom = Runner.ParseTime(node["t0"]);
                    if (node["wf"]?.GetValue<string>() is { } wf && node["key"]?.GetValue<string>() is { } key)
                    {
                        byKey.TryAdd((wf, key), h);
                    }
                    break;
                case "answer": h.Answer ??= t; break;
                case "receive": h.Receive ??= t; break;
                case "start": h.Start ??= t; break;
                case "complete": h.Committed ??= t; break;
            }
        }
        return byKey;
    }

    private static void Collect(string workflowId, JsonArray events, Dictionary<(string, string), Hops> traced, Scenario scenario,
        List<Sample> samples)
    {
        var started = new Dictionary<string, DateTimeOffset>();
        var completed = new Dictionary<string, DateTimeOffset>();
        foreach (var e in events)
        {
            var type = e!["event_type"]!.GetValue<string>();
            var key = e["activity_key"]?.GetValue<string>();
            var ts = Runner.ParseTime(e["timestamp"])!.Value;
            if (key is null)
            {
                continue;
            }
            if (type == "ActivityStarted")
            {
                started.TryAdd(key, ts);
            }
            else if (type == "ActivityCompleted")
            {
                completed[key] = ts;
            }
        }
        var mine = new List<Sample>();
        Sample? last = null;
        DateTimeOffset lastStart = default;
        foreach (var (key, deps) in scenario.DependsOn)
        {
            if (deps.Length == 0 || !started.TryGetValue(key, out var claimedAt) || !deps.All(completed.ContainsKey))
            {
                continue;
            }
            var parentKey = deps.MaxBy(d => completed[d])!;
            var parentDone = completed[parentKey];
            traced.TryGetValue((workflowId, key), out var h);
            traced.TryGetValue((workflowId, parentKey), out var parent);
            var sameTx = claimedAt == parentDone;
            var s = new Sample
            {
                Kind = deps.Length > 1 ? "join" : "branch",
                Via = h?.Via ?? (sameTx ? "claim_next" : "claim statement"),
                Dispatch = Ms(parentDone, claimedAt),
            };
            if (h is not null)
            {
                var committed = parent?.Committed;
                s.Commit = Ms(parentDone, committed);
                // Claimed inside the parent's own transaction: ready and claimed at one instant.
                s.ReadyToClaim = h.Via == "claim_next" ? 0 : Ms(committed, h.Claim);
                s.ToClaimStart = h.ClaimFrom is null ? null : Ms(committed, h.ClaimFrom);
                s.ClaimStatement = Ms(h.ClaimFrom, h.Claim);
                s.ClaimToAnswer = Ms(h.Claim, h.Answer);
                s.AnswerToReceive = Ms(h.Answer, h.Receive);
                s.ReceiveToStart = Ms(h.Receive, h.Start);
                s.Total = Ms(parentDone, h.Start);
            }
            mine.Add(s);
            var end = h?.Start ?? claimedAt;
            if (s.Kind == "branch" && (last is null || end > lastStart))
            {
                (last, lastStart) = (s, end);
            }
        }
        last?.LastOfWorkflow = true;
        samples.AddRange(mine);
    }

    private static double Ms(DateTimeOffset from, DateTimeOffset to) => (to - from).TotalMilliseconds;

    private static double? Ms(DateTimeOffset? from, DateTimeOffset? to) =>
        from is { } f && to is { } t ? (t - f).TotalMilliseconds : null;

    private static readonly (string Name, Func<Sample, double?> Get)[] Columns =
    [
        ("completion → commit", s => s.Commit),
        ("commit → claim started", s => s.ToClaimStart),
        ("claim statement", s => s.ClaimStatement),
        ("commit → claimed", s => s.ReadyToClaim),
        ("claimed → answer sent", s => s.ClaimToAnswer),
        ("answer → worker got it", s => s.AnswerToReceive),
        ("got it → started", s => s.ReceiveToStart),
        ("completion → started", s => s.Total),
        ("dispatch (events)", s => s.Dispatch),
    ];

    private static string Render(string label, List<double> rates, int workflows, bool traced, List<Sample> samples)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"\n### Dispatch trace: {label}\n\n");
        sb.Append(CultureInfo.InvariantCulture,
            $"Parallel-10, {workflows} workflows, {string.Join(" / ", rates.Select(r => r.ToString("F1", CultureInfo.InvariantCulture)))} wf/s per pass, loadavg {Load()}; ");
        sb.Append(traced ? "engine events + SPINDLE_TRACE_DISPATCH record.\n\n" : "engine events only (no timing record from this build).\n\n");
        sb.Append("P50 / P95 ms per hop; \"by\" = which request claimed it (claim_next: the parent's completing transaction; ");
        sb.Append("handout: a claim run right after the parent's commit for a waiting poll; poll_woken: a long-poll woken by the commit; ");
        sb.Append("poll_fresh: the first claim of a new poll; submit: handed over by the submit).\n\n");
        sb.Append("| step | by | count | share |");
        foreach (var (name, _) in Columns)
        {
            sb.Append(' ').Append(name).Append(" |");
        }
        sb.Append('\n').Append("|---|---|---|---|").Append(string.Concat(Enumerable.Repeat("---|", Columns.Length))).Append('\n');
        void Row(string step, string by, List<Sample> rows, int of)
        {
            if (rows.Count == 0)
            {
                return;
            }
            sb.Append(CultureInfo.InvariantCulture, $"| {step} | {by} | {rows.Count} | {100.0 * rows.Count / Math.Max(1, of):F0} % |");
            foreach (var (_, get) in Columns)
            {
                var xs = rows.Select(get).Where(v => v is not null).Select(v => v!.Value).ToList();
                sb.Append(xs.Count == 0 ? " – |" : FormattableString.Invariant($" {Stats.Percentile(xs, 0.5):F2} / {Stats.Percentile(xs, 0.95):F2} |"));
            }
            sb.Append('\n');
        }
        foreach (var (step, pick) in new (string, Func<Sample, bool>)[]
        {
            ("branch", s => s.Kind == "branch"),
            ("last branch", s => s.LastOfWorkflow),
            ("join", s => s.Kind == "join"),
        })
        {
            var rows = samples.Where(pick).ToList();
            Row(step, "all", rows, rows.Count);
            foreach (var g in rows.GroupBy(s => s.Via).OrderByDescending(g => g.Count()))
            {
                Row(step, g.Key, g.ToList(), rows.Count);
            }
        }
        return sb.ToString();
    }

    private static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";

    private static JsonObject ToJson(string label, List<double> rates, List<Sample> samples)
    {
        var rows = new JsonArray();
        foreach (var s in samples)
        {
            var row = new JsonObject { ["kind"] = s.Kind, ["via"] = s.Via, ["last"] = s.LastOfWorkflow };
            foreach (var (name, get) in Columns)
            {
                row[name] = get(s) is { } v ? Stats.Round(v, 3) : null;
            }
            rows.Add(row);
        }
        return new JsonObject
        {
            ["label"] = label,
            ["throughput_wf_s"] = new JsonArray(rates.Select(r => (JsonNode)Stats.Round(r)).ToArray()),
            ["samples"] = rows,
        };
    }
}
