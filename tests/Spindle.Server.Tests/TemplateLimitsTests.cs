using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Spindle.TestSupport;
using Xunit.Abstractions;

namespace Spindle.Server.Tests;

/// <summary>Measures latency and memory, so it runs alone (no other test collection in parallel).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class IsolatedServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "isolated-server";
}

/// <summary>
/// Templates run inside the store's write transaction: a runaway template must fail its activity at once with
/// TEMPLATE_LIMIT_EXCEEDED instead of holding up every other submit, and must not allocate what it asks for.
/// </summary>
[Collection(IsolatedServerCollection.Name)]
public sealed class TemplateLimitsTests(ServerFixture server, ITestOutputHelper output)
{
    private static string Unique(string prefix) => prefix + "_" + Guid.NewGuid().ToString("N")[..8];

    private static string Yaml(string name, string text) =>
        $"name: {name}\nactivities:\n  - {{key: a, worker: {name}, activity_name: echo, parameters: {{text: \"{text}\"}}}}\n";

    [Fact]
    public async Task Submit_RunawayLoop_FailsFastWithoutDelayingOtherSubmits()
    {
        var good = Unique("good");
        var billion = Unique("billion");
        var nested = Unique("nested");
        await server.DeployAsync(Yaml(good, "{{ INPUT.n }}"));
        await server.DeployAsync(Yaml(billion, "{% for i in range(1000000000) %}x{% endfor %}"));
        // 300^3 iterations: runs into the step limit while looping rather than at range().
        await server.DeployAsync(Yaml(nested,
            "{% for i in range(300) %}{% for j in range(300) %}{% for k in range(300) %}{{ k }}{% endfor %}{% endfor %}{% endfor %}"));

        for (var i = 0; i < 5; i++)
        {
            await TimedSubmitAsync(good);
            await TimedSubmitAsync(i % 2 == 0 ? billion : nested);
        }
        var baseline = new List<double>();
        for (var i = 0; i < 15; i++) baseline.Add((await TimedSubmitAsync(good)).Millis);

        var badIds = new List<string>();
        var badMillis = new List<double>();
        var bad = Task.Run(async () =>
        {
            for (var i = 0; i < 20; i++)
            {
                var (id, millis) = await TimedSubmitAsync(i % 2 == 0 ? billion : nested);
                badIds.Add(id);
                badMillis.Add(millis);
            }
        });
        var during = new List<double>();
        while (!bad.IsCompleted || during.Count < 15) during.Add((await TimedSubmitAsync(good)).Millis);
        await bad;

        output.WriteLine($"good submit ms, alone: median {Median(baseline):F1} max {baseline.Max():F1}; " +
                         $"beside runaway templates: median {Median(during):F1} max {during.Max():F1} (n={during.Count}); " +
                         $"runaway submits: median {Median(badMillis):F1} max {badMillis.Max():F1}");
        output.WriteLine("runaway: " + string.Join(" ", badMillis.Select(m => m.ToString("F0", System.Globalization.CultureInfo.InvariantCulture))));
        output.WriteLine("during: " + string.Join(" ", during.Select(m => m.ToString("F0", System.Globalization.CultureInfo.InvariantCulture))));
        foreach (var id in badIds)
        {
            var (_, wf) = await server.GetAsync($"/api/v1/workflows/{id}");
            Assert.Equal("failed", wf["status"]!.GetValue<string>());
            var error = wf["activities"]![0]!["error_detail"]!;
            Assert.Equal("TEMPLATE_LIMIT_EXCEEDED", error["code"]!.GetValue<string>());
            Assert.StartsWith("activity 'a', parameters.text: template limit exceeded: the evaluation needs more than 100000 steps",
                error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        }
        // Generous margins, compared by median so that a loaded machine's stray pause does not decide: before the
        // limit, one such submit held the write lock for 44 s. (A Release build fails the runaway loop in ~1-2 ms.)
        Assert.True(badMillis.Max() < 2_000, $"a runaway template took {badMillis.Max():F0} ms to fail");
        Assert.True(Median(badMillis) < 500, $"runaway templates took {Median(badMillis):F0} ms (median) to fail");
        Assert.True(Median(during) - Median(baseline) < 100, $"submits slowed from {Median(baseline):F1} to {Median(during):F1} ms");
        Assert.True(during.Max() < 1_000, $"a submit took {during.Max():F0} ms beside the runaway templates");
    }

    [Fact]
    public async Task Submit_HugeStringTemplate_FailsWithoutGrowingTheServer()
    {
        var name = Unique("huge");
        await server.DeployAsync(Yaml(name, "{{ 'x' * 100000000 }}"));
        await TimedSubmitAsync(name);

        var (memory, workingSet, allocated) = Measure();
        var database = DatabaseBytes();
        var ids = new List<string>();
        for (var i = 0; i < 3; i++) ids.Add((await TimedSubmitAsync(name)).Id);
        var (memoryAfter, workingSetAfter, allocatedAfter) = Measure();
        var databaseAfter = DatabaseBytes();

        output.WriteLine($"deltas: managed heap {(memoryAfter - memory) / 1e6:F1} MB, working set {(workingSetAfter - workingSet) / 1e6:F1} MB, " +
                         $"allocated {(allocatedAfter - allocated) / 1e6:F1} MB, database {(databaseAfter - database) / 1e6:F2} MB");
        foreach (var id in ids)
        {
            var (_, wf) = await server.GetAsync($"/api/v1/workflows/{id}");
            var error = wf["activities"]![0]!["error_detail"]!;
            Assert.Equal("TEMPLATE_LIMIT_EXCEEDED", error["code"]!.GetValue<string>());
            Assert.Contains("100000000 characters, more than the size limit of 1048576", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        }
        const long fiftyMegabytes = 50L * 1024 * 1024;
        Assert.True(memoryAfter - memory < fiftyMegabytes, $"managed heap grew by {memoryAfter - memory} bytes");
        Assert.True(workingSetAfter - workingSet < fiftyMegabytes, $"working set grew by {workingSetAfter - workingSet} bytes");
        Assert.True(allocatedAfter - allocated < fiftyMegabytes, $"{allocatedAfter - allocated} bytes were allocated");
        Assert.True(databaseAfter - database < 5L * 1024 * 1024, $"the database grew by {databaseAfter - database} bytes");
    }

    private async Task<(string Id, double Millis)> TimedSubmitAsync(string name)
    {
        var started = Stopwatch.GetTimestamp();
        using var response = await server.Http.PostAsJsonAsync("/api/v1/workflows",
            new JsonObject { ["definition_name"] = name, ["input"] = new JsonObject { ["n"] = 1 } });
        var millis = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var body = await ServerFixture.ReadAsync(response);
        Assert.True(201 == (int)response.StatusCode, body.ToJsonString());
        return (body["workflow_id"]!.GetValue<string>(), millis);
    }

    private static (long Memory, long WorkingSet, long Allocated) Measure()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var memory = GC.GetTotalMemory(forceFullCollection: true);
        using var process = Process.GetCurrentProcess();
        return (memory, process.WorkingSet64, GC.GetTotalAllocatedBytes(precise: true));
    }

    private long DatabaseBytes() =>
        Directory.EnumerateFiles(server.DataDir, "spindle.db*").Sum(path => new FileInfo(path).Length);

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
