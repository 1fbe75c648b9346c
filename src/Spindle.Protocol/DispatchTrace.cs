using System.Globalization;
using System.Text;

namespace Spindle.Protocol;

/// <summary>
/// An opt-in timing record of how each activity travels from being claimed to its handler starting, for the bench's
/// dispatch trace (<c>bench/trace.sh</c>, docs/performance-notes.md). Off unless the process starts with
/// <c>SPINDLE_TRACE_DISPATCH=1</c>; then the server and an in-process worker append one JSON line per hop to
/// <c>SPINDLE_TRACE_DISPATCH_FILE</c> (default <c>spindle-dispatch-trace.jsonl</c> in the working directory).
/// </summary>
/// <remarks>
/// Off, a call site costs one read of a static field. On, lines are buffered and flushed every 100 ms (and at exit):
/// a flush per line would add a system call to every hop it measures. Shared by the server and the worker SDK because
/// the std worker runs in the server's process and both must write to the one file in one clock.
/// </remarks>
public static class DispatchTrace
{
    /// <summary>Whether the trace is on (<c>SPINDLE_TRACE_DISPATCH=1</c>).</summary>
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("SPINDLE_TRACE_DISPATCH") == "1";

    private static readonly Lock Gate = new();
    private static readonly StreamWriter? Writer = Enabled ? Open() : null;
    private static readonly Timer? Flusher = Enabled ? new Timer(_ => Flush(), null, 100, 100) : null;

    /// <summary>Now, in the clock the record uses (the events' clock: UTC wall time).</summary>
    public static DateTimeOffset Now => DateTimeOffset.UtcNow;

    /// <summary>
    /// Appends one hop of activity <paramref name="activityId"/>: <paramref name="hop"/> (<c>claim</c>, <c>answer</c>,
    /// <c>complete</c>, <c>receive</c>, <c>start</c>), how (<paramref name="via"/>), when it ended (<paramref name="at"/>)
    /// and, for a claim, when the work that led to it began (<paramref name="from"/>: the claim statement's start, or
    /// the moment a poll woke).
    /// </summary>
    public static void Record(string hop, string activityId, string? via = null, DateTimeOffset? at = null,
        DateTimeOffset? from = null, string? workflowId = null, string? activityKey = null, int? count = null)
    {
        if (Writer is null)
        {
            return;
        }
        var line = new StringBuilder(160);
        line.Append("{\"hop\":\"").Append(hop).Append("\",\"id\":\"").Append(activityId).Append('"');
        Field(line, "via", via);
        Field(line, "wf", workflowId);
        Field(line, "key", activityKey);
        line.Append(",\"t\":\"").Append((at ?? Now).ToString("O", CultureInfo.InvariantCulture)).Append('"');
        if (from is { } f)
        {
            line.Append(",\"t0\":\"").Append(f.ToString("O", CultureInfo.InvariantCulture)).Append('"');
        }
        if (count is { } n)
        {
            line.Append(",\"n\":").Append(n.ToString(CultureInfo.InvariantCulture));
        }
        line.Append('}');
        lock (Gate)
        {
            Writer.WriteLine(line);
        }
    }

    private static void Field(StringBuilder line, string name, string? value)
    {
        if (value is not null)
        {
            // Ids, keys and the fixed via names need no escaping beyond quotes and backslashes.
            line.Append(",\"").Append(name).Append("\":\"").Append(value.Replace("\\", "\\\\", StringComparison.Ordinal)
                .Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
        }
    }

    private static void Flush()
    {
        lock (Gate)
        {
            Writer?.Flush();
        }
    }

    private static StreamWriter Open()
    {
        var path = Environment.GetEnvironmentVariable("SPINDLE_TRACE_DISPATCH_FILE") is { Length: > 0 } p ? p : "spindle-dispatch-trace.jsonl";
        var writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite), new UTF8Encoding(false));
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Flush();
        return writer;
    }
}
