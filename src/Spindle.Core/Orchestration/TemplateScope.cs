using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json.Nodes;
using Spindle.Core.Common;

namespace Spindle.Core.Orchestration;

/// <summary>
/// The names a template sees (docs/workflow-format.md). Activity objects are built on first use because most
/// templates read one or two names, and copying every output of the workflow for each enqueue would dominate.
/// </summary>
public sealed class TemplateScope : IReadOnlyDictionary<string, JsonNode?>
{
    private static readonly string[] NamespaceNames =
        ["INPUT", "SECRET", "WORKFLOW", "ACTIVITY", "SIGNAL", "ACTIVITIES", "FILE", "FOLDER", "ITEM", "ITEM_INDEX"];

    private readonly WorkflowState _workflow;
    private readonly ActivityState _target;
    private readonly JsonObject _secrets;
    private readonly Dictionary<string, JsonNode?> _built = new(StringComparer.Ordinal);
    private JsonObject? _activities;

    public TemplateScope(WorkflowState workflow, ActivityState target, JsonObject secrets)
    {
        _workflow = workflow;
        _target = target;
        _secrets = secrets;
    }

    public JsonNode? this[string key] => TryGetValue(key, out var v) ? v : throw new KeyNotFoundException(key);

    public IEnumerable<string> Keys => NamespaceNames.Concat(_workflow.Activities.Keys.Where(k => !IsNamespace(k)));

    public IEnumerable<JsonNode?> Values => Keys.Select(k => this[k]);

    public int Count => Keys.Count();

    public bool ContainsKey(string key) => IsNamespace(key) || _workflow.Activities.ContainsKey(key);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out JsonNode? value)
    {
        if (_built.TryGetValue(key, out value))
        {
            return true;
        }
        switch (key)
        {
            case "INPUT":
                value = _workflow.Input;
                break;
            case "SECRET":
                value = _secrets;
                break;
            case "WORKFLOW":
                value = new JsonObject
                {
                    ["id"] = _workflow.Id,
                    ["status"] = _workflow.Status,
                    ["name"] = _workflow.Definition.Name,
                    ["definition_name"] = _workflow.Definition.Name,
                    ["definition_version"] = _workflow.DefinitionVersion,
                    ["created_at"] = Timestamps.Format(_workflow.CreatedAt),
                };
                break;
            case "ACTIVITY":
                value = new JsonObject
                {
                    ["key"] = _target.Key,
                    ["iteration"] = _target.Iteration,
                    ["attempt"] = _target.Attempt,
                    ["status"] = _target.Status,
                    ["accumulated_cost_usd"] = (double)_target.Cost,
                    ["remaining_budget_usd"] = _workflow.BudgetLimit is { } limit
                        ? (double)Math.Max(0, limit - _workflow.TotalCost)
                        : null,
                };
                break;
            case "SIGNAL":
                value = _target.SignalData;
                break;
            case "ACTIVITIES":
                value = AllActivities();
                break;
            case "ITEM" or "ITEM_INDEX":
                // Only an item of a map has them (docs/workflow-format.md#maps); elsewhere they are undefined.
                if (_target.MapIndex is not { } index)
                {
                    value = null;
                    return false;
                }
                value = key == "ITEM" ? _target.MapItem?.DeepClone() : JsonValue.Create(index);
                break;
            case "FILE":
            case "FOLDER":
                value = new JsonObject();
                break;
            default:
                if (!_workflow.Activities.ContainsKey(key))
                {
                    value = null;
                    return false;
                }
                value = AllActivities()[key];
                break;
        }
        _built[key] = value;
        return true;
    }

    public IEnumerator<KeyValuePair<string, JsonNode?>> GetEnumerator() =>
        Keys.Select(k => new KeyValuePair<string, JsonNode?>(k, this[k])).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private static bool IsNamespace(string key) => Array.IndexOf(NamespaceNames, key) >= 0;

    private JsonObject AllActivities()
    {
        if (_activities is not null)
        {
            return _activities;
        }
        var all = new JsonObject();
        foreach (var activity in _workflow.Definition.Activities)
        {
            var state = _workflow.Activities[activity.Key];
            var view = new JsonObject();
            if (state.Outputs is not null)
            {
                foreach (var (name, output) in state.Outputs)
                {
                    view[name] = output?.DeepClone();
                }
            }
            // status and iteration hide outputs of the same name (docs/workflow-format.md, Templates).
            view["status"] = state.Status;
            view["iteration"] = state.Runs;
            if (state.Map is { } map)
            {
                view["map"] = map.ToView(); // a map's counts and failures (docs/workflow-format.md#maps)
            }
            all[activity.Key] = view;
        }
        _activities = all;
        return all;
    }
}
