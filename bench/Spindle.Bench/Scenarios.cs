using System.Text;

namespace Spindle.Bench;

/// <summary>The three scenarios of BENCHMARKS.md (Scenarios), their definitions and dependency graphs.</summary>
public sealed record Scenario(string Name, string DefinitionName, int N, int C, int Steps,
    IReadOnlyDictionary<string, string[]> DependsOn)
{
    public string[] Roots => DependsOn.Where(kv => kv.Value.Length == 0).Select(kv => kv.Key).ToArray();

    public static IReadOnlyList<Scenario> All(double scale = 1.0, int? inFlight = null)
    {
        int Scale(int n) => Math.Max(1, (int)Math.Round(n * scale));
        return
        [
            new("Sequential-5", "sequential_bench_5", Scale(100), inFlight ?? 10, 5, Chain(5)),
            new("Parallel-10", "parallel_bench_10", Scale(50), inFlight ?? 10, 12, Fan(10)),
            new("High-Concurrency-3", "sequential_bench_3", Scale(300), inFlight ?? 100, 3, Chain(3)),
            // Spindle only: one workflow whose single activity maps over 1,000 items (for_each); steps/s is items/s.
            new("Map-1000", "map_bench_1000", Scale(3), 1, MapItems, new Dictionary<string, string[]> { ["map"] = [] }),
        ];
    }

    /// <summary>The open-loop ramp's workflow (Ramp.cs): a 3-step chain, the definition High-Concurrency-3 runs; N and C
    /// are not used there (arrivals are Poisson at the step's rate, nothing caps the workflows in flight).</summary>
    public static Scenario Chain3 { get; } = new("Chain-3", "sequential_bench_3", 0, 0, 3, Chain(3));

    /// <summary>Items of the Map-1000 scenario's map.</summary>
    public const int MapItems = 1000;

    private static Dictionary<string, string[]> Chain(int n)
    {
        var d = new Dictionary<string, string[]>();
        for (var i = 0; i < n; i++)
        {
            d[$"activity_{i}"] = i == 0 ? [] : [$"activity_{i - 1}"];
        }
        return d;
    }

    private static Dictionary<string, string[]> Fan(int n)
    {
        var d = new Dictionary<string, string[]> { ["start"] = [] };
        for (var i = 0; i < n; i++)
        {
            d[$"parallel_{i}"] = ["start"];
        }
        d["end"] = Enumerable.Range(0, n).Select(i => $"parallel_{i}").ToArray();
        return d;
    }

    /// <summary>The YAML of every definition, for one step variant ("" = built-in echo, "_py-std" = Python script).</summary>
    public static IEnumerable<(string Name, string Yaml)> Definitions(string suffix)
    {
        var step = suffix == "_py-std"
            ? "worker: py-std, activity_name: script, parameters: {script: \"OUTPUT = INPUT\", inputs: {}}"
            : "worker: std, activity_name: echo, parameters: {}";
        foreach (var n in new[] { 5, 3 })
        {
            var sb = new StringBuilder();
            sb.Append($"name: sequential_bench_{n}{suffix}\nactivities:\n");
            for (var i = 0; i < n; i++)
            {
                // Chains are written with dependency_of: each step names the next one.
                var next = i < n - 1 ? $", dependency_of: [activity_{i + 1}]" : "";
                sb.Append($"  - {{key: activity_{i}, {step}{next}}}\n");
            }
            yield return ($"sequential_bench_{n}{suffix}", sb.ToString());
        }
        {
            var parallel = string.Join(", ", Enumerable.Range(0, 10).Select(i => $"parallel_{i}"));
            var sb = new StringBuilder();
            sb.Append($"name: parallel_bench_10{suffix}\nactivities:\n");
            // The parallel graph declares every edge twice: once in depends_on and once in dependency_of.
            sb.Append($"  - {{key: start, {step}, dependency_of: [{parallel}]}}\n");
            for (var i = 0; i < 10; i++)
            {
                sb.Append($"  - {{key: parallel_{i}, {step}, depends_on: [start], dependency_of: [end]}}\n");
            }
            sb.Append($"  - {{key: end, {step}, depends_on: [{parallel}]}}\n");
            yield return ($"parallel_bench_10{suffix}", sb.ToString());
        }
        yield return ($"map_bench_1000{suffix}",
            $"name: map_bench_1000{suffix}\nactivities:\n  - {{key: map, for_each: \"{{{{range({MapItems}) | list}}}}\", {step}}}\n");
    }
}
