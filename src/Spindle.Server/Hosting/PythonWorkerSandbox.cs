using System.Diagnostics;

namespace Spindle.Server.Hosting;

/// <summary>
/// The bubblewrap sandbox around a local py-std worker when the server does not run as root (as root the workers
/// run as <c>nobody</c> instead). Without it the worker would share the server's user, and so could read
/// <c>/proc/&lt;server&gt;/environ</c> (the <c>SPINDLE_SECRET_*</c> values) and the data directory. Inside: the
/// machine's files read-only, the data directory (and a signing key kept elsewhere) hidden, a PID namespace and
/// <c>/proc</c> of its own (no server process to look at), a private <c>/tmp</c>, and the host's network (the worker
/// talks HTTP to the server over loopback). The worker still puts each script interpreter in a bubblewrap sandbox
/// of its own, nested in this one (unprivileged user namespaces nest).
/// </summary>
internal sealed class PythonWorkerSandbox
{
    private static readonly string[] Candidates = ["/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap"];

    private readonly string[] _hidden;
    private readonly string[] _masked;
    private readonly string[] _keptUnderTmp;

    private PythonWorkerSandbox(string bwrap, string[] hidden, string[] masked, string[] kept)
    {
        Bwrap = bwrap;
        _hidden = hidden;
        _masked = masked;
        // The private /tmp replaces the host's, so what the worker needs from there (an SDK in a checkout under
        // /tmp, as CI clones it) is bound back, read-only.
        _keptUnderTmp = [.. kept.Select(Path.GetFullPath).Where(p => p.StartsWith("/tmp/", StringComparison.Ordinal)).Distinct(StringComparer.Ordinal)];
    }

    public string Bwrap { get; }

    /// <summary>The sandbox for this server, or null with the reason when bubblewrap is missing or does not work
    /// here (a container without user namespaces, say): the probe starts the real sandbox with the interpreter
    /// importing the worker module.</summary>
    public static PythonWorkerSandbox? TryCreate(ServerOptions options, string python, string sdkPath, out string? problem)
    {
        var bwrap = Candidates.FirstOrDefault(File.Exists);
        if (bwrap is null)
        {
            problem = "bwrap (Debian package bubblewrap) is not installed";
            return null;
        }
        var dataDir = Path.GetFullPath(options.DataDir);
        var key = Path.GetFullPath(options.EffectiveSigningKeyPath);
        // A file can only be covered where it exists; a key inside the data directory is hidden with it.
        string[] masked = File.Exists(key) && !key.StartsWith(dataDir + Path.DirectorySeparatorChar, StringComparison.Ordinal) ? [key] : [];
        var sandbox = new PythonWorkerSandbox(bwrap, [dataDir], masked, [sdkPath]);
        problem = sandbox.Probe(python, sdkPath);
        return problem is null ? sandbox : null;
    }

    /// <summary>bwrap and its arguments up to the command, with <paramref name="privateTmp"/> as the worker's /tmp.</summary>
    public IEnumerable<string> Command(string privateTmp)
    {
        yield return Bwrap;
        foreach (var arg in new[] { "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try" })
        {
            yield return arg;
        }
        yield return "--die-with-parent";
        yield return "--new-session";
        yield return "--ro-bind";
        yield return "/";
        yield return "/";
        yield return "--bind";
        yield return privateTmp;
        yield return "/tmp";
        foreach (var path in _keptUnderTmp)
        {
            yield return "--ro-bind";
            yield return path;
            yield return path;
        }
        foreach (var dir in _hidden)
        {
            // An empty, read-only, mode 0000 directory in its place: not even listable, and the worker cannot chmod it.
            foreach (var arg in new[] { "--perms", "0000", "--tmpfs", dir, "--remount-ro", dir })
            {
                yield return arg;
            }
        }
        foreach (var file in _masked)
        {
            yield return "--ro-bind";
            yield return "/dev/null";
            yield return file;
        }
        foreach (var arg in new[] { "--dev", "/dev", "--proc", "/proc", "--chdir", "/tmp", "--" })
        {
            yield return arg;
        }
    }

    /// <summary>A directory for one worker's /tmp, owner only.</summary>
    public static string CreatePrivateTmp(int slot)
    {
        var path = Path.Combine(Path.GetTempPath(), $"spindle-py-worker-{Environment.ProcessId}-{slot}-{Guid.NewGuid():N}");
        DataDirectory.CreatePrivate(path);
        return path;
    }

    public static void DeletePrivateTmp(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Left for the system's temp cleaning; it holds only that worker's scratch files.
        }
    }

    private string? Probe(string python, string sdkPath)
    {
        var tmp = CreatePrivateTmp(-1);
        try
        {
            var info = new ProcessStartInfo(Bwrap)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = Path.GetTempPath(),
            };
            foreach (var arg in Command(tmp).Skip(1).Concat([python, "-c", "import spindle.py_std"]))
            {
                info.ArgumentList.Add(arg);
            }
            info.Environment.Clear();
            info.Environment["PATH"] = "/usr/local/bin:/usr/bin:/bin";
            info.Environment["PYTHONPATH"] = sdkPath;
            using var process = Process.Start(info);
            if (process is null)
            {
                return "bwrap did not start";
            }
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
            {
                process.Kill(entireProcessTree: true);
                return "the probe did not finish within 30 s";
            }
            return process.ExitCode == 0 ? null : $"bwrap does not work here: {stderr.Result.Trim()} (exit status {process.ExitCode})";
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return $"bwrap could not be started: {ex.Message}";
        }
        finally
        {
            DeletePrivateTmp(tmp);
        }
    }

    /// <summary>The worker's interpreter below the bwrap process (<c>bwrap → bwrap (PID 1 of the namespace) →
    /// python</c>): bwrap does not pass signals on, so SIGTERM, which lets the worker drain, goes to it directly.</summary>
    public static int? FindWorker(int bwrapPid, string python)
    {
        var queue = new Queue<int>([bwrapPid]);
        while (queue.Count > 0)
        {
            var pid = queue.Dequeue();
            try
            {
                foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
                {
                    foreach (var child in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    {
                        var childPid = int.Parse(child, System.Globalization.CultureInfo.InvariantCulture);
                        var argv0 = File.ReadAllText($"/proc/{childPid}/cmdline").Split('\0')[0];
                        if (argv0 == python)
                        {
                            return childPid;
                        }
                        queue.Enqueue(childPid);
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
            {
                // Gone meanwhile.
            }
        }
        return null;
    }
}
