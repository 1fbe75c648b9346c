namespace Spindle.Storage;

/// <summary>
/// Group commit of completions (docs/architecture.md): reports that arrive while a completion transaction is under
/// way wait in the process, and when it ends all of them, for any workflows, are recorded in the next single
/// transaction, one commit (one fsync) for the lot. Each report is decided exactly as alone and gets its own answer.
/// </summary>
public abstract partial class TransactionalWorkflowStore
{
    /// <summary>At most this many reports share a transaction: bounds how long it holds its workflows' locks.</summary>
    private const int MaxCompletionGroup = 64;

    /// <summary>One queue for all workflows: whatever waits goes into the next transaction.</summary>
    private const string CompletionGroupKey = "";

    /// <summary>
    /// Whether completions of different workflows share the group's queue (one transaction in flight at a time), or
    /// only completions of one workflow are combined and different workflows commit side by side. A single-writer
    /// backend (SQLite) loses nothing by the first; on PostgreSQL concurrent commits already share WAL flushes, and
    /// one transaction at a time measured slower (docs/performance-notes.md).
    /// </summary>
    protected virtual bool GroupsAcrossWorkflows => true;

    private long _completionTransactions;
    private long _completionReports;

    /// <summary>
    /// Committed transactions of the group committer and the reports they recorded (reports whose activity this process
    /// did not lease, and reports split off after a failed group, are not counted). For tests and metrics.
    /// </summary>
    public (long Transactions, long Reports) CompletionGroups =>
        (Interlocked.Read(ref _completionTransactions), Interlocked.Read(ref _completionReports));

    /// <summary>Reports waiting for the completion transaction under way to end (for tests).</summary>
    public int CompletionsWaiting => _completions.Waiting;

    /// <summary>Called for each report as its transaction decides it: a test throws from it to fail one report inside a
    /// shared transaction.</summary>
    internal Action<CompleteCommand>? DecidingCompletion { get; set; }

    /// <summary>
    /// Records reports of any workflows together, as the group committer does: in one transaction, each with its own
    /// answer or the exception that failed it (which fails no other report). A report whose activity this process did
    /// not lease goes alone.
    /// </summary>
    public async Task<IReadOnlyList<Task<CompleteOutcome>>> CompleteManyAsync(IReadOnlyList<CompleteCommand> commands)
    {
        var known = new List<(string WorkflowId, CompleteCommand Command)>();
        var at = new List<int>();
        var answers = new Task<CompleteOutcome>[commands.Count];
        for (var i = 0; i < commands.Count; i++)
        {
            if (Leases.TryTake(commands[i].ActivityId, out var workflowId))
            {
                known.Add((workflowId, commands[i]));
                at.Add(i);
            }
            else
            {
                answers[i] = CompleteAloneAsync(commands[i], CancellationToken.None);
            }
        }
        var together = await CompleteGroupAsync(CompletionGroupKey, known);
        for (var i = 0; i < together.Count; i++)
        {
            answers[at[i]] = together[i];
        }
        await Task.WhenAll(answers.Where(a => !a.IsCompleted).Select(a => a.ContinueWith(_ => { }, TaskScheduler.Default)));
        return answers;
    }

    /// <summary>
    /// One group (<see cref="WriteCombiner{TItem,TResult}"/>): the reports grouped by workflow, the workflows locked in
    /// id order (so two servers' groups cannot wait for each other in a cycle), one decision per workflow, one commit.
    /// Answers are settled tasks, one per item, in order.
    /// </summary>
    private async Task<IReadOnlyList<Task<CompleteOutcome>>> CompleteGroupAsync(string key,
        IReadOnlyList<(string WorkflowId, CompleteCommand Command)> items)
    {
        var answers = new Task<CompleteOutcome>[items.Count];
        // A report repeated while its first copy waits in the same group would be answered before the first copy's
        // claims exist; such copies (rare: a worker retried while we were still deciding) go alone, afterwards.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var repeats = new List<int>();
        var byWorkflow = new SortedDictionary<string, List<int>>(StringComparer.Ordinal);
        for (var i = 0; i < items.Count; i++)
        {
            if (!seen.Add(items[i].Command.ActivityId))
            {
                repeats.Add(i);
                continue;
            }
            if (!byWorkflow.TryGetValue(items[i].WorkflowId, out var indexes))
            {
                byWorkflow[items[i].WorkflowId] = indexes = [];
            }
            indexes.Add(i);
        }
        if (byWorkflow.Count > 0)
        {
            await SettleGroupAsync(items, [.. byWorkflow.Select(kv => (kv.Key, kv.Value))], answers);
        }
        foreach (var i in repeats)
        {
            await SettleGroupAsync(items, [(items[i].WorkflowId, [i])], answers);
        }
        return answers;
    }

    /// <summary>
    /// Records <paramref name="groups"/> in one transaction. If it fails (after the conflict retries), nothing of it was
    /// committed, and it is split: each workflow on its own, then each report on its own, so that one report that
    /// cannot be recorded fails only itself.
    /// </summary>
    private async Task SettleGroupAsync(IReadOnlyList<(string WorkflowId, CompleteCommand Command)> items,
        List<(string WorkflowId, List<int> Indexes)> groups, Task<CompleteOutcome>[] answers)
    {
        try
        {
            var outcomes = await CompleteWorkflowsAsync(groups.ConvertAll(g => (g.WorkflowId, g.Indexes.ConvertAll(i => items[i].Command))));
            for (var g = 0; g < groups.Count; g++)
            {
                for (var j = 0; j < groups[g].Indexes.Count; j++)
                {
                    answers[groups[g].Indexes[j]] = Task.FromResult(outcomes[g][j]);
                }
            }
        }
        catch (Exception ex)
        {
            if (groups.Count > 1)
            {
                foreach (var g in groups)
                {
                    await SettleGroupAsync(items, [g], answers);
                }
            }
            else if (groups[0].Indexes.Count > 1)
            {
                foreach (var i in groups[0].Indexes)
                {
                    await SettleGroupAsync(items, [(groups[0].WorkflowId, [i])], answers);
                }
            }
            else
            {
                answers[groups[0].Indexes[0]] = Task.FromException<CompleteOutcome>(ex);
            }
        }
    }

    /// <summary>
    /// One transaction over several workflows' reports: each workflow locked and decided in turn, as
    /// <see cref="CompleteInOneTransactionAsync"/> does for one (what a decision unblocks is queued, and leased for
    /// claim-next, in it); the waiters of all are woken once it has committed. The group runs to its end even when a
    /// caller stops waiting: it serves the others too.
    /// </summary>
    private async Task<CompleteOutcome[][]> CompleteWorkflowsAsync(List<(string WorkflowId, List<CompleteCommand> Commands)> groups)
    {
        var outcomes = await CommitAsync<CompleteOutcome[][]>(async (tx, ct) =>
        {
            var all = new CompleteOutcome[groups.Count][];
            List<Action> committed = [];
            for (var g = 0; g < groups.Count; g++)
            {
                var workflowId = groups[g].WorkflowId;
                (all[g], var after) = await DecideCompletionsAsync(tx, (tx, ct) => tx.LockWorkflowAsync(workflowId, skipLocked: false, ct),
                    groups[g].Commands, last: g == groups.Count - 1, ct);
                if (after is not null)
                {
                    committed.Add(after);
                }
            }
            return (all, committed.Count == 0 ? null : () => committed.ForEach(a => a()));
        }, CancellationToken.None);
        Interlocked.Increment(ref _completionTransactions);
        Interlocked.Add(ref _completionReports, groups.Sum(g => g.Commands.Count));
        return outcomes;
    }
}
