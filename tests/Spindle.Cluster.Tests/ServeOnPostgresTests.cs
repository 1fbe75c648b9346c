using System.Globalization;
using Npgsql;
using Spindle.TestSupport;

namespace Spindle.Cluster.Tests;

/// <summary><c>spindle serve --database-url</c> at start-up: it refuses what it must not touch, and says why.</summary>
[Collection(PostgresFixture.CollectionName)]
public sealed class ServeOnPostgresTests(PostgresFixture postgres) : IDisposable
{
    private readonly string _logs = Directory.CreateTempSubdirectory("spindle-serve-pg-").FullName;
    private readonly List<SpindleProcess> _processes = [];

    [Fact]
    public async Task Serve_SchemaNewerThanThisBuild_RefusesToStartWithClearMessage()
    {
        var name = "newer_" + Guid.NewGuid().ToString("N")[..8];
        await postgres.CreateDatabaseAsync(name);
        var url = $"postgres://postgres@{postgres.Host}:{postgres.Port}/{name}";

        // A first server creates the schema; then a (pretend) newer Spindle upgrades it past what this build knows.
        var first = await StartServeAsync("first", url);
        await first.Process.WaitHealthyAsync($"http://127.0.0.1:{first.Port}", TimeSpan.FromSeconds(60));
        first.Process.Kill();
        await using (var conn = new NpgsqlConnection(postgres.ConnectionStringFor(name)))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)", conn);
            await cmd.ExecuteNonQueryAsync();
        }

        var second = await StartServeAsync("second", url);
        var exit = await second.Process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, exit);
        var log = second.Process.Tail(200);
        Assert.Contains("schema is version 999, newer than this Spindle build knows", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_DatabaseUrlUnreadable_ExitsWithUsageError()
    {
        var serve = await StartServeAsync("bad-url", "postgres://host/db?no_such_setting=1");
        var exit = await serve.Process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2, exit);
        Assert.Contains("--database-url", serve.Process.Tail(), StringComparison.Ordinal);
    }

    private async Task<(SpindleProcess Process, int Port)> StartServeAsync(string name, string url)
    {
        var port = SpindleProcess.FreePort();
        var dataDir = Path.Combine(_logs, name + "-data");
        var process = await SpindleProcess.StartAsync(name, _logs, "serve", "--insecure-dev", "--no-worker",
            "--port", port.ToString(CultureInfo.InvariantCulture), "--data-dir", dataDir, "--database-url", url);
        _processes.Add(process);
        return (process, port);
    }

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            p.Dispose();
        }
        try
        {
            Directory.Delete(_logs, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
