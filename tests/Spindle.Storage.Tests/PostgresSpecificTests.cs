using System.Diagnostics;
using System.Text.Json.Nodes;
using Npgsql;
using Spindle.Core.Orchestration;
using Spindle.Storage.Postgres;
using Spindle.TestSupport;
using static Spindle.Storage.Tests.StoreTestHelpers;

namespace Spindle.Storage.Tests;

/// <summary>What only the shared backend has: skip-locked batched claims, migrations among several servers, NOTIFY.</summary>
[Collection(PostgresFixture.CollectionName)]
public sealed class PostgresSpecificTests(PostgresFixture postgres) : IAsyncLifetime
{
    private const string Single = """
        name: single
        activities:
          - {key: only, activity_name: echo}
        """;

    private const string Pair = """
        name: pair
        activities:
          - {key: a, activity_name: echo}
          - {key: b, activity_name: echo, depends_on: [a]}
        """;

    private static readonly EngineDefaults Defaults = new() { ActivityTimeoutSeconds = 60, WorkflowTimeoutSeconds = 300, MaxRetries = 3 };

    private string _connectionString = "";
    private PostgresWorkflowStore Store { get; set; } = null!;

    public async Task InitializeAsync()
    {
        _connectionString = await postgres.CreateDatabaseAsync();
        Store = new PostgresWorkflowStore(_connectionString, Defaults);
        await Store.MigrateAsync(CancellationToken.None);
    }

    public async Task DisposeAsync() => await Store.DisposeAsync();

    [Fact]
    public async Task Complete_ReportsOfOneWorkflowArrivingWhileOneCommits_ShareTransactions()
    {
        var id = await DeployAndSubmitAsync(Store, FanOutYaml("fan", 8, join: false));
        var start = Assert.Single(await ClaimAsync(Store, "w1"));
        await Store.CompleteAsync(start.ActivityId, "w1", new JsonObject(), 0, CancellationToken.None);
        var branches = await ClaimAsync(Store, "w1", 100);

        // The first report is in flight (held on the workflow's row lock) when the other seven arrive: they queue
        // behind it in this process and commit together, one transaction (one instant) for all seven. The lock makes
        // "in flight" certain: on a loaded machine the first report's round trips may otherwise all be answered
        // before the next report is even sent.
        await using var hold = await RowHolder.HoldAsync(_connectionString, "SELECT 1 FROM workflows WHERE id = $1 FOR UPDATE", id, rows: -1);
        Task<CompleteOutcome> Report(ClaimedActivity b) => Store.CompleteAsync(b.ActivityId, "w1", new JsonObject(), 0, CancellationToken.None);
        var first = Report(branches[0]);
        await WaitUntilAsync(async () => await CountWaitingOnLocksAsync() > 0);
        var rest = branches.Skip(1).Select(Report).ToList();
        await hold.CommitAsync();
        var outcomes = await Task.WhenAll([first, .. rest]);
        Assert.All(outcomes, o => Assert.Equal(StoreStatus.Ok, o.Status));
        var instants = (await Store.GetEventsAsync(id, null, 100, new HashSet<string> { EventTypes.ActivityCompleted }, CancellationToken.None))!
            .Events.Where(e => e.ActivityKey != "start").Select(e => e.Timestamp).Distinct().Count();
        Assert.Equal(2, instants);
        Assert.Equal(WorkflowStatus.Completed, await Store.GetWorkflowStatusAsync(id, CancellationToken.None));
    }

    [Fact]
    public async Task Cancel_ClaimCommitsWhileDecisionWaitsOnTheRow_DecisionStartsOverAndFlagsTheRunningActivity()
    {
        var id = await DeployAndSubmitAsync(Store, Single);
        // A claim that the decision cannot see yet: it holds the row while the cancel reads it as pending.
        await using var claim = await RowHolder.HoldAsync(_connectionString,
            "UPDATE activity_runs SET status = 'running', lease_owner = 'w-raced', lease_until = 9223372036854775807 WHERE workflow_id = $1", id);

        var cancelled = await CancelOnceItWaitsForAsync(id, claim);

        // The guarded update found the row no longer pending and aborted the batch before its COMMIT; the retry saw
        // the claim and asked the running activity to stop instead of withdrawing it.
        Assert.Equal(WorkflowStatus.Cancelled, cancelled.WorkflowStatus);
        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal((ActivityStatus.Running, true, "w-raced"), (wf!.Activities["only"].Status, wf.Activities["only"].CancelRequested, wf.Activities["only"].LeaseOwner));
        var events = await Store.GetEventsAsync(id, null, 100, new HashSet<string> { EventTypes.WorkflowCancelled }, CancellationToken.None);
        Assert.Single(events!.Events);
    }

    [Fact]
    public async Task Cancel_HeartbeatCommitsWhileDecisionWaitsOnTheRow_KeepsTheExtendedLease()
    {
        var id = await DeployAndSubmitAsync(Store, Single);
        Assert.Single(await ClaimAsync(Store, "w1"));
        var leased = (await Store.GetWorkflowAsync(id, CancellationToken.None))!.Activities["only"].LeaseUntil;
        Assert.NotNull(leased);
        // A heartbeat that the decision cannot see yet: it holds the row while the cancel reads the lease.
        await using var beat = await RowHolder.HoldAsync(_connectionString,
            "UPDATE activity_runs SET lease_until = lease_until + 30000000 WHERE workflow_id = $1 AND status = 'running'", id);

        var cancelled = await CancelOnceItWaitsForAsync(id, beat);

        // The cancel flags the running activity; the lease it did not change is the heartbeat's, not the one it read.
        Assert.Equal(WorkflowStatus.Cancelled, cancelled.WorkflowStatus);
        var only = (await Store.GetWorkflowAsync(id, CancellationToken.None))!.Activities["only"];
        Assert.Equal((ActivityStatus.Running, true, leased + 30_000_000), (only.Status, only.CancelRequested, only.LeaseUntil));
    }

    /// <summary>Cancels the run while <paramref name="holder"/> holds one of its rows: lets the holder commit once the
    /// cancel's transaction waits on that row, so the decision has read the row before the holder's change.</summary>
    private async Task<CancelOutcome> CancelOnceItWaitsForAsync(string id, RowHolder holder)
    {
        var cancel = Task.Run(() => Store.CancelAsync(id, "raced", CancellationToken.None));
        await WaitUntilAsync(async () => await CountWaitingOnLocksAsync() > 0);
        await holder.CommitAsync();
        return await cancel;
    }

    private async Task<long> CountWaitingOnLocksAsync()
    {
        await using var conn = new NpgsqlConnection(_connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND a.datname = current_database()", conn);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "the decision never waited on the claimed row");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task Claim_MaxActivities_ClaimsBatchWithStartedEventsInOneStatement()
    {
        for (var i = 0; i < 25; i++)
        {
            await DeployAndSubmitAsync(Store, Single);
        }
        var claimed = await ClaimAsync(Store, "w1", 10);
        Assert.Equal(10, claimed.Count);
        Assert.Equal(10, claimed.Select(c => c.ActivityId).Distinct().Count());

        await using var conn = new NpgsqlConnection(_connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            "SELECT id, payload::text FROM events WHERE event_type = 'ActivityStarted' ORDER BY seq", conn);
        var started = new List<(string Id, JsonNode Payload)>();
        await using (var r = await cmd.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                started.Add((r.GetString(0), JsonNode.Parse(r.GetString(1))!));
            }
        }
        Assert.Equal(10, started.Count);
        Assert.All(started, s =>
        {
            Assert.Equal("w1", s.Payload["worker_id"]!.GetValue<string>());
            Assert.Equal(1, s.Payload["attempt"]!.GetValue<int>());
            // Event ids written by SQL are UUIDv7 like the engine's own.
            Assert.True(Guid.TryParse(s.Id, out var id));
            Assert.Equal(7, id.Version);
        });
    }

    [Fact]
    public async Task Claim_RowsLockedByAnotherTransaction_SkipsThemWithoutWaiting()
    {
        for (var i = 0; i < 10; i++)
        {
            await DeployAndSubmitAsync(Store, Single);
        }
        await using var conn = new NpgsqlConnection(_connectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        var locked = new HashSet<string>();
        await using (var cmd = new NpgsqlCommand("SELECT id FROM activity_runs WHERE status = 'pending' ORDER BY ready_at LIMIT 3 FOR UPDATE", conn, tx))
        await using (var r = await cmd.ExecuteReaderAsync())
        {
            while (await r.ReadAsync())
            {
                locked.Add(r.GetString(0));
            }
        }

        var watch = Stopwatch.StartNew();
        var claimed = await ClaimAsync(Store, "w1", 100).WaitAsync(TimeSpan.FromSeconds(10));
        watch.Stop();
        Assert.Equal(7, claimed.Count);
        Assert.DoesNotContain(claimed, c => locked.Contains(c.ActivityId));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"the claim waited {watch.Elapsed} for locked rows");

        await tx.RollbackAsync();
        var rest = await ClaimAsync(Store, "w2", 100);
        Assert.Equal(locked.Order(), rest.Select(c => c.ActivityId).Order());
    }

    [Fact]
    public async Task Claim_EightPollersOnSeparateConnections_NeverShareAnActivity()
    {
        for (var i = 0; i < 200; i++)
        {
            await DeployAndSubmitAsync(Store, Single);
        }
        var all = new List<string>();
        var sync = new Lock();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(p => Task.Run(async () =>
        {
            while (true)
            {
                var batch = await ClaimAsync(Store, "poller" + p, 7);
                if (batch.Count == 0)
                {
                    return;
                }
                lock (sync)
                {
                    all.AddRange(batch.Select(c => c.ActivityId));
                }
            }
        })));
        Assert.Equal(200, all.Count);
        Assert.Equal(200, all.Distinct().Count());
    }

    [Fact]
    public async Task Complete_CancelRacesClaim_ClaimIsNotOverwrittenSilently()
    {
        // A cancel that read a row as pending must not write 'cancelled' over a claim that committed meanwhile
        // without noticing: the guarded update starts the cancel over, which then flags the running activity.
        var id = await DeployAndSubmitAsync(Store, Pair);
        await using var conn = new NpgsqlConnection(_connectionString);
        await conn.OpenAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var hold = new NpgsqlCommand("SELECT 1 FROM activity_runs WHERE workflow_id = $1 AND activity_key = 'a' FOR UPDATE", conn, tx))
        {
            hold.Parameters.AddWithValue(id);
            await hold.ExecuteNonQueryAsync();
        }
        var cancel = Store.CancelAsync(id, "race", CancellationToken.None);
        await Task.Delay(300); // the cancel has read 'a' as pending and now waits for the row
        await using (var claim = new NpgsqlCommand(
            "UPDATE activity_runs SET status = 'running', lease_owner = 'sneaky', lease_until = 9223372036854775000 WHERE workflow_id = $1 AND activity_key = 'a'",
            conn, tx))
        {
            claim.Parameters.AddWithValue(id);
            await claim.ExecuteNonQueryAsync();
        }
        await tx.CommitAsync();
        Assert.Equal(StoreStatus.Ok, (await cancel).Status);

        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Cancelled, wf!.Status);
        var a = wf.Activities["a"];
        Assert.Equal(ActivityStatus.Running, a.Status);
        Assert.Equal("sneaky", a.LeaseOwner);
        Assert.True(a.CancelRequested);
    }

    [Fact]
    public async Task Complete_FanInSiblingsOnManyConnections_JoinScheduledOnce()
    {
        const string fanIn = """
            name: wide_fan_in
            activities:
              - {key: p0, activity_name: echo}
              - {key: p1, activity_name: echo}
              - {key: p2, activity_name: echo}
              - {key: p3, activity_name: echo}
              - {key: p4, activity_name: echo}
              - {key: p5, activity_name: echo}
              - {key: p6, activity_name: echo}
              - {key: p7, activity_name: echo}
              - {key: join, activity_name: echo, depends_on: [p0, p1, p2, p3, p4, p5, p6, p7]}
            """;
        for (var round = 0; round < 5; round++)
        {
            var id = await DeployAndSubmitAsync(Store, fanIn);
            var parallel = await ClaimAsync(Store, "w1", 100);
            Assert.Equal(8, parallel.Count);
            var outcomes = await Task.WhenAll(parallel.Select(p => Task.Run(() => CompleteAsync(Store, p))));
            Assert.All(outcomes, o => Assert.Equal(StoreStatus.Ok, o.Status));
            var join = Assert.Single(await ClaimAsync(Store, "w1", 100));
            Assert.Equal("join", join.ActivityKey);
            await CompleteAsync(Store, join);
            var scheduled = await Store.GetEventsAsync(id, null, 1000, new HashSet<string> { EventTypes.ActivityScheduled }, CancellationToken.None);
            Assert.Single(scheduled!.Events, e => e.ActivityKey == "join");
            Assert.Equal(WorkflowStatus.Completed, await Store.GetWorkflowStatusAsync(id, CancellationToken.None));
        }
    }

    [Fact]
    public async Task RunTimers_ThreeServersSweepingTogether_EachExpiredLeaseFiresOnce()
    {
        const string shortLease = """
            name: short_lease
            activities:
              - {key: slow, activity_name: echo, settings: {timeout_seconds: 1}}
            """;
        for (var i = 0; i < 40; i++)
        {
            await DeployAndSubmitAsync(Store, shortLease);
        }
        Assert.Equal(40, (await ClaimAsync(Store, "w1", 100)).Count);
        await Task.Delay(1200);

        // Three "servers" (stores with their own pools) run their timer passes at the same moment, twice over.
        var others = new[] { new PostgresWorkflowStore(_connectionString, Defaults), new PostgresWorkflowStore(_connectionString, Defaults) };
        try
        {
            var sweepers = others.Cast<IWorkflowStore>().Append(Store).ToList();
            var fired = 0;
            for (var pass = 0; pass < 2; pass++)
            {
                var outcomes = await Task.WhenAll(sweepers.Select(s => Task.Run(() => s.RunTimersAsync(CancellationToken.None))));
                fired += outcomes.Sum(o => o.ExpiredLeases);
            }
            Assert.Equal(40, fired);
        }
        finally
        {
            foreach (var s in others)
            {
                await s.DisposeAsync();
            }
        }

        await using var conn = new NpgsqlConnection(_connectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            "SELECT COUNT(*), COUNT(DISTINCT workflow_id) FROM events WHERE event_type = 'ActivityFailed' AND payload->>'error_code' = 'ACTIVITY_TIMEOUT'", conn);
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        Assert.Equal(40, r.GetInt64(0));
        Assert.Equal(40, r.GetInt64(1));
        await r.CloseAsync();
        var again = await ClaimAsync(Store, "w2", 100);
        Assert.Equal(40, again.Count);
        Assert.All(again, a => Assert.Equal(2, a.Attempt));
    }

    [Fact]
    public async Task Submit_UniqueKeyRacedByConcurrentSubmits_ExactlyOneWins()
    {
        await Store.DeployAsync(Parse(Single), CancellationToken.None);
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
            Store.SubmitAsync(new SubmitCommand("single", null, new JsonObject(), "once"), CancellationToken.None))));
        Assert.Single(outcomes, o => o.Status == StoreStatus.Ok);
        Assert.All(outcomes.Where(o => o.Status != StoreStatus.Ok), o => Assert.Equal(StoreStatus.Conflict, o.Status));
    }

    [Fact]
    public async Task Migrate_DatabaseSchemaNewer_RefusesWithClearMessage()
    {
        await using (var conn = new NpgsqlConnection(_connectionString))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        await using var newer = new PostgresWorkflowStore(_connectionString, Defaults);
        var error = await Assert.ThrowsAsync<SchemaTooNewException>(() => newer.MigrateAsync(CancellationToken.None));
        Assert.Equal(999, error.DatabaseVersion);
        Assert.Contains("schema is version 999, newer than this Spindle build knows", error.Message, StringComparison.Ordinal);
        Assert.Contains("upgrade this server", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrate_ServersStartingTogether_ApplyEachMigrationOnce()
    {
        var fresh = await postgres.CreateDatabaseAsync();
        var stores = Enumerable.Range(0, 4).Select(_ => new PostgresWorkflowStore(fresh, Defaults)).ToList();
        try
        {
            await Task.WhenAll(stores.Select(s => Task.Run(() => s.MigrateAsync(CancellationToken.None))));
        }
        finally
        {
            foreach (var s in stores)
            {
                await s.DisposeAsync();
            }
        }
        await using var conn = new NpgsqlConnection(fresh);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations", conn);
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        Assert.Equal(r.GetInt64(1), r.GetInt64(0));
    }

    [Fact]
    public async Task Commit_ReadyAndFinished_NotifiesListenersOnOtherConnections()
    {
        await using var listener = await Listener.StartAsync(_connectionString, PostgresChannels.Ready, PostgresChannels.Finished);

        var id = await DeployAndSubmitAsync(Store, Single);
        await listener.WaitForAsync(r => r is { Channel: PostgresChannels.Ready, Payload: "std" });
        await CompleteAsync(Store, await ClaimOneAsync(Store, "only"));
        await listener.WaitForAsync(r => r.Channel == PostgresChannels.Finished && r.Payload == id);
    }

    [Fact]
    public async Task NotificationSender_RepeatsQueuedTogether_SentOnceAndMarkedOwn()
    {
        await using var listener = await Listener.StartAsync(_connectionString, PostgresChannels.Ready, PostgresChannels.Finished);
        await using var sender = new PostgresNotificationSender(_connectionString);

        for (var i = 0; i < 50; i++)
        {
            sender.Enqueue(PostgresChannels.Ready, "std");
            sender.Enqueue(PostgresChannels.Finished, $"wf-{i % 5}");
        }
        await sender.FlushAsync();
        // A marker sent last: once it is here, everything before it is too (one connection, in order).
        sender.Enqueue(PostgresChannels.Ready, "marker");
        await listener.WaitForAsync(r => r.Payload == "marker");

        lock (listener.Received)
        {
            // The first Enqueue starts a send at once and each send takes what queued meanwhile, so a repeat goes out
            // at most once per send; a loaded machine may split the loop over a few sends, never over fifty.
            Assert.InRange(listener.Received.Count(r => r.Payload == "std"), 1, 3);
            for (var i = 0; i < 5; i++)
            {
                Assert.InRange(listener.Received.Count(r => r.Payload == $"wf-{i}"), 1, 3);
            }
            Assert.True(listener.Received.Count <= 3 * 6 + 1, $"{listener.Received.Count} notifications for 100 queued");
            Assert.All(listener.Received, r => Assert.True(sender.IsOwn(r.Pid), $"pid {r.Pid} is not the sender's"));
        }
        Assert.False(sender.IsOwn(listener.Connection.ProcessID));
        Assert.False(sender.IsOwn(0));
    }

    [Fact]
    public async Task NotificationSender_NobodyElseListening_SendsNothingUntilTold()
    {
        await using var listener = await Listener.StartAsync(_connectionString, PostgresChannels.Ready);
        await using var sender = new PostgresNotificationSender(_connectionString) { OthersListening = false };

        sender.Enqueue(PostgresChannels.Ready, "alone");
        await sender.FlushAsync();
        var sentAlone = sender.SentTransactions;
        sender.OthersListening = true;
        sender.Enqueue(PostgresChannels.Ready, "together");
        await listener.WaitForAsync(r => r.Payload == "together");
        await sender.FlushAsync(); // the listener can hear the commit before the sender has counted it

        Assert.Equal(0, sentAlone);
        Assert.Equal(1, sender.SentTransactions);
        lock (listener.Received)
        {
            Assert.DoesNotContain(listener.Received, r => r.Payload == "alone"); // one connection, in order: it would be first
        }
    }

    [Fact]
    public void DatabaseUrl_LibpqForm_BecomesNpgsqlConnectionString()
    {
        var cs = new NpgsqlConnectionStringBuilder(PostgresConnectionStrings.FromDatabaseUrl(
            "postgres://spin%40dle:p%3Ass@db.example:6543/spindle_prod?sslmode=verify-full&application_name=edge"));
        Assert.Equal("db.example", cs.Host);
        Assert.Equal(6543, cs.Port);
        Assert.Equal("spin@dle", cs.Username);
        Assert.Equal("p:ss", cs.Password);
        Assert.Equal("spindle_prod", cs.Database);
        Assert.Equal(SslMode.VerifyFull, cs.SslMode);
        Assert.Equal("edge", cs.ApplicationName);

        var plain = new NpgsqlConnectionStringBuilder(PostgresConnectionStrings.FromDatabaseUrl("postgresql://localhost/app"));
        Assert.Equal(5432, plain.Port);
        Assert.Equal("spindle", plain.ApplicationName);
        Assert.True(plain.NoResetOnClose);
        Assert.Equal(PostgresConnectionStrings.DefaultMaxPoolSize, plain.MaxPoolSize);
        Assert.Equal(50, new NpgsqlConnectionStringBuilder(PostgresConnectionStrings.FromDatabaseUrl("Host=localhost;Maximum Pool Size=50")).MaxPoolSize);
        Assert.False(new NpgsqlConnectionStringBuilder(PostgresConnectionStrings.FromDatabaseUrl("Host=localhost;No Reset On Close=false")).NoResetOnClose);
        Assert.Throws<FormatException>(() => PostgresConnectionStrings.FromDatabaseUrl("postgres://host/db?no_such_setting=1"));
    }

    /// <summary>A connection listening on some channels, and what it heard.</summary>
    /// <summary>Another session's open transaction that has run one statement and holds the rows it touched until
    /// <see cref="CommitAsync"/> (or rolls back on dispose): what a decision must wait for or see through.</summary>
    private sealed class RowHolder : IAsyncDisposable
    {
        private readonly NpgsqlConnection _connection;
        private readonly NpgsqlTransaction _transaction;

        private RowHolder(NpgsqlConnection connection, NpgsqlTransaction transaction)
        {
            _connection = connection;
            _transaction = transaction;
        }

        /// <param name="rows">The rows the statement must affect; -1 for a locking SELECT.</param>
        public static async Task<RowHolder> HoldAsync(string connectionString, string sql, string workflowId, int rows = 1)
        {
            var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            var holder = new RowHolder(connection, await connection.BeginTransactionAsync());
            await using var cmd = new NpgsqlCommand(sql, connection, holder._transaction);
            cmd.Parameters.Add(new NpgsqlParameter { Value = workflowId });
            Assert.Equal(rows, await cmd.ExecuteNonQueryAsync());
            return holder;
        }

        public Task CommitAsync() => _transaction.CommitAsync();

        public async ValueTask DisposeAsync()
        {
            await _transaction.DisposeAsync();
            await _connection.DisposeAsync();
        }
    }

    private sealed class Listener : IAsyncDisposable
    {
        private Listener(NpgsqlConnection connection)
        {
            Connection = connection;
            connection.Notification += (_, e) =>
            {
                lock (Received)
                {
                    Received.Add((e.Channel, e.Payload, e.PID));
                }
            };
        }

        public NpgsqlConnection Connection { get; }

        /// <summary>Every notification heard; lock it to read.</summary>
        public List<(string Channel, string Payload, int Pid)> Received { get; } = [];

        public static async Task<Listener> StartAsync(string connectionString, params string[] channels)
        {
            var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            var listener = new Listener(connection);
            await using var listen = new NpgsqlCommand(string.Join("; ", channels.Select(c => $"LISTEN {c}")), connection);
            await listen.ExecuteNonQueryAsync();
            return listener;
        }

        public async Task WaitForAsync(Func<(string Channel, string Payload, int Pid), bool> expected)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (true)
            {
                lock (Received)
                {
                    if (Received.Any(expected))
                    {
                        return;
                    }
                    Assert.True(DateTime.UtcNow < deadline,
                        $"the notification did not arrive within 10 s; got [{string.Join(", ", Received)}]");
                }
                await Connection.WaitAsync(TimeSpan.FromMilliseconds(200));
            }
        }

        public ValueTask DisposeAsync() => Connection.DisposeAsync();
    }
}
