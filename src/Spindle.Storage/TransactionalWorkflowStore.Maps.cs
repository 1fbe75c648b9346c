using Spindle.Core.Maps;
using Spindle.Core.Orchestration;
using Spindle.Storage.Maps;

namespace Spindle.Storage;

/// <summary>
/// Map items in the decision sequence (docs/architecture.md#maps): a workflow loads without its items, the items a
/// report or timer names are loaded with it, and what the machine asks of the others (load the next ones, collect
/// the outputs, remove or stop them) is done in the same transaction, before it persists.
/// </summary>
public abstract partial class TransactionalWorkflowStore
{
    public abstract Task<IReadOnlyList<ActivityState>> GetMapItemsAsync(string workflowId, string mapKey, int offset, int limit,
        CancellationToken cancellationToken);

    private static IMapItemRows MapRows(IWriteTransaction tx) =>
        tx as IMapItemRows ?? throw new InvalidOperationException($"{tx.GetType().Name} does not store map items");

    /// <summary>Adds the map items among <paramref name="ids"/> (execution ids) and <paramref name="keys"/> (activity keys)
    /// that are not activities of the workflow itself.</summary>
    private static async Task<WorkflowState?> WithItemsAsync(IWriteTransaction tx, WorkflowState? wf, IEnumerable<string> ids,
        IEnumerable<string> keys, CancellationToken ct)
    {
        if (wf is null)
        {
            return null;
        }
        var missingIds = ids.Where(id => wf.FindExecution(id) is null).Distinct(StringComparer.Ordinal).ToList();
        var itemKeys = keys.Where(k => !wf.Activities.ContainsKey(k) && !wf.Items.ContainsKey(k)).Distinct(StringComparer.Ordinal).ToList();
        if (missingIds.Count == 0 && itemKeys.Count == 0)
        {
            return wf;
        }
        foreach (var item in await MapRows(tx).LoadItemsAsync(wf.Id, missingIds, itemKeys, ct))
        {
            wf.Items.TryAdd(item.Key, item);
        }
        return wf;
    }

    /// <summary>
    /// What the decision queued that the store answers before persisting, until nothing new comes of it: result-cache
    /// look-ups (a hit completes an activity, which may queue more) and map requests (in order).
    /// </summary>
    private static async Task SettleDecisionAsync(IWriteTransaction tx, WorkflowState wf, WorkflowMachine machine, SettledSoFar done,
        long now, CancellationToken ct)
    {
        var decision = machine.Decision;
        while (done.Cache < decision.CacheCandidates.Count || done.Maps < decision.MapRequests.Count)
        {
            for (; done.Cache < decision.CacheCandidates.Count; done.Cache++)
            {
                var (activity, key) = decision.CacheCandidates[done.Cache];
                if (activity.Status != ActivityStatus.Pending || activity.ReadyAt > now)
                {
                    continue; // a delayed start keeps its delay
                }
                if (await tx.ReadCacheAsync(key, now, ct) is { } outputs)
                {
                    machine.CompleteFromCache(activity, outputs);
                }
            }
            for (; done.Maps < decision.MapRequests.Count; done.Maps++)
            {
                await ApplyMapRequestAsync(tx, wf, machine, decision.MapRequests[done.Maps], now, ct);
            }
        }
    }

    /// <summary>How far <see cref="SettleDecisionAsync"/> got through a decision's requests: a decision settled again
    /// (a child workflow's link added to it, TransactionalWorkflowStore.Children.cs) goes on from there, since map
    /// requests must be answered once each.</summary>
    private sealed class SettledSoFar
    {
        public int Cache { get; set; }

        public int Maps { get; set; }
    }

    private static async Task ApplyMapRequestAsync(IWriteTransaction tx, WorkflowState wf, WorkflowMachine machine, MapRequest request,
        long now, CancellationToken ct)
    {
        var rows = MapRows(tx);
        switch (request)
        {
            case MapRequest.Reset reset:
                await rows.DeleteItemsAsync(wf.Id, reset.MapKey, ct);
                break;
            case MapRequest.Rerun rerun:
                machine.RerunMapItems(rerun.MapKey, await rows.DeleteUnfinishedItemsAsync(wf.Id, rerun.MapKey, ct));
                break;
            case MapRequest.Load load:
                var loaded = await rows.LoadItemRangeAsync(wf.Id, load.MapKey, load.From, load.Count, ct);
                if (!wf.Items.ContainsKey(MapErrorCodes.ItemKey(load.MapKey, load.From))
                    && !loaded.Any(i => i.MapIndex == load.From))
                {
                    // Without the row the map could never go on: fail the decision loudly rather than spin.
                    throw new InvalidOperationException($"Item {load.From} of map '{load.MapKey}' of workflow {wf.Id} has no row");
                }
                machine.AddItems(load.MapKey, loaded);
                break;
            case MapRequest.Collect collect:
                var results = (await rows.ReadItemResultsAsync(wf.Id, collect.MapKey, ct)).ToDictionary(r => r.Index);
                foreach (var item in wf.Items.Values)
                {
                    if (item.MapOf == collect.MapKey && item.MapIndex is { } index)
                    {
                        // This transaction's own changes are not written yet: they win over the rows.
                        results[index] = new MapItemResult(index, item.Key, item.Status, item.Outputs, item.ErrorCode, item.ErrorMessage);
                    }
                }
                machine.FinishMap(collect.MapKey, results.Values.OrderBy(r => r.Index).ToList());
                break;
            case MapRequest.Stop stop:
                var own = wf.Items.Values.Where(i => i.MapOf == stop.MapKey && !i.IsNew).Select(i => i.Key).ToList();
                await rows.StopItemsAsync(wf.Id, stop.MapKey, own, now, ct);
                break;
        }
    }
}
