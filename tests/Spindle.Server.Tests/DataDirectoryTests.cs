using System.Collections.Concurrent;
using System.Runtime.Versioning;
using Microsoft.Extensions.DependencyInjection;
using Spindle.Server.Auth;

namespace Spindle.Server.Tests;

/// <summary>The data directory is private: created 0700, every file in it 0600, wider modes reported at start.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class DataDirectoryTests : IDisposable
{
    private const UnixFileMode Dir0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode File0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Wide0755 = Dir0700 | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
    private const UnixFileMode Wide0644 = File0600 | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private readonly string _parent = Directory.CreateTempSubdirectory("spindle-datadir-").FullName;

    private string DataDir => Path.Combine(_parent, "data");

    [Fact]
    public async Task Start_NewDataDir_DirectoryIs0700AndEveryFileIncludingWalIs0600()
    {
        await using (var running = await RunningAsync(new ConcurrentQueue<string>()))
        {
            Assert.Equal(Dir0700, File.GetUnixFileMode(DataDir));
            var files = Directory.GetFiles(DataDir);
            Assert.Contains(Path.Combine(DataDir, "spindle.db-wal"), files);
            Assert.Contains(Path.Combine(DataDir, "spindle.db-shm"), files);
            Assert.Contains(Path.Combine(DataDir, "signing-key.pem"), files);
            Assert.Contains(Path.Combine(DataDir, AuthBootstrap.AdminCredentialFile), files);
            Assert.All(files, f => Assert.True(File.GetUnixFileMode(f) == File0600, $"{f} is {File.GetUnixFileMode(f)}"));
        }
    }

    [Fact]
    public async Task Start_UserWidenedModes_WarnsAboutDirectoryAndTightensServerFiles()
    {
        await (await RunningAsync(new ConcurrentQueue<string>())).DisposeAsync();
        File.SetUnixFileMode(DataDir, Wide0755);
        var db = Path.Combine(DataDir, "spindle.db");
        var key = Path.Combine(DataDir, "signing-key.pem");
        File.SetUnixFileMode(db, Wide0644);
        File.SetUnixFileMode(key, Wide0644);

        var warnings = new ConcurrentQueue<string>();
        await using (await RunningAsync(warnings))
        {
            Assert.Equal(File0600, File.GetUnixFileMode(db));
            Assert.Equal(File0600, File.GetUnixFileMode(key));
            Assert.All(Directory.GetFiles(DataDir), f => Assert.Equal(File0600, File.GetUnixFileMode(f)));
        }
        Assert.Contains(warnings, w => w.Contains(DataDir, StringComparison.Ordinal) && w.Contains("0755", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains(db, StringComparison.Ordinal) && w.Contains("0600", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains(key, StringComparison.Ordinal));
    }

    private async Task<Running> RunningAsync(ConcurrentQueue<string> warnings)
    {
        var app = SpindleServer.Build(new ServerOptions { Port = 0, DataDir = DataDir, NoWorker = true }, logging =>
        {
            logging.SetMinimumLevel(LogLevel.Warning);
            logging.AddProvider(new Capture(warnings));
        });
        var running = new Running(app, await SpindleServer.StartAsync(app, CancellationToken.None));
        _ = app.Services.GetRequiredService<SigningKey>(); // made on first use (the first token) otherwise
        return running;
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_parent, recursive: true);
    }

    private sealed record Running(WebApplication App, string Url) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await App.StopAsync();
            await App.DisposeAsync();
        }
    }

    /// <summary>Keeps the text of every warning the server logs.</summary>
    private sealed class Capture(ConcurrentQueue<string> warnings) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(warnings);

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<string> warnings) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    warnings.Enqueue(formatter(state, exception));
                }
            }
        }
    }
}
