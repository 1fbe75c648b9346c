using System.Text.Json.Nodes;

namespace Spindle.Core.Definitions;

// Activity settings: timeouts, retries, delay / scheduled_for and the loop fields; budget and cache are in
// DefinitionNormalizer.BudgetCache.cs, wait_for_signal in DefinitionNormalizer.Signals.cs.
internal sealed partial class DefinitionNormalizer
{
    // ------------------------------------------------------------------------------------------------ settings

    private JsonObject? ActivitySettings(JsonNode node, string path, string field, out long? iterationLimit,
        out bool? iterationScoped, out bool? streaming)
    {
        iterationLimit = null;
        iterationScoped = null;
        streaming = null;
        if (node is not JsonObject obj)
        {
            Error(path, $"'settings' must be a mapping such as {{timeout_seconds: 30}}, got {JsonUtil.Describe(node)}.");
            return null;
        }
        WarnUnknown(obj, path, ActivitySettingsKeys);
        var result = new JsonObject();

        if (Integer(obj["timeout_seconds"], path + ".timeout_seconds", 1) is { } timeout)
        {
            result["timeout_seconds"] = timeout;
        }
        // A resource hint for the worker (py-std caps a script's address space with it); the engine only passes it on.
        if (Integer(obj["memory_mb"], path + ".memory_mb", 1) is { } memoryMb)
        {
            result["memory_mb"] = memoryMb;
        }
        if (obj["retry"] is { } retry && Retry(retry, path + ".retry") is { } r)
        {
            result["retry"] = r;
        }
        if (obj["budget"] is { } budget && Budget(budget, path + ".budget", limitRequired: true) is { } b)
        {
            result["budget"] = b;
        }
        Cache(obj, path, field, result);

        // check 6: delay / scheduled_for
        var delay = TemplateString(obj["delay"], path + ".delay", "a duration such as \"30s\" or \"5m\"");
        var scheduled = TemplateString(obj["scheduled_for"], path + ".scheduled_for", "an RFC 3339 timestamp such as \"2026-03-01T14:30:00Z\"");
        if (obj["delay"] is not null && obj["scheduled_for"] is not null)
        {
            Error(field, "'delay' and 'scheduled_for' cannot be combined: use 'delay' for a relative start or 'scheduled_for' for an absolute one.");
        }
        if (delay is not null)
        {
            if (!IsTemplate(delay) && !DurationParser.TryParseDelay(delay, DateTimeOffset.UtcNow, out _))
            {
                Error(field, $"Invalid delay \"{delay}\": expected a whole number followed by a unit (ms, s, m, mi, h, d, w, mo, y) without spaces, e.g. \"30s\", \"5m\" or \"1d\".");
            }
            result["delay"] = delay;
        }
        if (scheduled is not null)
        {
            if (!IsTemplate(scheduled) && !ScheduledForParser.TryParse(scheduled, out _))
            {
                Error(field, $"Invalid scheduled_for \"{scheduled}\": expected an RFC 3339 timestamp with an offset, e.g. \"2026-03-01T14:30:00Z\" or \"2026-03-01T15:30:00+01:00\".");
            }
            result["scheduled_for"] = scheduled;
        }

        if (obj["wait_for_signal"] is { } wait && WaitForSignal(wait, path + ".wait_for_signal", field) is { } w)
        {
            result["wait_for_signal"] = w;
        }

        iterationLimit = Integer(obj["iteration_limit"], path + ".iteration_limit", 1);
        iterationScoped = Bool(obj["iteration_scoped"], path + ".iteration_scoped");
        streaming = Streaming(obj["streaming"], path + ".streaming");
        return result;
    }

    private JsonObject? Retry(JsonNode node, string path)
    {
        if (node is not JsonObject obj)
        {
            Error(path, $"'retry' must be a mapping such as {{max_attempts: 3, strategy: exponential}}, got {JsonUtil.Describe(node)}.");
            return null;
        }
        WarnUnknown(obj, path, RetryKeys);
        var result = new JsonObject();
        if (Integer(obj["max_attempts"], path + ".max_attempts", 1) is { } attempts)
        {
            result["max_attempts"] = attempts;
        }
        if (Enum(obj["strategy"], path + ".strategy", ["exponential", "fixed"]) is { } strategy)
        {
            result["strategy"] = strategy;
        }
        foreach (var (name, min) in new[] { ("base_seconds", 0d), ("factor", 1d), ("max_seconds", 0d) })
        {
            if (Number(obj[name], $"{path}.{name}", min) is { } value)
            {
                result[name] = JsonUtil.Number(value);
            }
        }
        return result;
    }

    private string? TemplateString(JsonNode? node, string path, string example)
    {
        if (node is null)
        {
            return null;
        }
        if (JsonUtil.IsString(node, out var s))
        {
            return s;
        }
        var field = path[(path.LastIndexOf('.') + 1)..];
        Error(path, $"'{field}' must be a string ({example}), got {JsonUtil.Describe(node)}.");
        return null;
    }

    private static bool IsTemplate(string s) => s.Contains("{{", StringComparison.Ordinal) || s.Contains("{%", StringComparison.Ordinal);
}
