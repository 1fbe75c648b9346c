using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Spindle.Storage;
using Spindle.Storage.Postgres;
using Spindle.TestSupport;

namespace Spindle.Cluster.Tests;

/// <summary>
/// A server alone on its database sends no wake-up notifications (nobody but itself would hear them), and starts
/// sending as soon as another server's listener is there. An observer connection listening under another name hears
/// exactly what is sent, without being counted as a server.
/// </summary>
[Collection(PostgresFixture.CollectionName)]
public sealed class LoneServerNotifyTests(PostgresFixture postgres)
{
    private const string Single = """
        name: single
        activities:
          - {key: only, activity_name: echo}
        """;

    /// <summary>Servers count one another at least once a second; the bound is generous for a busy machine.</summary>
    private static async Task<bool> EventuallyAsync(Func<bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!done() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
        return done();
    }

    /// <summary>Runs one workflow to completion through <paramref name="server"/> and returns its id.</summary>
    private static async Task<string> RunOneAsync(InProcessServer server)
    {
        var id = await server.Api.SubmitAsync("single");
        var activity = Assert.Single(await server.Api.PollAsync("w", 1, waitSeconds: 5))!;
        var (status, body) = await server.Api.PostAsync($"/api/v1/activities/{activity["activity_id"]}/complete",
            new JsonObject { ["worker_id"] = "w", ["output"] = new JsonObject() });
        Assert.True(status == 200, body.ToJsonString());
        return id;
    }

    /// <summary>A plain LISTEN on <c>spindle_finished</c> that records the payloads it hears.</summary>
    private sealed class Observer : IAsyncDisposable
    {
        private readonly NpgsqlConnection _conn;

        private Observer(NpgsqlConnection conn) => _conn = conn;

        public ConcurrentQueue<string> Finished { get; } = new();

        public static async Task<Observer> StartAsync(string connectionString, string applicationName = "observer")
        {
            var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { ApplicationName = applicationName, Pooling = false }.ConnectionString);
            await conn.OpenAsync();
            var observer = new Observer(conn);
            conn.Notification += (_, e) => observer.Finished.Enqueue(e.Payload);
            await using var listen = new NpgsqlCommand($"LISTEN {PostgresChannels.Finished}", conn);
            await listen.ExecuteNonQueryAsync();
            return observer;
        }

        /// <summary>Reads notifications until <paramref name="payload"/> has arrived (or 30 s passed).</summary>
        public async Task<bool> HearsAsync(string payload)
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                while (!Finished.Contains(payload))
                {
                    await _conn.WaitAsync(deadline.Token);
                }
            }
            catch (OperationCanceledException)
            {
            }
            return Finished.Contains(payload);
        }

        public ValueTask DisposeAsync() => _conn.DisposeAsync();
    }

    [Fact]
    public async Task Notifications_LoneServer_SendsNoneUntilASecondServerListens()
    {
        var database = await postgres.CreateDatabaseAsync();
        await using var a = await InProcessServer.StartAsync(database);
        var sender = ((PostgresWorkflowStore)a.Services.GetRequiredService<IWorkflowStore>()).Notifications;
        await using var observer = await Observer.StartAsync(database);
        await a.Api.DeployAsync(Single);

        var alone = await RunOneAsync(a);
        await sender.FlushAsync();
        var sentAlone = sender.SentTransactions;

        await using var b = await InProcessServer.StartAsync(database);
        var noticed = await EventuallyAsync(() => sender.OthersListening);
        var together = await RunOneAsync(a);
        var heard = await observer.HearsAsync(together);
        var sentTogether = sender.SentTransactions;

        await b.StopAsync();
        var aloneAgain = await EventuallyAsync(() => !sender.OthersListening);

        Assert.Equal(0, sentAlone);
        Assert.True(noticed, "server A did not notice server B's listener");
        Assert.True(heard, "the observer did not hear the workflow that finished while B listened");
        Assert.True(sentTogether > 0);
        Assert.DoesNotContain(alone, observer.Finished); // in commit order, it would have arrived first
        Assert.True(aloneAgain, "server A kept sending after server B stopped");
    }

    [Fact]
    public async Task Notifications_ListenerOfAnotherRole_IsCountedByANonSuperuserServer()
    {
        // pg_stat_activity hides most columns of other roles' sessions from a plain role; application_name is not
        // among them, so a server running as one role sees a listener running as another.
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var (owner, other) = ("spindle_a_" + suffix, "spindle_b_" + suffix);
        var name = "roles_" + suffix;
        await using (var admin = new NpgsqlConnection(postgres.AdminConnectionString))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE ROLE {owner} LOGIN; CREATE ROLE {other} LOGIN", admin);
            await create.ExecuteNonQueryAsync();
            await using var db = new NpgsqlCommand($"CREATE DATABASE {name} OWNER {owner}", admin);
            await db.ExecuteNonQueryAsync();
        }
        string As(string role) => new NpgsqlConnectionStringBuilder(postgres.ConnectionStringFor(name)) { Username = role }.ConnectionString;

        await using var a = await InProcessServer.StartAsync(As(owner));
        var sender = ((PostgresWorkflowStore)a.Services.GetRequiredService<IWorkflowStore>()).Notifications;
        var aloneAtFirst = await EventuallyAsync(() => !sender.OthersListening);

        await using var otherListener = await Observer.StartAsync(As(other), PostgresChannels.ListenerApplicationName);
        var noticed = await EventuallyAsync(() => sender.OthersListening);
        await a.Api.DeployAsync(Single);
        var id = await RunOneAsync(a);
        var heard = await otherListener.HearsAsync(id);

        Assert.True(aloneAtFirst);
        Assert.True(noticed, "a server running as a plain role did not see another role's listener");
        Assert.True(heard);
    }
}
