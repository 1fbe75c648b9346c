using System.Globalization;

namespace Spindle.Bench;

/// <summary>
/// Samples CPU and resident memory of process groups from /proc every 0.5 s (BENCHMARKS.md, How it is measured). A group is a set of root
/// pids plus all their descendants (e.g. "engine" = the server and its workers, "db" = the postmaster and its
/// backends). CPU is utime+stime; memory is VmRSS summed over the tree; peak memory of the roots is VmHWM.
/// </summary>
public sealed class ProcSampler : IAsyncDisposable
{
    private static readonly double ClockTicks = 100.0; // USER_HZ on Linux
    private readonly Dictionary<string, int[]> _groups;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly object _gate = new();
    private Window? _window;

    public ProcSampler(Dictionary<string, int[]> groups)
    {
        _groups = groups;
        _loop = groups.Count == 0 ? Task.CompletedTask : Task.Run(LoopAsync);
    }

    public sealed class GroupStats
    {
        public double CpuSeconds;
        public double CpuPeakPct;
        public double CpuAvgPct;
        public double RssPeakMb;
        public double RssAvgMb;
        public int Samples;
    }

    private sealed class Window
    {
        public readonly Dictionary<string, Dictionary<int, long>> StartTicks = new();
        public readonly Dictionary<string, Dictionary<int, long>> LastTicks = new();
        public readonly Dictionary<string, List<(double Pct, double RssMb)>> Samples = new();
        public readonly Dictionary<string, (long Ticks, long At)> Prev = new();
        public long StartedAt;
        public long StatBusyStart;
    }

    /// <summary>Starts a measurement window (one scenario).</summary>
    public void Begin()
    {
        lock (_gate)
        {
            var w = new Window { StartedAt = Environment.TickCount64, StatBusyStart = MachineBusyTicks() };
            foreach (var (name, roots) in _groups)
            {
                var ticks = TreeTicks(roots);
                w.StartTicks[name] = ticks;
                w.LastTicks[name] = new Dictionary<int, long>(ticks);
                w.Samples[name] = [];
                w.Prev[name] = (ticks.Values.Sum(), w.StartedAt);
            }
            _window = w;
        }
    }

    /// <summary>Ends the window and returns per-group statistics.</summary>
    public Dictionary<string, GroupStats> End()
    {
        lock (_gate)
        {
            var w = _window;
            _window = null;
            var result = new Dictionary<string, GroupStats>();
            if (w is null)
            {
                return result;
            }
            var elapsed = Math.Max(1, Environment.TickCount64 - w.StartedAt) / 1000.0;
            var machineBusy = (MachineBusyTicks() - w.StatBusyStart) / ClockTicks;
            foreach (var (name, roots) in _groups)
            {
                Sample(w, name, roots);
                var start = w.StartTicks[name];
                var last = w.LastTicks[name];
                // Processes that appeared during the window count from zero; ones that exited keep their last sample.
                long delta = 0;
                foreach (var (pid, t) in last)
                {
                    delta += t - start.GetValueOrDefault(pid, 0);
                }
                var samples = w.Samples[name];
                var cpuS = delta / ClockTicks;
                result[name] = new GroupStats
                {
                    CpuSeconds = cpuS,
                    CpuAvgPct = cpuS / elapsed * 100.0,
                    CpuPeakPct = samples.Count == 0 ? 0 : samples.Max(s => s.Pct),
                    RssPeakMb = samples.Count == 0 ? 0 : samples.Max(s => s.RssMb),
                    RssAvgMb = samples.Count == 0 ? 0 : samples.Average(s => s.RssMb),
                    Samples = samples.Count,
                };
            }
            // Everything else on the machine (other users' builds and tests): the noise of this window, in % of all cores.
            var ours = result.Values.Sum(g => g.CpuSeconds);
            result["other"] = new GroupStats
            {
                CpuSeconds = Math.Max(0, machineBusy - ours),
                CpuAvgPct = Math.Max(0, machineBusy - ours) / elapsed / Environment.ProcessorCount * 100.0,
            };
            return result;
        }
    }

    /// <summary>Busy clock ticks of the whole machine (all CPUs) from /proc/stat: everything but idle and iowait.</summary>
    private static long MachineBusyTicks()
    {
        try
        {
            var line = File.ReadLines("/proc/stat").First();
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(x => long.Parse(x, CultureInfo.InvariantCulture)).ToArray();
            // user nice system idle iowait irq softirq steal ...
            return f[0] + f[1] + f[2] + f[5] + f[6] + (f.Length > 7 ? f[7] : 0);
        }
        catch (Exception)
        {
            return 0;
        }
    }

    /// <summary>VmHWM (peak resident set) of each root process and the sum over the whole tree, in MB.</summary>
    public Dictionary<string, (double RootHwmMb, double TreeHwmMb)> HighWaterMarks()
    {
        var result = new Dictionary<string, (double, double)>();
        foreach (var (name, roots) in _groups)
        {
            double root = 0, tree = 0;
            foreach (var pid in roots)
            {
                root += StatusKb(pid, "VmHWM:") / 1024.0;
            }
            foreach (var pid in Tree(roots))
            {
                tree += StatusKb(pid, "VmHWM:") / 1024.0;
            }
            result[name] = (root, tree);
        }
        return result;
    }

    private async Task LoopAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                lock (_gate)
                {
                    if (_window is { } w)
                    {
                        foreach (var (name, roots) in _groups)
                        {
                            Sample(w, name, roots);
                        }
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static void Sample(Window w, string name, int[] roots)
    {
        var ticks = TreeTicks(roots);
        var last = w.LastTicks[name];
        foreach (var (pid, t) in ticks)
        {
            last[pid] = t;
        }
        var total = last.Values.Sum() - w.StartTicks[name].Where(kv => last.ContainsKey(kv.Key)).Sum(kv => kv.Value);
        var now = Environment.TickCount64;
        var (prevTicks, prevAt) = w.Prev[name];
        var pct = now > prevAt ? (total - prevTicks) / ClockTicks / ((now - prevAt) / 1000.0) * 100.0 : 0;
        w.Prev[name] = (total, now);
        double rss = 0;
        foreach (var pid in ticks.Keys)
        {
            rss += StatusKb(pid, "VmRSS:") / 1024.0;
        }
        w.Samples[name].Add((Math.Max(0, pct), rss));
    }

    private static Dictionary<int, long> TreeTicks(int[] roots)
    {
        var d = new Dictionary<int, long>();
        foreach (var pid in Tree(roots))
        {
            if (Stat(pid) is { } s)
            {
                d[pid] = s.Ticks;
            }
        }
        return d;
    }

    /// <summary>The roots and all their descendants that are alive now.</summary>
    public static List<int> Tree(int[] roots)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            if (Stat(pid) is { } s)
            {
                if (!children.TryGetValue(s.Ppid, out var list))
                {
                    children[s.Ppid] = list = [];
                }
                list.Add(pid);
            }
        }
        var result = new List<int>();
        var queue = new Queue<int>(roots.Where(p => Directory.Exists("/proc/" + p)));
        var seen = new HashSet<int>();
        while (queue.Count > 0)
        {
            var p = queue.Dequeue();
            if (!seen.Add(p))
            {
                continue;
            }
            result.Add(p);
            if (children.TryGetValue(p, out var kids))
            {
                foreach (var k in kids)
                {
                    queue.Enqueue(k);
                }
            }
        }
        return result;
    }

    /// <summary>utime+stime (clock ticks) and parent pid from /proc/pid/stat.</summary>
    private static (long Ticks, int Ppid)? Stat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            var close = text.LastIndexOf(')');
            var fields = text[(close + 2)..].Split(' ');
            // fields[0] = state (field 3); ppid = field 4; utime = field 14; stime = field 15
            var ppid = int.Parse(fields[1], CultureInfo.InvariantCulture);
            var utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
            var stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
            return (utime + stime, ppid);
        }
        catch (Exception)
        {
            return null;
        }
    }

    public static double StatusKb(int pid, string key)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith(key, StringComparison.Ordinal))
                {
                    var parts = line[key.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return double.Parse(parts[0], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception)
        {
        }
        return 0;
    }

    /// <summary>Total utime+stime in seconds of every process in the groups' trees now.</summary>
    public double TotalCpuSeconds(string group) =>
        _groups.TryGetValue(group, out var roots) ? TreeTicks(roots).Values.Sum() / ClockTicks : 0;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }
}
