using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Spindle.TestSupport;

namespace Spindle.Cluster.Tests;

/// <summary>
/// Per-key concurrency across servers: two servers on one PostgreSQL database and four workers (two on each) polling
/// at once never hold more activities of one key than its limit, and every activity still runs.
/// </summary>
[Collection(PostgresFixture.CollectionName)]
public sealed class ConcurrencyLimitClusterTests(PostgresFixture postgres) : IAsyncLifetime
{
    private const int Limit = 2;
    private const int Width = 12;

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
    public async Task Poll_FourWorkersOnTwoServers_NeverHoldMoreOfAKeyThanItsLimit()
    {
        var branches = Enumerable.Range(0, Width).Select(i => $"p{i}").ToList();
        await _a.Api.DeployAsync("name: limited\nactivities:\n" +
            $"  - {{key: start, activity_name: echo, dependency_of: [{string.Join(", ", branches)}]}}\n" +
            string.Concat(branches.Select(b => $"  - {{key: {b}, activity_name: echo, concurrency: {{key: \"{{{{INPUT.customer}}}}\", limit: {Limit}}}}}\n")));
        var customers = new[] { "acme", "acme", "beta", "beta", "gamma" };
        var ids = new List<string>();
        foreach (var (customer, i) in customers.Select((c, i) => (c, i)))
        {
            ids.Add(await (i % 2 == 0 ? _a : _b).Api.SubmitAsync("limited", new JsonObject { ["customer"] = customer }));
        }
        var customerOf = ids.Zip(customers).ToDictionary(x => x.First, x => x.Second);

        var held = new ConcurrentDictionary<string, int>();
        var peak = new ConcurrentDictionary<string, int>();
        var done = 0;
        var total = customers.Length * (Width + 1);
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        async Task WorkerAsync(ApiClient api, string workerId)
        {
            while (Volatile.Read(ref done) < total && !stop.IsCancellationRequested)
            {
                var activities = await api.PollAsync(workerId, 4, waitSeconds: 1);
                await Task.WhenAll(activities.Select(async node =>
                {
                    var activity = node!.AsObject();
                    var key = activity["activity_key"]!.GetValue<string>() == "start"
                        ? null
                        : customerOf[activity["workflow_id"]!.GetValue<string>()];
                    if (key is not null)
                    {
                        var now = held.AddOrUpdate(key, 1, (_, n) => n + 1);
                        peak.AddOrUpdate(key, now, (_, p) => Math.Max(p, now));
                    }
                    await Task.Delay(15); // the activity "runs" a little, so that leases overlap
                    if (key is not null)
                    {
                        held.AddOrUpdate(key, 0, (_, n) => n - 1); // before the report: what workers hold never exceeds the leases
                    }
                    var (status, body) = await api.PostAsync($"/api/v1/activities/{activity["activity_id"]}/complete",
                        new JsonObject { ["worker_id"] = workerId, ["output"] = new JsonObject() });
                    Assert.True(status == 200, body.ToJsonString());
                    Interlocked.Increment(ref done);
                }));
            }
        }

        // The database's own view, sampled while the workers run: leased rows per concurrency key.
        var leasedPeak = new ConcurrentDictionary<string, long>();
        using var sampling = new CancellationTokenSource();
        async Task SampleAsync()
        {
            await using var conn = new Npgsql.NpgsqlConnection(Spindle.Storage.Postgres.PostgresConnectionStrings.FromDatabaseUrl(_database));
            await conn.OpenAsync();
            while (!sampling.IsCancellationRequested)
            {
                await using var cmd = new Npgsql.NpgsqlCommand(
                    "SELECT concurrency_key, count(*) FROM activity_runs WHERE status = 'running' AND concurrency_key IS NOT NULL GROUP BY 1", conn);
                await using (var r = await cmd.ExecuteReaderAsync())
                {
                    while (await r.ReadAsync())
                    {
                        var (key, n) = (r.GetString(0), r.GetInt64(1));
                        leasedPeak.AddOrUpdate(key, n, (_, p) => Math.Max(p, n));
                    }
                }
                await Task.Delay(2);
            }
        }
        var sampler = SampleAsync();
        await Task.WhenAll(WorkerAsync(_a.Api, "a1"), WorkerAsync(_a.Api, "a2"), WorkerAsync(_b.Api, "b1"), WorkerAsync(_b.Api, "b2"));
        await sampling.CancelAsync();
        await sampler;

        Assert.Equal(total, done);
        Assert.All(ids, id => Assert.Equal("completed", _a.Api.GetWorkflowAsync(id).Result["status"]!.GetValue<string>()));
        Assert.All(peak, kv => Assert.True(kv.Value <= Limit, $"{kv.Key}: {kv.Value} held at once by workers"));
        Assert.All(leasedPeak, kv => Assert.True(kv.Value <= Limit, $"{kv.Key}: {kv.Value} leased at once"));
        Assert.Equal(Limit, leasedPeak["acme"]); // the limit was reached, not merely never approached
    }
}
