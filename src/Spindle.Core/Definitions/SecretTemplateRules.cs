using System.Text.Json.Nodes;
using Spindle.Core.Templates;

namespace Spindle.Core.Definitions;

/// <summary>
/// Deploy-time rules for <c>SECRET</c> (see <see cref="SecretReferences"/>): parameters may print a named secret as
/// it is; conditions, delays, <c>scheduled_for</c> and cache keys, which the server evaluates, may not use SECRET
/// at all. Errors are keyed like <see cref="TemplateSyntaxWarnings"/>: <c>activity.&lt;key&gt;.parameters.&lt;path&gt;</c>.
/// </summary>
internal static class SecretTemplateRules
{
    public static Dictionary<string, IReadOnlyList<string>> Find(WorkflowDefinition definition)
    {
        var errors = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var activity in definition.Activities)
        {
            var prefix = $"activity.{activity.Key}";
            Walk(activity.Parameters, $"{prefix}.parameters", printAllowed: true, errors);
            foreach (var edge in activity.DependsOn)
            {
                foreach (var condition in edge.Conditions)
                {
                    Check(condition, $"{prefix}.depends_on[{edge.ActivityKey}].conditions", printAllowed: false, errors);
                }
            }
            if (activity.Settings.Delay is { } delay)
            {
                Check(delay, $"{prefix}.settings.delay", printAllowed: false, errors);
            }
            if (activity.Settings.ScheduledFor is { } scheduledFor)
            {
                Check(scheduledFor, $"{prefix}.settings.scheduled_for", printAllowed: false, errors);
            }
            Walk(activity.Settings.CacheKey, $"{prefix}.settings.cache_key", printAllowed: false, errors);
            Walk(activity.Map?.ForEach, $"{prefix}.for_each", printAllowed: false, errors);
        }
        return errors;
    }

    private static void Walk(JsonNode? node, string path, bool printAllowed, Dictionary<string, IReadOnlyList<string>> errors)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, child) in obj)
                {
                    Walk(child, $"{path}.{key}", printAllowed, errors);
                }
                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    Walk(array[i], $"{path}[{i}]", printAllowed, errors);
                }
                break;
            case JsonValue value when value.TryGetValue<string>(out var text):
                Check(text, path, printAllowed, errors);
                break;
        }
    }

    private static void Check(string text, string path, bool printAllowed, Dictionary<string, IReadOnlyList<string>> errors)
    {
        if (SecretReferences.FindMisuse(text, printAllowed) is { } message)
        {
            errors[path] = errors.TryGetValue(path, out var earlier) ? [.. earlier, message] : [message];
        }
    }
}
