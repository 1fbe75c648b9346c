using Spindle.Core.Maps;
using Spindle.Core.Orchestration;

namespace Spindle.Storage.Maps;

/// <summary>
/// Statements on map item rows inside a write transaction (docs/architecture.md#maps). A workflow loads without its
/// items; a decision reads and changes only the items it needs, so a map of 10,000 items costs each completion a
/// few rows, not the whole list. Both write transactions implement it.
/// </summary>
internal interface IMapItemRows
{
    /// <summary>Item rows of the workflow with these execution ids (reports and timers name items by id or key).</summary>
    Task<IReadOnlyList<ActivityState>> LoadItemsAsync(string workflowId, IReadOnlyCollection<string> ids, IReadOnlyCollection<string> keys,
        CancellationToken cancellationToken);

    /// <summary>Items <paramref name="from"/> to <paramref name="from"/> + <paramref name="count"/> − 1 of a map.</summary>
    Task<IReadOnlyList<ActivityState>> LoadItemRangeAsync(string workflowId, string mapKey, int from, int count,
        CancellationToken cancellationToken);

    /// <summary>Every item of a map as stored, in index order.</summary>
    Task<IReadOnlyList<MapItemResult>> ReadItemResultsAsync(string workflowId, string mapKey, CancellationToken cancellationToken);

    /// <summary>Removes every item row of a map.</summary>
    Task DeleteItemsAsync(string workflowId, string mapKey, CancellationToken cancellationToken);

    /// <summary>Removes the item rows of a map that did not complete.</summary>
    /// <returns>The indexes of the items left, the completed ones.</returns>
    Task<IReadOnlyList<int>> DeleteUnfinishedItemsAsync(string workflowId, string mapKey, CancellationToken cancellationToken);

    /// <summary>
    /// Cancels the map's items that have not started and asks running ones to stop (their heartbeat says so),
    /// except <paramref name="exceptKeys"/>, which the transaction writes itself.
    /// </summary>
    Task StopItemsAsync(string workflowId, string mapKey, IReadOnlyCollection<string> exceptKeys, long now,
        CancellationToken cancellationToken);
}
