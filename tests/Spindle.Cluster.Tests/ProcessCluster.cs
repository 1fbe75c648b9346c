using System.Globalization;
using System.Text.Json.Nodes;
using Npgsql;
using Spindle.TestSupport;
using Xunit.Abstractions;

namespace Spindle.Cluster.Tests;

/// <summary>
/// A Spindle deployment made of real processes on one PostgreSQL database: <c>spindle serve</c> processes (with or
/// without their in-process std worker) and <c>spindle worker</c> processes. It submits mixed workloads, waits for
/// them, and checks the exactly-once invariants directly in the database, where a killed process cannot hide
/// anything.
/// </summary>
public sealed class ProcessCluster : IAsyncDisposable
{
    /// <summary>Three steps in a row.</summary>
    public const string ChainDefinition = """
        name: fault_chain
        activities:
          - {key: a, activity_name: echo, parameters: {n: "{{INPUT.n}}", sleep_ms: 20}, settings: {timeout_seconds: 3, retry: {max_attempts: 10, strategy: fixed, base_seconds: 0.2}}}
          - {key: b, activity_name: echo, parameters: {n: "{{a.echo.n}}", sleep_ms: 20}, depends_on: [a], settings: {timeout_seconds: 3, retry: {max_attempts: 10, strategy: fixed, base_seconds: 0.2}}}
          - {key: c, activity_name: echo, parameters: {n: "{{b.echo.n}}", sleep_ms: 20}, depends_on: [b], settings: {timeout_seconds: 3, retry: {max_attempts: 10, strategy: fixed, base_seconds: 0.2}}}
        """;

    /// <summary>One root, four parallel branches, one join: the join must be scheduled exactly once.</summary>
    public const string FanDefinition = """
        name: fault_fan
        activities:
          - {key: start, activity_name: echo, parameters: {n: "{{INPUT.n}}", sleep_ms: 20}, settings: {timeout_seconds: 3, retry: {max_attempts: 10, strategy: fixed, base_seconds: 0.2}}}
          - {key: p0, activity_name: echo, parameters: {i: 0, sleep_ms: 20}, depends_on: [start], settings: {timeout_seconds: 3, retry: {max_attempts: 10, strategy: fixed, base_seconds: 0.2}}}
          - {key: p1, activity_name: echo, parameters: {i: 1, sleep_ms: 20}, depends_on: [start], settings: {timeout_seconds: 3, retry: {max_attempts: 10, strategy: fixed, base_seconds: 0.2}}}
          - {key: p2, activity_name: echo, parameters: {i: 2, sleep_ms: 20}, depends_on: [start], settings: {timeout_seconds: 3, retry: {max_attempts: 10, strategy: fixed, base_seconds: 0.2}}}
          - {key: p3, activity_name: echo, parameters: {i: 3, sleep_ms: 20}, depends_on: [start], settings: {timeout_seconds: 3, retry: {max_attempts: 10, strategy: fixed, base_seconds: 0.2}}}
          - {key: join, activity_name: echo, parameters: {sum: "{{p0.echo.i + p1.echo.i + p2.echo.i + p3.echo.i}}", sleep_ms: 20}, depends_on: [p0, p1, p2, p3], settings: {timeout_seconds: 3, retry: {max_attempts: 10, strategy: fixed, base_seconds: 0.2}}}
        """;

    private readonly ITestOutputHelper _output;
    private readonly string _logDirectory = Directory.CreateTempSubdirectory("spindle-cluster-logs-").FullName;
    private readonly List<SpindleProcess> _processes = [];
    private readonly List<string> _dataDirectories = [];
    private bool _failed = true;

    private ProcessCluster(PostgresFixture postgres, string databaseName, ITestOutputHelper output)
    {
        Postgres = postgres;
        _output = output;
        DatabaseUrl = $"postgres://postgres@{postgres.Host}:{postgres.Port}/{databaseName}";
        // Unpooled: a pooled connection would fail once after a database restart, and the test's checks must not.
        ConnectionString = new NpgsqlConnectionStringBuilder(postgres.ConnectionStringFor(databaseName)) { Pooling = false }.ConnectionString;
    }

    public PostgresFixture Postgres { get; }

    /// <summary>The URL servers get in <c>--database-url</c>.</summary>
    public string DatabaseUrl { get; }

    /// <summary>The test's own way into the database, for checks.</summary>
    public string ConnectionString { get; }

    public static async Task<ProcessCluster> CreateAsync(PostgresFixture postgres, ITestOutputHelper output)
    {
        var name = "cluster_" + Guid.NewGuid().ToString("N")[..10];
        await postgres.CreateDatabaseAsync(name);
        await SpindleProcess.EnsureBuiltAsync();
        return new ProcessCluster(postgres, name, output);
    }

    public async Task<ServerProcess> StartServerAsync(string name, bool noWorker)
    {
        var port = SpindleProcess.FreePort();
        var dataDir = Directory.CreateTempSubdirectory("spindle-cluster-data-").FullName;
        _dataDirectories.Add(dataDir);
        var args = new List<string>
        {
            "serve", "--insecure-dev", "--port", port.ToString(CultureInfo.InvariantCulture), "--data-dir", dataDir,
            "--database-url", DatabaseUrl,
        };
        if (noWorker)
        {
            args.Add("--no-worker");
        }
        var process = await SpindleProcess.StartAsync(name, _logDirectory, [.. args]);
        _processes.Add(process);
        var server = new ServerProcess(process, new ApiClient($"http://127.0.0.1:{port}"));
        await server.WaitHealthyAsync();
        return server;
    }

    public async Task<SpindleProcess> StartWorkerAsync(string name, ServerProcess server, int concurrency)
    {
        var process = await SpindleProcess.StartAsync(name, _logDirectory,
            "worker", "--api-url", server.Api.BaseUrl, "--worker-id", name, "--concurrency", concurrency.ToString(CultureInfo.InvariantCulture));
        _processes.Add(process);
        return process;
    }

    /// <summary>Submits <paramref name="count"/> workflows, half chains and half fan-out/fan-in, spread over the servers.</summary>
    public static async Task SubmitMixAsync(IReadOnlyList<ServerProcess> servers, int count)
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var server = servers[i % servers.Count];
                await server.Api.SubmitAsync(i % 2 == 0 ? "fault_chain" : "fault_fan", new JsonObject { ["n"] = i });
            }
        })));
    }

    /// <summary>Activity rows a mix of <paramref name="count"/> workflows has.</summary>
    public static int ActivitiesOf(int count) => (count + 1) / 2 * 3 + count / 2 * 6;

    public async Task<(long Completed, long Unfinished, long FailedOrCancelled)> CountWorkflowsAsync()
    {
        await using var conn = new NpgsqlConnection(ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            "SELECT COUNT(*) FILTER (WHERE status = 'completed'), COUNT(*) FILTER (WHERE status IN ('created', 'running')), " +
            "COUNT(*) FILTER (WHERE status IN ('failed', 'cancelled')) FROM workflows", conn);
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        return (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2));
    }

    /// <summary>Waits until at least <paramref name="completed"/> workflows completed; fails early if any failed.</summary>
    public async Task WaitCompletedAsync(long completed, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var counts = await CountWorkflowsAsync();
            Assert.True(counts.FailedOrCancelled == 0, $"{counts.FailedOrCancelled} workflows failed or were cancelled:\n{await FailuresAsync()}\n{Logs()}");
            if (counts.Completed >= completed)
            {
                return;
            }
            Assert.True(DateTime.UtcNow < deadline,
                $"only {counts.Completed} of {completed} workflows completed within {timeout.TotalSeconds} s ({counts.Unfinished} unfinished)\n{Logs()}");
            await Task.Delay(200);
        }
    }

    /// <summary>
    /// The invariants of exactly-once recording, checked in the database: every activity completed exactly once;
    /// each attempt was started (leased) once, so no two workers held one attempt at the same time; and each
    /// attempt has at most one accepted worker result.
    /// </summary>
    public async Task<ClusterFacts> CheckExactlyOnceAsync(int workflows)
    {
        await using var conn = new NpgsqlConnection(ConnectionString);
        await conn.OpenAsync();
        async Task<long> Scalar(string sql)
        {
            await using var cmd = new NpgsqlCommand(sql, conn);
            return Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
        }

        Assert.Equal(workflows, await Scalar("SELECT COUNT(*) FROM workflows WHERE status = 'completed'"));
        Assert.Equal(0, await Scalar("SELECT COUNT(*) FROM workflows WHERE status <> 'completed'"));
        var activities = ActivitiesOf(workflows);
        Assert.Equal(activities, await Scalar("SELECT COUNT(*) FROM activity_runs WHERE status = 'completed'"));
        Assert.Equal(0, await Scalar("SELECT COUNT(*) FROM activity_runs WHERE status <> 'completed'"));

        var completedTwice = await Scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE event_type = 'ActivityCompleted' " +
            "GROUP BY workflow_id, activity_key, iteration HAVING COUNT(*) > 1) d");
        Assert.True(completedTwice == 0, $"{completedTwice} activities were recorded as completed more than once");
        Assert.Equal(activities, await Scalar("SELECT COUNT(*) FROM events WHERE event_type = 'ActivityCompleted'"));

        var heldTwice = await Scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE event_type = 'ActivityStarted' " +
            "GROUP BY workflow_id, activity_key, iteration, payload->>'attempt' HAVING COUNT(*) > 1) d");
        Assert.True(heldTwice == 0, $"{heldTwice} activity attempts were handed to more than one worker");

        // Results a worker reported and the server accepted: completions plus failures other than lease expiry.
        // ActivityCompleted carries no attempt, but a completion ends the activity, so it can only follow the
        // attempts that failed; what must never happen is two accepted failures for one attempt.
        var acceptedTwice = await Scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE event_type = 'ActivityFailed' " +
            "AND payload->>'error_code' <> 'ACTIVITY_TIMEOUT' " +
            "GROUP BY workflow_id, activity_key, iteration, payload->>'attempt' HAVING COUNT(*) > 1) d");
        Assert.True(acceptedTwice == 0, $"{acceptedTwice} activity attempts had two accepted results");

        var joinsScheduledTwice = await Scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE event_type = 'ActivityScheduled' AND activity_key = 'join' " +
            "AND payload->>'attempt' = '1' GROUP BY workflow_id HAVING COUNT(*) > 1) d");
        Assert.True(joinsScheduledTwice == 0, $"{joinsScheduledTwice} fan-in joins were scheduled twice");

        var facts = new ClusterFacts(
            activities,
            await Scalar("SELECT COUNT(*) FROM events WHERE event_type = 'ActivityStarted'"),
            await Scalar("SELECT COUNT(*) FROM events WHERE event_type = 'ActivityFailed' AND payload->>'error_code' = 'ACTIVITY_TIMEOUT'"),
            await Scalar("SELECT COUNT(*) FROM events WHERE event_type = 'ActivityFailed' AND payload->>'error_code' <> 'ACTIVITY_TIMEOUT'"));
        _failed = false;
        return facts;
    }

    public void Log(string message) => _output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {message}");

    private async Task<string> FailuresAsync()
    {
        await using var conn = new NpgsqlConnection(ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            "SELECT id, status, error_message FROM workflows WHERE status IN ('failed', 'cancelled') LIMIT 5", conn);
        await using var r = await cmd.ExecuteReaderAsync();
        var lines = new List<string>();
        while (await r.ReadAsync())
        {
            lines.Add($"{r.GetString(0)} {r.GetString(1)}: {(r.IsDBNull(2) ? "" : r.GetString(2))}");
        }
        return string.Join('\n', lines);
    }

    private string Logs() =>
        string.Join("\n", _processes.Select(p => $"---- {p.Name} ({p.LogFile}) ----\n{p.Tail(25)}"));

    public ValueTask DisposeAsync()
    {
        foreach (var p in _processes)
        {
            p.Dispose();
        }
        foreach (var dir in _dataDirectories.Append(_failed ? null : _logDirectory).OfType<string>())
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
        if (_failed)
        {
            _output.WriteLine($"process logs kept in {_logDirectory}");
        }
        return ValueTask.CompletedTask;
    }
}

/// <summary>A <c>spindle serve</c> process and a client for its API.</summary>
public sealed class ServerProcess(SpindleProcess process, ApiClient api)
{
    public SpindleProcess Process { get; } = process;

    public ApiClient Api { get; } = api;

    public Task WaitHealthyAsync() => Process.WaitHealthyAsync(Api.BaseUrl, TimeSpan.FromSeconds(60));

    public async Task RestartAsync()
    {
        await Process.StartAsync();
        await WaitHealthyAsync();
    }
}

/// <summary>What a run left in the database, for the test log.</summary>
public sealed record ClusterFacts(long Activities, long Leases, long LeaseExpiries, long WorkerReportedFailures);
