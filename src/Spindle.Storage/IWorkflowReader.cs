using Spindle.Core.Orchestration;

namespace Spindle.Storage;

/// <summary>
/// What the store answers without changing anything: definitions, workflows, their history and costs. Plain reads
/// outside any write transaction; a caller that only reads depends on this and not on <see cref="IWorkflowStore"/>.
/// </summary>
public interface IWorkflowReader
{
    Task<IReadOnlyList<DefinitionSummary>> ListDefinitionsAsync(CancellationToken cancellationToken);

    Task<StoredDefinition?> GetDefinitionAsync(string name, string? version, CancellationToken cancellationToken);

    Task<WorkflowState?> GetWorkflowAsync(string workflowId, CancellationToken cancellationToken);

    /// <summary>Only the workflow's status, for cheap terminal checks.</summary>
    Task<string?> GetWorkflowStatusAsync(string workflowId, CancellationToken cancellationToken);

    Task<(IReadOnlyList<WorkflowSummary> Items, int Total)> ListWorkflowsAsync(WorkflowQuery query, CancellationToken cancellationToken);

    /// <summary>The child workflows a workflow started (docs/api.md), oldest first.</summary>
    Task<IReadOnlyList<ChildLink>> ListChildrenAsync(string workflowId, CancellationToken cancellationToken);

    /// <returns>null when the workflow does not exist.</returns>
    Task<EventPage?> GetEventsAsync(string workflowId, string? afterEventId, int limit, IReadOnlySet<string>? eventTypes, CancellationToken cancellationToken);

    /// <summary>Cost lines, oldest first.</summary>
    Task<IReadOnlyList<StoredCostLine>> GetCostLinesAsync(CostLineQuery query, CancellationToken cancellationToken);

    /// <summary>Items of map <paramref name="mapKey"/> (docs/workflow-format.md#maps) in index order, from <paramref name="offset"/>.</summary>
    Task<IReadOnlyList<ActivityState>> GetMapItemsAsync(string workflowId, string mapKey, int offset, int limit, CancellationToken cancellationToken);

    /// <summary>Routing keys with queued activities that become claimable in the future, and when.</summary>
    Task<IReadOnlyList<(string RoutingKey, long ReadyAt)>> GetDelayedAsync(CancellationToken cancellationToken);
}
