using System.Text.Json.Nodes;
using Spindle.Core.Schedules;

namespace Spindle.Core.Definitions;

/// <summary>
/// The <c>schedules:</c> a definition declares (docs/workflow-format.md "Schedules"): a list of schedules with the API's
/// fields, each submitting this definition. They are not part of the definition's content (a changed schedule is not
/// a new version); a deploy creates or updates them and disables those the YAML no longer declares.
/// </summary>
public static class DefinitionSchedules
{
    /// <summary>Reads the declared schedules of a definition that <see cref="DefinitionParser.Parse"/> accepted.</summary>
    public static (IReadOnlyList<ScheduleSpec> Specs, IReadOnlyDictionary<string, IReadOnlyList<string>> Errors) Parse(string text,
        string definitionName)
    {
        var errors = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var specs = new List<ScheduleSpec>();
        if (YamlJsonReader.Read(text).Root is not JsonObject root || root["schedules"] is not { } node)
        {
            return (specs, errors);
        }
        if (node is not JsonArray list)
        {
            errors["schedules"] = ["'schedules' must be a list, e.g. schedules: [{name: nightly, cron: \"0 2 * * *\"}]"];
            return (specs, errors);
        }
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < list.Count; i++)
        {
            var prefix = $"schedules[{i}].";
            if (list[i] is not JsonObject entry)
            {
                errors[$"schedules[{i}]"] = ["each schedule must be a mapping with name and cron or interval_seconds"];
                continue;
            }
            if (entry["definition_name"] is { } other && other.ToString() != definitionName)
            {
                errors[prefix + "definition_name"] = [$"a definition's schedules submit the definition itself ('{definitionName}'); leave definition_name out"];
                continue;
            }
            var (spec, problems) = ScheduleSpecReader.Read(entry, prefix, definitionName);
            foreach (var (field, messages) in problems)
            {
                errors[field] = messages;
            }
            if (spec is null)
            {
                continue;
            }
            if (!names.Add(spec.Name))
            {
                errors[prefix + "name"] = [$"the schedule name '{spec.Name}' is declared twice"];
                continue;
            }
            specs.Add(spec with { DefinitionVersion = null }); // always the latest deployed version
        }
        return (specs, errors);
    }
}
