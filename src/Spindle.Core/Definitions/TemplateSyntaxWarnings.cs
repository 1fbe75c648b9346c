using System.Text.Json.Nodes;
using Spindle.Core.Templates;

namespace Spindle.Core.Definitions;

/// <summary>
/// Template syntax errors are warnings at deploy (docs/workflow-format.md): definitions the reference accepts still
/// deploy, and the activity fails with TEMPLATE_ERROR at run time. Warning early tells the author where.
/// </summary>
internal static class TemplateSyntaxWarnings
{
    public static IReadOnlyList<string> Find(WorkflowDefinition definition)
    {
        var warnings = new List<string>();
        foreach (var activity in definition.Activities)
        {
            var prefix = $"activity.{activity.Key}";
            Walk(activity.Parameters, $"{prefix}.parameters", warnings);
            foreach (var edge in activity.DependsOn)
            {
                foreach (var condition in edge.Conditions)
                {
                    Check(condition, $"{prefix}.depends_on[{edge.ActivityKey}].conditions", warnings);
                }
            }
            if (activity.Settings.Delay is { } delay)
            {
                Check(delay, $"{prefix}.settings.delay", warnings);
            }
            if (activity.Settings.ScheduledFor is { } scheduledFor)
            {
                Check(scheduledFor, $"{prefix}.settings.scheduled_for", warnings);
            }
            Walk(activity.Settings.CacheKey, $"{prefix}.settings.cache_key", warnings);
            Walk(activity.Map?.ForEach, $"{prefix}.for_each", warnings);
        }
        return warnings;
    }

    private static void Walk(JsonNode? node, string path, List<string> warnings)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, child) in obj)
                {
                    Walk(child, $"{path}.{key}", warnings);
                }
                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    Walk(array[i], $"{path}[{i}]", warnings);
                }
                break;
            case JsonValue value when value.TryGetValue<string>(out var text):
                Check(text, path, warnings);
                break;
        }
    }

    private static void Check(string text, string path, List<string> warnings)
    {
        if (TemplateEvaluator.ContainsTemplate(text) && TemplateEvaluator.FindSyntaxError(text) is { } error)
        {
            warnings.Add($"{path}: {error} (the activity will fail with TEMPLATE_ERROR when it runs)");
        }
    }
}
