using System.Diagnostics;

namespace Spindle.Server.Hosting;

/// <summary>
/// Local py-std worker processes for <c>spindle serve --python-workers N</c>: the quick way to run Python
/// activities on one machine. Each process is an ordinary external worker (HTTP to this server); the pool only
/// starts them, restarts one that dies, and on shutdown sends SIGTERM so they drain while the server still serves.
/// The workers run user code, so they get none of the server's trust: an environment built from an allow-list
/// (their API URL, their own client credential, routing key and SDK path; never the server's secrets or data
/// directory), and when the server runs as root they run as <c>nobody</c> (setpriv), so that they can read neither
/// <c>/proc/&lt;server&gt;/environ</c> nor the data directory. As another user they run in a bubblewrap sandbox
/// (<see cref="PythonWorkerSandbox"/>) that hides both; without bubblewrap they share the server's user, which is
/// logged as a warning at start.
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

    /// <summary>Set when the server is not root and bubblewrap works here; null otherwise.</summary>
    private readonly PythonWorkerSandbox? _sandbox;

    /// <summary>Variables of the server's environment a worker may inherit (exact names); see <see cref="AllowedPrefixes"/>.</summary>
    private static readonly HashSet<string> AllowedNames = new(StringComparer.Ordinal)
    {
        "PATH", "LANG", "LANGUAGE", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR", "SPINDLE_LOG_LEVEL", "SPINDLE_HTTP_CLIENT",
        "SPINDLE_WORKER_MAX_ACTIVITIES", "SPINDLE_WORKER_POLL_MAX_ACTIVITIES",
    };

    /// <summary>Locale, numeric libraries' thread settings, and the py-std worker's own settings (none secret).</summary>
    private static readonly string[] AllowedPrefixes = ["LC_", "OPENBLAS_", "OMP_", "MKL_", "NUMEXPR_", "SPINDLE_PY_STD_"];

    /// <summary>How a worker is started as an unprivileged user when the server runs as root.</summary>
    private const string SetprivPath = "/usr/bin/setpriv";

    public PythonWorkerPool(ServerOptions options, Uri apiUrl, (string ClientId, string Secret) credentials, ILogger<PythonWorkerPool> logger)
    {
        _credentials = credentials;
        _options = options;
        _apiUrl = apiUrl;
        _logger = logger;
        _sdkPath = options.PythonSdkPath ?? FindSdk()
            ?? throw new InvalidOperationException(
                "--python-workers needs the Python SDK: set SPINDLE_PYTHON_SDK to the directory that contains the 'spindle' package");
        if (Environment.IsPrivilegedProcess)
        {
            if (!File.Exists(SetprivPath))
            {
                throw new InvalidOperationException(
                    $"--python-workers as root starts the workers as 'nobody' with {SetprivPath} (Debian package util-linux), which is missing");
            }
            RestrictDataDirectory(options.DataDir);
        }
        else if (OperatingSystem.IsLinux())
        {
            _sandbox = PythonWorkerSandbox.TryCreate(options, options.PythonExecutable, _sdkPath, out var problem);
            if (_sandbox is null)
            {
                LogSharedUser(Environment.UserName, problem ?? "unknown");
            }
            else
            {
                var dataDir = Path.GetFullPath(options.DataDir);
                LogSandboxed(_sandbox.Bwrap, dataDir);
            }
        }
        else
        {
            LogSharedUser(Environment.UserName, "bubblewrap sandboxes need Linux");
        }
    }

    /// <summary>The data directory holds the signing key, the admin credential and the database: owner only, so
    /// that the workers (running as another user) cannot even list it.</summary>
    private void RestrictDataDirectory(string dataDir)
    {
        if (OperatingSystem.IsWindows() || !Directory.Exists(dataDir))
        {
            return;
        }
        var mode = File.GetUnixFileMode(dataDir);
        var others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
        if ((mode & others) != 0)
        {
            File.SetUnixFileMode(dataDir, mode & ~others);
            LogDataDirRestricted(dataDir);
        }
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
            var privateTmp = _sandbox is null ? null : PythonWorkerSandbox.CreatePrivateTmp(slot);
            try
            {
                process = StartProcess(slot, privateTmp);
            }
            catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                LogStartFailed(ex, _options.PythonExecutable);
                if (privateTmp is not null)
                {
                    PythonWorkerSandbox.DeletePrivateTmp(privateTmp);
                }
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
            if (privateTmp is not null)
            {
                PythonWorkerSandbox.DeletePrivateTmp(privateTmp);
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

    private Process StartProcess(int slot, string? privateTmp)
    {
        var asNobody = Environment.IsPrivilegedProcess;
        var sandboxed = _sandbox is not null && privateTmp is not null;
        var info = new ProcessStartInfo(asNobody ? SetprivPath : sandboxed ? _sandbox!.Bwrap : _options.PythonExecutable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = false,
            RedirectStandardError = false,
            // Not the server's working directory (often its data directory's parent, or the data directory itself).
            WorkingDirectory = Path.GetTempPath(),
        };
        if (asNobody)
        {
            foreach (var arg in new[] { "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all", _options.PythonExecutable })
            {
                info.ArgumentList.Add(arg);
            }
        }
        else if (sandboxed)
        {
            foreach (var arg in _sandbox!.Command(privateTmp!).Skip(1))
            {
                info.ArgumentList.Add(arg);
            }
            info.ArgumentList.Add(_options.PythonExecutable);
        }
        info.ArgumentList.Add("-m");
        info.ArgumentList.Add("spindle.py_std");
        // An allow-list, not the server's environment (SPINDLE_SECRET_*, the data directory, database URLs).
        info.Environment.Clear();
        foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            if (entry.Key is string name && entry.Value is string value
                && (AllowedNames.Contains(name) || AllowedPrefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal))))
            {
                info.Environment[name] = value;
            }
        }
        if (!info.Environment.ContainsKey("PATH"))
        {
            info.Environment["PATH"] = "/usr/local/bin:/usr/bin:/bin";
        }
        // In the sandbox the worker's private directory is its /tmp.
        info.Environment["HOME"] = sandboxed ? "/tmp" : Path.GetTempPath();
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
            // bwrap does not pass signals on: the worker below it gets the SIGTERM (bwrap follows when it exits).
            var target = _sandbox is null ? p.Id : PythonWorkerSandbox.FindWorker(p.Id, _options.PythonExecutable) ?? p.Id;
            SendTerminate(p, target);
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

    private static void SendTerminate(Process process, int pid)
    {
        try
        {
            if (!process.HasExited)
            {
                // .NET only sends SIGKILL itself; SIGTERM is what lets the worker drain.
                using var kill = Process.Start("kill", ["-TERM", pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
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

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "py-std workers run as this server's user {User} without a sandbox ({Problem}): a script that escapes its own sandbox could read the server's data directory. Install bubblewrap, or run the workers as their own user or in their own container (spindle serve without --python-workers, and `python3 -m spindle.py_std` started there)")]
    private partial void LogSharedUser(string user, string problem);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "py-std workers run in a bubblewrap sandbox ({Bwrap}): own PID namespace and /proc, read-only files, {DataDir} hidden")]
    private partial void LogSandboxed(string bwrap, string dataDir);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Data directory {DataDir} made owner-only: the py-std workers run as another user and must not read it")]
    private partial void LogDataDirRestricted(string dataDir);
}
