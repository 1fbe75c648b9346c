using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Spindle.Cluster.Tests;

/// <summary>
/// A real <c>spindle</c> process (<c>serve</c> or <c>worker</c>) as an operator runs it, built by the repository's
/// <c>./spindle</c> launcher. Output goes to a log file kept for diagnosis. <see cref="Kill"/> is SIGKILL: no
/// shutdown hooks, no drain.
/// </summary>
public sealed class SpindleProcess : IDisposable
{
    private static readonly SemaphoreSlim BuildOnce = new(1, 1);
    private static string? _cliDll;

    private readonly string[] _arguments;
    private Process? _process;
    private StreamWriter? _log;

    private SpindleProcess(string name, string logDirectory, string[] arguments)
    {
        Name = name;
        LogFile = Path.Combine(logDirectory, name + ".log");
        _arguments = arguments;
    }

    public string Name { get; }

    public string LogFile { get; }

    public bool HasExited => _process is null || _process.HasExited;

    public static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Spindle.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    /// <summary>
    /// Builds the CLI through the launcher once per test run, then starts the built program directly: a restart in
    /// the middle of a fault test must not wait for (or race with) a rebuild.
    /// </summary>
    public static async Task<string> EnsureBuiltAsync()
    {
        await BuildOnce.WaitAsync();
        try
        {
            if (_cliDll is not null)
            {
                return _cliDll;
            }
            var root = RepositoryRoot();
            var info = new ProcessStartInfo("bash") { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true };
            info.ArgumentList.Add(Path.Combine(root, "spindle"));
            info.ArgumentList.Add("--version");
            using var build = Process.Start(info)!;
            var stderr = build.StandardError.ReadToEndAsync();
            var stdout = build.StandardOutput.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
            await build.WaitForExitAsync(timeout.Token);
            Assert.True(build.ExitCode == 0, $"./spindle --version failed:\n{await stdout}\n{await stderr}");
            _cliDll = Path.Combine(root, ".build", "cli", "spindle.dll");
            return _cliDll;
        }
        finally
        {
            BuildOnce.Release();
        }
    }

    public static async Task<SpindleProcess> StartAsync(string name, string logDirectory, params string[] arguments)
    {
        var process = new SpindleProcess(name, logDirectory, arguments);
        await process.StartAsync();
        return process;
    }

    public async Task StartAsync()
    {
        var dll = await EnsureBuiltAsync();
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = RepositoryRoot(),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add(dll);
        foreach (var argument in _arguments)
        {
            info.ArgumentList.Add(argument);
        }
        info.Environment["DOTNET_gcServer"] = "0"; // several processes share two cores
        _log?.Dispose();
        _log = new StreamWriter(LogFile, append: true) { AutoFlush = true };
        var log = _log;
        await log.WriteLineAsync($"==== start {DateTime.UtcNow:O}: spindle {string.Join(' ', _arguments)}");
        _process?.Dispose();
        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, e) => Write(log, e.Data);
        _process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Waits for the process to end by itself; returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process!.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>SIGKILL, then wait until the process is gone.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit();
        }
        Write(_log, $"==== SIGKILL {DateTime.UtcNow:O}");
    }

    /// <summary>Waits until a server answers <c>/health</c>.</summary>
    public async Task WaitHealthyAsync(string baseUrl, TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            Assert.False(HasExited, $"{Name} exited during start-up; log {LogFile}:\n{Tail()}");
            try
            {
                using var health = await http.GetAsync("/health");
                if (health.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }
            Assert.True(DateTime.UtcNow < deadline, $"{Name} did not become healthy; log {LogFile}:\n{Tail()}");
            await Task.Delay(100);
        }
    }

    public string Tail(int lines = 40)
    {
        try
        {
            using var stream = new FileStream(LogFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            var all = reader.ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines));
        }
        catch (IOException ex)
        {
            return ex.Message;
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void Write(StreamWriter? log, string? line)
    {
        if (log is null || line is null)
        {
            return;
        }
        lock (log)
        {
            try
            {
                log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    public void Dispose()
    {
        Kill();
        _process?.Dispose();
        if (_log is not null)
        {
            lock (_log)
            {
                _log.Dispose();
            }
        }
    }
}
