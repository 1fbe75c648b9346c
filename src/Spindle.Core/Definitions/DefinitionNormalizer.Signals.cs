using System.Text.Json.Nodes;

namespace Spindle.Core.Definitions;

// wait_for_signal: the string shorthand or the {event_name, timeout_seconds, on_timeout} mapping.
internal sealed partial class DefinitionNormalizer
{
    private JsonObject? WaitForSignal(JsonNode node, string path, string field)
    {
        if (JsonUtil.IsString(node, out var shorthand))
        {
            if (shorthand.Length == 0)
            {
                Error(field, "'wait_for_signal' needs a non-empty event name, e.g. wait_for_signal: approval.");
                return null;
            }
            return new JsonObject { ["event_name"] = shorthand };
        }
        if (node is not JsonObject obj)
        {
            Error(path, $"'wait_for_signal' must be an event name (string) or a mapping {{event_name, timeout_seconds, on_timeout}}, got {JsonUtil.Describe(node)}.");
            return null;
        }
        WarnUnknown(obj, path, SignalKeys);
        var result = new JsonObject();
        var eventNode = obj["event_name"];
        if (eventNode is null || (JsonUtil.IsString(eventNode, out var empty) && empty.Length == 0))
        {
            Error(field, "'wait_for_signal' requires a non-empty 'event_name', e.g. wait_for_signal: {event_name: approval}.");
        }
        else if (!JsonUtil.IsString(eventNode, out var eventName))
        {
            Error(path + ".event_name", $"'event_name' must be a string, got {JsonUtil.Describe(eventNode)}{QuoteHint(eventNode, "event_name")}.");
        }
        else
        {
            result["event_name"] = eventName;
        }
        if (Integer(obj["timeout_seconds"], path + ".timeout_seconds", 1) is { } timeout)
        {
            result["timeout_seconds"] = timeout;
        }
        var onTimeout = obj["on_timeout"];
        if (onTimeout is not null)
        {
            if (JsonUtil.IsString(onTimeout, out var ot) && ot is "continue" or "skip" or "fail")
            {
                result["on_timeout"] = ot;
            }
            else
            {
                Error(field, $"'wait_for_signal.on_timeout' must be one of continue, skip, fail; got {JsonUtil.Describe(onTimeout)}.");
            }
        }
        return result;
    }
}
