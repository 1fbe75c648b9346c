using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Spindle.TestSupport;

namespace Spindle.Cluster.Tests;

/// <summary>
/// Workflow-level concurrency across servers: runs of one key submitted to two servers on one PostgreSQL database at
/// once, and completed by workers on both, never run more than the limit at a time, and every run still completes.
/// </summary>
[Collection(PostgresFixture.CollectionName)]
public sealed class RunConcurrencyClusterTests(PostgresFixture postgres) : IAsyncLifetime
{
    private const int Limit = 2;

    private InProcessServer _a = null!;
    private InProcessServer _b = null!;
    private string _database = "";

    public async Task InitializeAsync()
    {
        var database = _database = await postgres.CreateDatabaseAsync();
        _a = await InProcessServer.StartAsync(database);
        _b = await InProcessServer.StartAsync(database);
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    [Fact]
    public async Task Submit_RunsOfOneKeyOnTwoServers_NeverRunMoreThanTheLimitAndAllComplete()
    {
        await _a.Api.DeployAsync($$$"""
            name: per_customer_runs
            concurrency: {key: "{{INPUT.customer}}", limit: {{{Limit}}}}
            activities:
              - {key: a, activity_name: echo}
              - {key: b, activity_name: echo, depends_on: [a]}
            """);
        var customers = Enumerable.Range(0, 18).Select(i => i % 3 == 2 ? "beta" : "acme").ToArray();

        // The database's own view, sampled throughout: running runs per key.
        var runningPeak = new ConcurrentDictionary<string, long>();
        using var sampling = new CancellationTokenSource();
        async Task SampleAsync()
        {
            await using var conn = new Npgsql.NpgsqlConnection(Spindle.Storage.Postgres.PostgresConnectionStrings.FromDatabaseUrl(_database));
            await conn.OpenAsync();
            while (!sampling.IsCancellationRequested)
            {
                await using var cmd = new Npgsql.NpgsqlCommand(
                    "SELECT concurrency_key, count(*) FROM workflows WHERE status = 'running' AND concurrency_key IS NOT NULL GROUP BY 1", conn);
                await using (var r = await cmd.ExecuteReaderAsync())
                {
                    while (await r.ReadAsync())
                    {
                        var (key, n) = (r.GetString(0), r.GetInt64(1));
                        runningPeak.AddOrUpdate(key, n, (_, p) => Math.Max(p, n));
                    }
                }
                await Task.Delay(2);
            }
        }
        var sampler = SampleAsync();

        // All submits at once, half on each server.
        var ids = await Task.WhenAll(customers.Select((c, i) =>
            (i % 2 == 0 ? _a : _b).Api.SubmitAsync("per_customer_runs", new JsonObject { ["customer"] = c })));

        var done = 0;
        var total = ids.Length * 2;
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        async Task WorkerAsync(ApiClient api, string workerId)
        {
            while (Volatile.Read(ref done) < total && !stop.IsCancellationRequested)
            {
                var activities = await api.PollAsync(workerId, 4, waitSeconds: 1);
                await Task.WhenAll(activities.Select(async node =>
                {
                    var activity = node!.AsObject();
                    await Task.Delay(10); // the activity "runs" a little, so that runs overlap
                    var (status, body) = await api.PostAsync($"/api/v1/activities/{activity["activity_id"]}/complete",
                        new JsonObject { ["worker_id"] = workerId, ["output"] = new JsonObject() });
                    Assert.True(status == 200, body.ToJsonString());
                    Interlocked.Increment(ref done);
                }));
            }
        }
        await Task.WhenAll(WorkerAsync(_a.Api, "a1"), WorkerAsync(_a.Api, "a2"), WorkerAsync(_b.Api, "b1"), WorkerAsync(_b.Api, "b2"));
        await sampling.CancelAsync();
        await sampler;

        Assert.Equal(total, done);
        foreach (var id in ids)
        {
            Assert.Equal("completed", (await _b.Api.GetWorkflowAsync(id))["status"]!.GetValue<string>());
        }
        Assert.All(runningPeak, kv => Assert.True(kv.Value <= Limit, $"{kv.Key}: {kv.Value} runs running at once"));
        Assert.Equal(Limit, runningPeak["acme"]); // the limit was reached, not merely never approached
    }
}
