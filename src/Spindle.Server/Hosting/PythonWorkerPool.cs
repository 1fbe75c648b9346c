using System.Diagnostics;

namespace Spindle.Server.Hosting;

/// <summary>
/// Local py-std worker processes for <c>spindle serve --python-workers N</c>: the quick way to run Python
/// activities on one machine. Each process is an ordinary external worker (HTTP to this server); the pool only
/// starts them, restarts one that dies, and on shutdown sends SIGTERM so they drain while the server still serves.
/// </summary>
public sealed partial class PythonWorkerPool : IAsyncDisposable
{
    private static readonly TimeSpan RestartDelay = TimeSpan.FromSeconds(1);
    private readonly ServerOptions _options;
    private readonly Uri _apiUrl;
    private readonly string _sdkPath;
    private readonly ILogger<PythonWorkerPool> _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _slots = [];
    private readonly Lock _lock = new();
    private readonly HashSet<Process> _processes = [];

    private readonly (string ClientId, string Secret) _credentials;

    public PythonWorkerPool(ServerOptions options, Uri apiUrl, (string ClientId, string Secret) credentials, ILogger<PythonWorkerPool> logger)
    {
        _credentials = credentials;
        _options = options;
        _apiUrl = apiUrl;
        _logger = logger;
        _sdkPath = options.PythonSdkPath ?? FindSdk()
            ?? throw new InvalidOperationException(
                "--python-workers needs the Python SDK: set SPINDLE_PYTHON_SDK to the directory that contains the 'spindle' package");
    }

    public void Start()
    {
        for (var i = 0; i < _options.PythonWorkers; i++)
        {
            var slot = i;
            _slots.Add(Task.Run(() => KeepRunningAsync(slot, _stopping.Token)));
        }
    }

    private async Task KeepRunningAsync(int slot, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            Process process;
            try
            {
                process = StartProcess(slot);
            }
            catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                LogStartFailed(ex, _options.PythonExecutable);
                return;
            }
            lock (_lock)
            {
                _processes.Add(process);
            }
            await process.WaitForExitAsync(CancellationToken.None);
            lock (_lock)
            {
                _processes.Remove(process);
            }
            if (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            LogWorkerExited(slot, process.ExitCode);
            process.Dispose();
            await Task.Delay(RestartDelay, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private Process StartProcess(int slot)
    {
        var info = new ProcessStartInfo(_options.PythonExecutable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = false,
            RedirectStandardError = false,
        };
        info.ArgumentList.Add("-m");
        info.ArgumentList.Add("spindle.workers.std");
        var existing = Environment.GetEnvironmentVariable("PYTHONPATH");
        info.Environment["PYTHONPATH"] = string.IsNullOrEmpty(existing) ? _sdkPath : _sdkPath + Path.PathSeparator + existing;
        info.Environment["SPINDLE_API_URL"] = _apiUrl.ToString().TrimEnd('/');
        info.Environment["SPINDLE_WORKER"] = "py-std";
        info.Environment["SPINDLE_WORKER_ID"] = $"py-std-{Environment.ProcessId}-{slot}";
        info.Environment["SPINDLE_CLIENT_ID"] = _credentials.ClientId;
        info.Environment["SPINDLE_CLIENT_SECRET"] = _credentials.Secret;
        return Process.Start(info) ?? throw new InvalidOperationException("the Python worker did not start");
    }

    /// <summary>SIGTERM to every worker (they drain and report), then wait for them to exit.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        await _stopping.CancelAsync();
        List<Process> running;
        lock (_lock)
        {
            running = [.. _processes];
        }
        foreach (var p in running)
        {
            SendTerminate(p);
        }
        using var deadline = new CancellationTokenSource(timeout);
        foreach (var p in running)
        {
            try
            {
                await p.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                p.Kill(entireProcessTree: true);
            }
        }
        await Task.WhenAll(_slots);
    }

    private static void SendTerminate(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                // .NET only sends SIGKILL itself; SIGTERM is what lets the worker drain.
                using var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                kill?.WaitForExit();
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>The repository's <c>sdk/python/src</c> (or <c>sdk/python</c>), found above the running binary.</summary>
    private static string? FindSdk()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (var candidate in new[] { Path.Combine(dir.FullName, "sdk", "python", "src"), Path.Combine(dir.FullName, "sdk", "python") })
            {
                if (Directory.Exists(Path.Combine(candidate, "spindle")))
                {
                    return candidate;
                }
            }
        }
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested)
        {
            await StopAsync(TimeSpan.FromSeconds(30));
        }
        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not start the py-std worker with {Python}")]
    private partial void LogStartFailed(Exception exception, string python);

    [LoggerMessage(Level = LogLevel.Warning, Message = "py-std worker {Slot} exited with code {ExitCode}; restarting")]
    private partial void LogWorkerExited(int slot, int exitCode);
}
