using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;
using Spindle.Core.Templates;

namespace Spindle.Storage;

/// <summary>
/// Child workflows (docs/architecture.md#child-workflows), settled inside the decision that makes them necessary:
/// the child a <c>workflow:</c> activity asks for is submitted and linked in the transaction that made the activity
/// ready; a child that ends completes or fails its parent's activity (and runs the parent's next decision) in the
/// transaction that records its end; children no longer wanted (their parent cancelled or ended, their activity
/// retried or timed out) are cancelled in the transaction that stopped wanting them. Every workflow touched is
/// written in that one transaction, so a crash leaves all of it or none of it.
/// </summary>
public abstract partial class TransactionalWorkflowStore
{
    /// <summary>The workflows one transaction decided about, by id: the one it is about and those linked to it.</summary>
    private sealed class LinkedWorkflows(WorkflowState main, WorkflowMachine mainMachine)
    {
        public Dictionary<string, Linked> ById { get; } = new(StringComparer.Ordinal)
        {
            [main.Id] = new Linked(main, mainMachine, [], 0),
        };

        public IEnumerable<Linked> Others(string mainId) => ById.Values.Where(l => l.Workflow.Id != mainId);
    }

    private sealed class Linked(WorkflowState workflow, WorkflowMachine machine, IReadOnlyList<WorkflowEvent> leading, int depth)
    {
        public WorkflowState Workflow { get; } = workflow;
        public WorkflowMachine Machine { get; } = machine;
        public IReadOnlyList<WorkflowEvent> Leading { get; } = leading;

        /// <summary>How many child workflows above this one were started in this transaction (a guard against a
        /// definition that starts itself at once, which would otherwise nest without end).</summary>
        public int Depth { get; } = depth;

        public int StartsDone { get; set; }
        public SettledSoFar Settled { get; } = new();
        public bool EndDelivered { get; set; }
    }

    /// <summary>
    /// Settles the decision about <paramref name="wf"/> (result cache and map requests, <see cref="SettleDecisionAsync"/>)
    /// and its links: starts the children it asked for, cancels those
    /// it no longer wants, delivers its end to its parent — and so on for each workflow that touches. Returns the
    /// workflows other than <paramref name="wf"/> that must be written (<see cref="PersistLinkedAsync"/>) before it.
    /// </summary>
    private async Task<List<Linked>> SettleLinksAsync(IWriteTransaction tx, WorkflowState wf, WorkflowMachine machine, long now,
        CancellationToken ct)
    {
        if (wf.ParentId is null && machine.Decision.ChildStarts.Count == 0 && !wf.Definition.Activities.Any(a => a.Workflow is not null))
        {
            await SettleDecisionAsync(tx, wf, machine, new SettledSoFar(), now, ct);
            return []; // the common case costs nothing more
        }
        var linked = new LinkedWorkflows(wf, machine);
        await SettleAsync(tx, linked, linked.ById[wf.Id], now, ct);
        return linked.Others(wf.Id).ToList();
    }

    private async Task SettleAsync(IWriteTransaction tx, LinkedWorkflows linked, Linked entry, long now, CancellationToken ct)
    {
        var wf = entry.Workflow;
        var machine = entry.Machine;
        bool progressed;
        do
        {
            progressed = false;
            await SettleDecisionAsync(tx, wf, machine, entry.Settled, now, ct);
            while (entry.StartsDone < machine.Decision.ChildStarts.Count)
            {
                var start = machine.Decision.ChildStarts[entry.StartsDone++];
                progressed = true;
                await StartChildAsync(tx, linked, entry, start, now, ct);
            }
            if (wf.Definition.Activities.Any(a => a.Workflow is not null))
            {
                progressed |= await CancelUnwantedChildrenAsync(tx, linked, entry, now, ct);
            }
            if (WorkflowStatus.IsTerminal(wf.Status) && wf.ParentId is { } parentId && !entry.EndDelivered)
            {
                entry.EndDelivered = true;
                progressed = true;
                await DeliverEndAsync(tx, linked, entry, parentId, now, ct);
            }
        }
        while (progressed);
    }

    private async Task StartChildAsync(IWriteTransaction tx, LinkedWorkflows linked, Linked parent, ChildStart start, long now,
        CancellationToken ct)
    {
        var activity = start.Activity;
        if (activity.Status != ActivityStatus.Running || activity.Attempt != start.Attempt)
        {
            return; // the activity moved on within this decision
        }
        if (parent.Depth >= ChildErrorCodes.MaxDepth)
        {
            parent.Machine.ChildNotStarted(start, ChildErrorCodes.TooDeep,
                $"Child workflow '{start.DefinitionName}' not started: child workflows started each other {ChildErrorCodes.MaxDepth} deep at once (does the definition start itself?)");
            return;
        }
        var stored = await tx.ReadDefinitionAsync(start.DefinitionName, start.Version, ct);
        if (stored is null)
        {
            var what = start.Version is null
                ? $"Child workflow definition '{start.DefinitionName}' is not deployed"
                : $"Child workflow definition '{start.DefinitionName}' version {start.Version} is not deployed";
            parent.Machine.ChildNotStarted(start, ChildErrorCodes.NotFound, what);
            return;
        }
        string? concurrencyKey;
        try
        {
            concurrencyKey = WorkflowMachine.RunConcurrencyKey(stored.Definition, stored.Version, start.ChildId, start.Input, Defaults.TemplateLimits);
        }
        catch (TemplateException ex)
        {
            parent.Machine.ChildNotStarted(start, EngineErrorCodes.TemplateError,
                $"Child workflow '{start.DefinitionName}' not started: its concurrency.key did not render: {ex.Message}");
            return;
        }
        // A child with a concurrency key waits in its queue like any run (TransactionalWorkflowStore.RunQueue.cs): the
        // drain before this transaction commits starts it if its key has room; its deadline is set then.
        var timeout = concurrencyKey is null ? stored.Definition.Settings?.TimeoutSeconds ?? Defaults.WorkflowTimeoutSeconds : 0;
        var child = new WorkflowState
        {
            Id = start.ChildId,
            ConcurrencyKey = concurrencyKey,
            Definition = stored.Definition,
            DefinitionVersion = stored.Version,
            Input = start.Input,
            CreatedAt = now,
            UpdatedAt = now,
            DeadlineAt = timeout > 0 ? now + Timestamps.FromSeconds(timeout) : null,
            BudgetLimit = stored.Definition.Settings?.BudgetLimit,
            Priority = activity.Priority, // the activity's own priority, else its parent's (WorkflowMachine.StartChild)
            ParentId = parent.Workflow.Id,
            ParentActivityKey = activity.Key,
            ParentActivityId = activity.Id,
            ParentAttempt = start.Attempt,
        };
        await tx.InsertWorkflowAsync(child, ct);
        var created = new WorkflowEvent(EventTypes.WorkflowCreated, null, null, new JsonObject
        {
            ["definition_name"] = stored.Definition.Name,
            ["definition_version"] = stored.Version,
            ["input"] = start.Input.DeepClone(),
            ["parent_id"] = parent.Workflow.Id,
            ["parent_activity_key"] = activity.Key,
        });
        var entry = new Linked(child, new WorkflowMachine(child, Defaults, now), [created], parent.Depth + 1);
        linked.ById[child.Id] = entry;
        if (concurrencyKey is null)
        {
            entry.Machine.Start();
            await SettleAsync(tx, linked, entry, now, ct);
        }
    }

    /// <summary>Cancels the running children <paramref name="parent"/> no longer wants; true when it cancelled one.</summary>
    private async Task<bool> CancelUnwantedChildrenAsync(IWriteTransaction tx, LinkedWorkflows linked, Linked parent, long now,
        CancellationToken ct)
    {
        var parentId = parent.Workflow.Id;
        var candidates = new Dictionary<string, (string ActivityId, int Attempt)>(StringComparer.Ordinal);
        foreach (var link in await tx.ReadRunningChildrenAsync(parentId, ct))
        {
            candidates[link.WorkflowId] = (link.ParentActivityId, link.ParentAttempt);
        }
        foreach (var l in linked.ById.Values.Where(l => l.Workflow.ParentId == parentId))
        {
            candidates[l.Workflow.Id] = (l.Workflow.ParentActivityId!, l.Workflow.ParentAttempt ?? 0);
        }
        // Children of map items: their items must be loaded to be judged (a workflow loads without its items).
        await WithItemsAsync(tx, parent.Workflow, candidates.Values.Select(c => c.ActivityId), [], ct);
        var cancelled = false;
        foreach (var (childId, (activityId, attempt)) in candidates)
        {
            if (parent.Machine.WantsChild(activityId, attempt))
            {
                continue;
            }
            if (!linked.ById.TryGetValue(childId, out var child))
            {
                var state = await tx.LockWorkflowAsync(childId, skipLocked: false, ct);
                if (state is null)
                {
                    continue;
                }
                child = new Linked(state, new WorkflowMachine(state, Defaults, now), [], parent.Depth + 1);
                linked.ById[childId] = child;
            }
            if (WorkflowStatus.IsTerminal(child.Workflow.Status))
            {
                continue;
            }
            child.Machine.Cancel(WorkflowStatus.IsTerminal(parent.Workflow.Status)
                ? $"parent workflow {parentId} {parent.Workflow.Status}"
                : $"no longer wanted by activity '{child.Workflow.ParentActivityKey}' of parent workflow {parentId}");
            cancelled = true;
            await SettleAsync(tx, linked, child, now, ct);
        }
        return cancelled;
    }

    /// <summary>Completes or fails the parent's activity with this child's end (unless the activity moved on).</summary>
    private async Task DeliverEndAsync(IWriteTransaction tx, LinkedWorkflows linked, Linked child, string parentId, long now,
        CancellationToken ct)
    {
        if (!linked.ById.TryGetValue(parentId, out var parent))
        {
            var state = await tx.LockWorkflowAsync(parentId, skipLocked: false, ct);
            if (state is null)
            {
                return;
            }
            parent = new Linked(state, new WorkflowMachine(state, Defaults, now), [], Math.Max(0, child.Depth - 1));
            linked.ById[parentId] = parent;
        }
        var wf = child.Workflow;
        await WithItemsAsync(tx, parent.Workflow, [wf.ParentActivityId!], [], ct); // a map item's child: load the item
        if (parent.Machine.FindExecution(wf.ParentActivityId!) is not { Status: ActivityStatus.Running } activity
            || activity.Attempt != wf.ParentAttempt)
        {
            return; // a child the parent stopped waiting for: its end changes nothing there
        }
        var failed = wf.Definition.Activities.Select(a => wf.Activities.GetValueOrDefault(a.Key))
            .FirstOrDefault(a => a is { Status: ActivityStatus.Failed });
        var message = wf.ErrorMessage ?? (failed is null ? null : $"activity '{failed.Key}' failed: {failed.ErrorCode}: {failed.ErrorMessage}");
        parent.Machine.ChildEnded(activity, new ChildOutcome(wf.Id, wf.Status, OutputOf(wf), message, failed?.ErrorCode, wf.TotalCost));
        await SettleAsync(tx, linked, parent, now, ct);
    }

    /// <summary>A completed workflow's output as its parent's activity receives it: each completed activity's outputs
    /// under its key (docs/workflow-format.md#child-workflows).</summary>
    private static JsonObject OutputOf(WorkflowState wf)
    {
        var output = new JsonObject();
        foreach (var activity in wf.Definition.Activities)
        {
            if (wf.Activities.TryGetValue(activity.Key, out var a) && a.Status == ActivityStatus.Completed)
            {
                output[activity.Key] = a.Outputs?.DeepClone() ?? new JsonObject();
            }
        }
        return output;
    }

    /// <summary>Writes the workflows linked to a decision (none of them commits: the decision's own write does).</summary>
    private static async Task PersistLinkedAsync(IWriteTransaction tx, List<Linked> others, long now, CancellationToken ct)
    {
        foreach (var l in others)
        {
            await tx.PersistLinkedAsync(l.Workflow, l.Machine, l.Leading, now, ct);
        }
    }
}
