using System.Text.Json.Nodes;
using Spindle.Core.Definitions;
using Spindle.Core.Templates;

namespace Spindle.Core.Orchestration;

// Workflow-level concurrency (docs/workflow-format.md#workflow-level-concurrency): the run's key, rendered once at
// submit from its input. The store queues and starts the runs (TransactionalWorkflowStore.RunQueue.cs).
public sealed partial class WorkflowMachine
{
    /// <summary>
    /// The rendered key of <paramref name="definition"/>'s top-level <c>concurrency</c> for a run with this input, or
    /// null when the definition has none. Only <c>INPUT</c> and <c>WORKFLOW</c> (id, name, version) are in scope.
    /// Throws <see cref="TemplateException"/> when the key does not render to 1–500 characters.
    /// </summary>
    public static string? RunConcurrencyKey(WorkflowDefinition definition, string version, string workflowId, JsonObject input,
        TemplateLimits limits)
    {
        if (definition.Concurrency is not { } concurrency)
        {
            return null;
        }
        var scope = new Dictionary<string, JsonNode?>(StringComparer.Ordinal)
        {
            ["INPUT"] = input,
            ["WORKFLOW"] = new JsonObject
            {
                ["id"] = workflowId,
                ["name"] = definition.Name,
                ["definition_name"] = definition.Name,
                ["definition_version"] = version,
            },
        };
        var key = ResolveToString(concurrency.Key, scope, new TemplateBudget(limits));
        if (key.Length is 0 or > MaxQueueKeyLength)
        {
            throw new TemplateException($"the key rendered to {key.Length} characters; it must have 1 to {MaxQueueKeyLength}");
        }
        return key;
    }
}
