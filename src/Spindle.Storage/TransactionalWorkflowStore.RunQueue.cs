using Spindle.Core.Common;
using Spindle.Core.Orchestration;

namespace Spindle.Storage;

/// <summary>
/// Workflow-level concurrency (docs/architecture.md#workflow-level-concurrency). A run of a definition with a top-level
/// <c>concurrency</c> is written <c>created</c> (waiting) with its rendered key, never started where it is submitted:
/// the decision that submitted it, and every decision in which a run of that key ends, drains the key's queue before it
/// commits — under the queue's lock, oldest waiting run first, while fewer than the limit are <c>running</c>. One place
/// starts queued runs, so the order and the limit hold however runs arrive (submit, child workflow, schedule).
/// </summary>
public abstract partial class TransactionalWorkflowStore
{
    /// <summary>
    /// The queues (definition name, key) a decision must drain: a keyed run it ended after it had started (a slot
    /// freed), or a keyed run it added to the queue. A waiting run it cancelled frees nothing. Null when none.
    /// </summary>
    private static List<(string Name, string Key)>? RunQueuesToDrain(IEnumerable<WorkflowState> touched)
    {
        List<(string Name, string Key)>? queues = null;
        foreach (var wf in touched)
        {
            if (wf.ConcurrencyKey is not { } key)
            {
                continue;
            }
            // A run that started has its activities; a waiting one touched by a decision is new (or requeued by a retry).
            var slotFreed = wf.IsDirty && WorkflowStatus.IsTerminal(wf.Status) && wf.Activities.Count > 0;
            if (slotFreed || wf.Status == WorkflowStatus.Created)
            {
                queues ??= [];
                if (!queues.Contains((wf.Definition.Name, key)))
                {
                    queues.Add((wf.Definition.Name, key));
                }
            }
        }
        return queues;
    }

    /// <summary>
    /// Starts the waiting runs of <paramref name="queues"/> in submit order while their key has a free slot, each
    /// settled and written like a decision of its own (not committed: the caller's transaction does). Everything the
    /// transaction changed must already be written, since the running runs are counted from the rows. Returns the
    /// workflows written, to be woken after the commit.
    /// </summary>
    private async Task<List<Linked>> DrainRunQueuesAsync(IWriteTransaction tx, List<(string Name, string Key)> queues, long now,
        CancellationToken ct)
    {
        var started = new List<Linked>();
        for (var i = 0; i < queues.Count; i++)
        {
            var (name, key) = queues[i];
            var seen = new HashSet<string>(StringComparer.Ordinal);
            while (true)
            {
                var (running, headId) = await tx.LockRunQueueAsync(name, key, ct);
                if (headId is null || !seen.Add(headId))
                {
                    break; // empty, or a head that would not start (gone): never loop on it
                }
                var head = await tx.LockWorkflowAsync(headId, skipLocked: false, ct);
                if (head is null || head.Status != WorkflowStatus.Created)
                {
                    continue; // it changed while we waited for its lock (cancelled): read the queue again
                }
                if (running >= (head.Definition.Concurrency?.Limit ?? int.MaxValue))
                {
                    break;
                }
                var machine = new WorkflowMachine(head, Defaults, now);
                // The deadline counts from the start: time spent waiting for a slot does not use it up.
                var timeout = head.Definition.Settings?.TimeoutSeconds ?? Defaults.WorkflowTimeoutSeconds;
                if (head.Activities.Count > 0)
                {
                    machine.Retry(timeout); // a run that had started, retried while its key was full (RetryQueuedAsync)
                }
                else
                {
                    head.DeadlineAt = timeout > 0 ? now + Timestamps.FromSeconds(timeout) : null;
                    machine.Start();
                }
                var linked = await SettleLinksAsync(tx, head, machine, now, ct);
                foreach (var queue in RunQueuesToDrain(linked.Select(l => l.Workflow).Append(head)) ?? [])
                {
                    if (!queues.Contains(queue))
                    {
                        queues.Add(queue); // a child it queued, or a run that ended at once
                    }
                }
                await PersistLinkedAsync(tx, linked, now, ct);
                await tx.PersistLinkedAsync(head, machine, [], now, ct);
                started.Add(new Linked(head, machine, [], 0));
                started.AddRange(linked);
            }
        }
        return started;
    }

    /// <summary>
    /// The retry of a run with a concurrency key, when it differs from a plain retry: a run cancelled while it waited
    /// (it never started) goes back to its queue; so does a run that did start while its key has no free slot or runs
    /// wait for one, keeping its activities: the drain that starts it retries it then (its failed steps run again).
    /// Both take their place in submit order. Null: retry it now as any run (its key has room).
    /// </summary>
    private static async Task<(RetryOutcome, bool)?> RetryQueuedAsync(Turn turn, string concurrencyKey, CancellationToken ct)
    {
        var wf = turn.Workflow;
        if (wf.Activities.Count > 0)
        {
            var (running, waiting) = await turn.Tx.LockRunQueueAsync(wf.Definition.Name, concurrencyKey, ct);
            if (running < (wf.Definition.Concurrency?.Limit ?? int.MaxValue) && waiting is null)
            {
                return null;
            }
        }
        wf.Status = WorkflowStatus.Created;
        wf.ErrorMessage = null;
        wf.CompletedAt = null;
        wf.DeadlineAt = null;
        wf.UpdatedAt = turn.Now;
        wf.IsDirty = true;
        return (new RetryOutcome(StoreStatus.Ok, null, []) { WorkflowStatus = WorkflowStatus.Created }, true); // the drain before commit starts it if it may
    }

    /// <summary>
    /// Writes a decision's own workflow last, as <see cref="IWriteTransaction.PersistAsync"/> (which may commit), unless
    /// a run queue must be drained or other decisions follow in the same transaction (<paramref name="last"/> false, a
    /// group of completions): then it is written without committing, the queues are drained, and the workflows that
    /// started are returned.
    /// </summary>
    private async Task<List<Linked>> PersistAndDrainAsync(IWriteTransaction tx, WorkflowState wf, WorkflowMachine machine,
        IReadOnlyList<WorkflowEvent> leading, List<Linked> linked, long now, CancellationToken ct, bool last = true)
    {
        var queues = RunQueuesToDrain(linked.Select(l => l.Workflow).Append(wf));
        await PersistLinkedAsync(tx, linked, now, ct);
        if (queues is null && last)
        {
            await tx.PersistAsync(wf, machine, leading, now, ct);
            return [];
        }
        await tx.PersistLinkedAsync(wf, machine, leading, now, ct);
        return queues is null ? [] : await DrainRunQueuesAsync(tx, queues, now, ct);
    }
}
