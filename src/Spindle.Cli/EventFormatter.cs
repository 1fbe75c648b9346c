using System.Text.Json.Nodes;
using static Spindle.Cli.ConsoleRenderer;

namespace Spindle.Cli;

/// <summary>
/// Describes workflow history events (docs/api.md) for people. Feed it every event in order: it remembers
/// when each execution was scheduled or claimed, so completions can show their attempt and duration.
/// </summary>
internal sealed class EventFormatter
{
    private readonly Dictionary<(string Key, int Iteration), Execution> _executions = [];

    /// <summary>A progress line such as <c>✓ fetch completed (attempt 1, 12 ms)</c>, or null for workflow-level events.</summary>
    public string? LiveLine(JsonObject ev)
    {
        var type = Str(ev["event_type"]);
        var p = ev["payload"] as JsonObject ?? [];
        var label = Label(ev);
        var execution = Track(ev, type, p);
        return type switch
        {
            "ActivityScheduled" => $"▶ {label} scheduled" + (execution.Attempt > 1 ? $" (attempt {execution.Attempt})" : ""),
            "ActivityWaiting" => $"⏸ {label} waiting for signal '{Str(p["event_name"])}'",
            "ActivitySignaled" => Str(p["reason"]) == "timeout"
                ? $"⏱ {label} gave up waiting for '{Str(p["event_name"])}' ({Str(p["on_timeout"])})"
                : $"⚡ {label} received signal '{Str(p["event_name"])}'",
            "ActivityCompleted" => $"✓ {label} completed ({Completion(ev, execution)})",
            "ActivityFailed" => $"✗ {label} failed: {Str(p["error_code"])} {Str(p["error_message"])}" + (Bool(p["will_retry"]) ? " (will retry)" : ""),
            "ActivitySkipped" => $"↷ {label} skipped: {Str(p["reason"])}",
            "ActivityCancelled" => $"⊘ {label} cancelled: {Str(p["reason"])}",
            "WorkflowRetried" => $"↻ workflow retried: {List(p["activity_keys"])}",
            "TimerFailed" => $"⚠ {Str(p["timer"])} timer {label} could not be handled: {Str(p["error_message"])}".Replace("  ", " ", StringComparison.Ordinal),
            "ActivityStarted" or "WorkflowCreated" or "WorkflowCompleted" or "WorkflowFailed" or "WorkflowCancelled" => null,
            _ => $"• {type} {label}".TrimEnd(),
        };
    }

    /// <summary>The main payload fields of any event, for the <c>events</c> table.</summary>
    public string Details(JsonObject ev)
    {
        var type = Str(ev["event_type"]);
        var p = ev["payload"] as JsonObject ?? [];
        var execution = Track(ev, type, p);
        return type switch
        {
            "WorkflowCreated" => $"{Str(p["definition_name"])} version {Str(p["definition_version"])}, input {OneLine(CompactJson(p["input"]), 60)}",
            "ActivityScheduled" => $"{Str(p["worker"])}/{Str(p["activity_name"])}, attempt {execution.Attempt}",
            "ActivityStarted" => $"claimed by {Str(p["worker_id"])}, attempt {execution.Attempt}",
            "ActivityWaiting" => $"signal '{Str(p["event_name"])}'" + (p["timeout_seconds"] is { } t ? $", timeout {Str(t)} s, then {Str(p["on_timeout"])}" : ""),
            "ActivitySignaled" => Str(p["reason"]) == "timeout"
                ? $"'{Str(p["event_name"])}' timed out ({Str(p["on_timeout"])})"
                : $"'{Str(p["event_name"])}' with {OneLine(CompactJson(p["signal_data"]), 60)}",
            "ActivityCompleted" => Completion(ev, execution) + (p["outputs"] is JsonObject outputs && outputs.Count > 0 ? $", outputs: {string.Join(", ", outputs.Select(o => o.Key))}" : ""),
            "ActivityFailed" => $"{Str(p["error_code"])}: {OneLine(Str(p["error_message"]), 100)} (attempt {Int(p["attempt"], execution.Attempt)}" +
                                (Bool(p["will_retry"]) ? ", will retry)" : ")"),
            "ActivitySkipped" or "ActivityCancelled" or "WorkflowFailed" or "WorkflowCancelled" => Str(p["reason"]),
            "WorkflowRetried" => List(p["activity_keys"]),
            _ => p.Count == 0 ? "" : OneLine(CompactJson(p), 100),
        };
    }

    public static string Label(JsonObject ev)
    {
        var key = Str(ev["activity_key"]);
        var iteration = Int(ev["iteration"]);
        return iteration > 0 ? $"{key}[{iteration}]" : key;
    }

    private Execution Track(JsonObject ev, string type, JsonObject payload)
    {
        var key = Str(ev["activity_key"]);
        if (key.Length == 0)
        {
            return new Execution();
        }
        var id = (key, Int(ev["iteration"]));
        if (!_executions.TryGetValue(id, out var execution))
        {
            execution = new Execution();
            _executions[id] = execution;
        }
        var at = ParseTime(ev["timestamp"]);
        switch (type)
        {
            case "ActivityScheduled":
                execution.Attempt = Int(payload["attempt"], execution.Attempt);
                execution.ScheduledAt = at;
                execution.StartedAt = null;
                break;
            case "ActivityStarted":
                execution.Attempt = Int(payload["attempt"], execution.Attempt);
                execution.StartedAt = at;
                break;
            case "ActivityFailed":
                execution.Attempt = Int(payload["attempt"], execution.Attempt);
                break;
        }
        return execution;
    }

    private static string Completion(JsonObject ev, Execution execution)
    {
        var text = $"attempt {execution.Attempt}";
        var from = execution.StartedAt ?? execution.ScheduledAt;
        if (from is not null && ParseTime(ev["timestamp"]) is { } at)
        {
            text += ", " + Duration(at - from.Value);
        }
        return text;
    }

    private static string List(JsonNode? node) =>
        node is JsonArray array ? string.Join(", ", array.Select(Str)) : Str(node);

    private sealed class Execution
    {
        public int Attempt { get; set; } = 1;

        public DateTimeOffset? ScheduledAt { get; set; }

        public DateTimeOffset? StartedAt { get; set; }
    }
}
