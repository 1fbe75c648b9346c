using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Npgsql;
using Xunit;

namespace Spindle.TestSupport;

/// <summary>
/// A throwaway PostgreSQL cluster for tests: <c>initdb</c> into a temporary directory, start on a free loopback
/// port with trust authentication, create database <see cref="DatabaseName"/>; stop (<c>pg_ctl stop -m immediate</c>)
/// and delete everything on dispose. When the test process runs as root, the server binaries run as the
/// <c>postgres</c> OS user (PostgreSQL refuses to run as root).
/// <para>
/// Use it as an xunit collection fixture. xunit only finds collection definitions in the test assembly itself, so
/// each test project declares one line:
/// <code>[CollectionDefinition(PostgresFixture.CollectionName)] public sealed class PostgresCollection : ICollectionFixture&lt;PostgresFixture&gt;;</code>
/// and marks its test classes with <c>[Collection(PostgresFixture.CollectionName)]</c>.
/// </para>
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    /// <summary>The collection name to use in <c>[CollectionDefinition]</c> and <c>[Collection]</c>.</summary>
    public const string CollectionName = "PostgreSQL";

    /// <summary>Environment variable that overrides where <c>initdb</c> and <c>pg_ctl</c> are looked up.</summary>
    public const string BinDirectoryVariable = "SPINDLE_PG_BIN";

    private const string OsUser = "postgres";
    private const string SuperUser = "postgres";

    private string? _root;
    private bool _started;
    private EventHandler? _processExitHandler;

    /// <summary>Loopback address the server listens on.</summary>
    public string Host { get; } = "127.0.0.1";

    /// <summary>The server's TCP port (chosen at start).</summary>
    public int Port { get; private set; }

    /// <summary>Name of the database created at start.</summary>
    public string DatabaseName { get; } = "spindle_test";

    /// <summary>Directory holding <c>initdb</c>, <c>pg_ctl</c> and <c>postgres</c>.</summary>
    public string BinDirectory { get; private set; } = "";

    /// <summary>The cluster's data directory.</summary>
    public string DataDirectory => Path.Combine(Root, "data");

    /// <summary>The server log file (useful when a test fails).</summary>
    public string LogFile => Path.Combine(Root, "postgres.log");

    /// <summary>Connection string of <see cref="DatabaseName"/> as superuser <c>postgres</c> (no password).</summary>
    public string ConnectionString => ConnectionStringFor(DatabaseName);

    /// <summary>Connection string of the <c>postgres</c> maintenance database.</summary>
    public string AdminConnectionString => ConnectionStringFor("postgres");

    private string Root => _root ?? throw new InvalidOperationException("The PostgreSQL fixture has not been started.");

    /// <summary>A connection string for another database of this cluster.</summary>
    public string ConnectionStringFor(string database) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = Host,
            Port = Port,
            Username = SuperUser,
            Database = database,
            Pooling = true,
            Timeout = 15,
        }.ConnectionString;

    /// <summary>Creates a fresh, empty database (named <c>test_&lt;random&gt;</c> unless given) and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string? name = null, CancellationToken cancellationToken = default)
    {
        name ??= "test_" + Guid.NewGuid().ToString("N")[..12];
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name.Replace("\"", "\"\"", StringComparison.Ordinal)}\"", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
        return ConnectionStringFor(name);
    }

    /// <summary>Finds the PostgreSQL server binaries, or null: $SPINDLE_PG_BIN, /usr/lib/postgresql/15/bin, other versions, then PATH.</summary>
    public static string? FindBinDirectory()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable(BinDirectoryVariable) is { Length: > 0 } fromEnv)
        {
            candidates.Add(fromEnv);
        }

        candidates.Add("/usr/lib/postgresql/15/bin");
        if (Directory.Exists("/usr/lib/postgresql"))
        {
            candidates.AddRange(Directory.GetDirectories("/usr/lib/postgresql")
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), out int v) ? v : 0)
                .Select(d => Path.Combine(d, "bin")));
        }

        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string initdb = Path.Combine(dir, "initdb");
            if (File.Exists(initdb))
            {
                FileSystemInfo? target = File.ResolveLinkTarget(initdb, returnFinalTarget: true);
                candidates.Add(Path.GetDirectoryName(target?.FullName ?? initdb)!);
            }
        }

        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")));
    }

    public async Task InitializeAsync()
    {
        BinDirectory = FindBinDirectory() ?? throw new InvalidOperationException(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found in $" + BinDirectoryVariable +
            ", /usr/lib/postgresql/*/bin or PATH. Install PostgreSQL by running the repository's setup script " +
            "./scripts/setup.sh (also run by ./test.sh and .ci/run; it installs Debian's postgresql package, version 15), " +
            "or point " + BinDirectoryVariable + " at an existing bin directory.");

        _root = Directory.CreateTempSubdirectory("spindle-pg-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(_root, "sock"));
            if (Environment.IsPrivilegedProcess)
            {
                await RunAsync("chown", ["-R", $"{OsUser}:{OsUser}", _root], asPostgres: false, TimeSpan.FromSeconds(30));
            }

            await RunAsync(
                Path.Combine(BinDirectory, "initdb"),
                ["-D", DataDirectory, "--username", SuperUser, "--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync"],
                asPostgres: true,
                TimeSpan.FromSeconds(120));

            _processExitHandler = (_, _) => StopQuietly();
            AppDomain.CurrentDomain.ProcessExit += _processExitHandler;

            Exception? lastError = null;
            for (int attempt = 0; attempt < 3 && !_started; attempt++)
            {
                Port = GetFreePort();
                try
                {
                    await StartServerAsync();
                }
                catch (InvalidOperationException ex)
                {
                    // Most likely the port was taken between choosing and binding it: try another.
                    lastError = ex;
                }
            }

            if (!_started)
            {
                throw new InvalidOperationException($"PostgreSQL did not start. Server log:{Environment.NewLine}{ReadLog()}", lastError);
            }

            await CreateDatabaseAsync(DatabaseName);
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Restarts the server on the same port, as an operator's restart would: a fast shutdown disconnects every client
    /// and flushes committed work, then, after <paramref name="downtime"/>, the server starts again. Only the pools
    /// of plain connection strings (this fixture's and the tests' own) are cleared; an <c>NpgsqlDataSource</c> of the
    /// code under test keeps its broken connections and must recover by itself.
    /// </summary>
    public async Task RestartAsync(TimeSpan downtime, CancellationToken cancellationToken = default)
    {
        await RunAsync(Path.Combine(BinDirectory, "pg_ctl"), ["stop", "-D", DataDirectory, "-m", "fast", "-w", "-t", "60"], asPostgres: true,
            TimeSpan.FromSeconds(90));
        _started = false;
        NpgsqlConnection.ClearAllPools();
        await Task.Delay(downtime, cancellationToken);
        await StartServerAsync();
    }

    private async Task StartServerAsync()
    {
        string serverOptions = $"-p {Port} -k {Path.Combine(Root, "sock")} -c listen_addresses={Host} " +
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200";
        await RunAsync(
            Path.Combine(BinDirectory, "pg_ctl"),
            ["start", "-D", DataDirectory, "-l", LogFile, "-w", "-t", "60", "-o", serverOptions],
            asPostgres: true,
            TimeSpan.FromSeconds(90));
        _started = true;
    }

    public Task DisposeAsync()
    {
        if (_processExitHandler is not null)
        {
            AppDomain.CurrentDomain.ProcessExit -= _processExitHandler;
            _processExitHandler = null;
        }

        StopQuietly();
        if (_root is not null)
        {
            try
            {
                Directory.Delete(_root, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Best effort: it is a temporary directory.
            }

            _root = null;
        }

        return Task.CompletedTask;
    }

    private void StopQuietly()
    {
        if (!_started || _root is null)
        {
            return;
        }

        _started = false;
        NpgsqlConnection.ClearAllPools();
        try
        {
            RunAsync(Path.Combine(BinDirectory, "pg_ctl"), ["stop", "-D", DataDirectory, "-m", "immediate", "-w", "-t", "30"], asPostgres: true, TimeSpan.FromSeconds(45))
                .GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
        {
            // Already stopped, or it cannot be helped during teardown.
        }
    }

    private string ReadLog()
    {
        try
        {
            return File.Exists(LogFile) ? File.ReadAllText(LogFile) : "(no log file)";
        }
        catch (IOException ex)
        {
            return $"(log unreadable: {ex.Message})";
        }
    }

    private static int GetFreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task RunAsync(string fileName, string[] arguments, bool asPostgres, TimeSpan timeout)
    {
        var startInfo = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = _root ?? Path.GetTempPath(),
        };

        if (asPostgres && Environment.IsPrivilegedProcess)
        {
            if (File.Exists("/usr/sbin/runuser") || File.Exists("/sbin/runuser"))
            {
                startInfo.FileName = "runuser";
                startInfo.ArgumentList.Add("-u");
                startInfo.ArgumentList.Add(OsUser);
                startInfo.ArgumentList.Add("--");
                startInfo.ArgumentList.Add(fileName);
                foreach (string argument in arguments)
                {
                    startInfo.ArgumentList.Add(argument);
                }
            }
            else
            {
                startInfo.FileName = "su";
                startInfo.ArgumentList.Add(OsUser);
                startInfo.ArgumentList.Add("-s");
                startInfo.ArgumentList.Add("/bin/sh");
                startInfo.ArgumentList.Add("-c");
                startInfo.ArgumentList.Add(string.Join(' ', new[] { fileName }.Concat(arguments).Select(ShellQuote)));
            }
        }
        else
        {
            startInfo.FileName = fileName;
            foreach (string argument in arguments)
            {
                startInfo.ArgumentList.Add(argument);
            }
        }

        using var process = new Process { StartInfo = startInfo };
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"'{Path.GetFileName(fileName)} {string.Join(' ', arguments)}' timed out after {timeout.TotalSeconds} s.{Environment.NewLine}{output}");
        }

        if (process.ExitCode != 0)
        {
            string text;
            lock (output)
            {
                text = output.ToString();
            }

            throw new InvalidOperationException($"'{Path.GetFileName(fileName)} {string.Join(' ', arguments)}' failed with exit code {process.ExitCode}:{Environment.NewLine}{text}");
        }
    }

    private static string ShellQuote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
