using Spindle.Core.Orchestration;

namespace Spindle.Storage;

/// <summary>The sequence every decision about a workflow shares (submit, complete, fail, cancel, retry, signal, timers).</summary>
public abstract partial class TransactionalWorkflowStore
{
    /// <summary>
    /// The one sequence of every decision about a workflow, in one transaction (run again on fresh data after a write
    /// conflict): <paramref name="load"/> the workflow under its lock (a submit creates it) → <paramref name="act"/>
    /// lets the machine decide → the result cache answers what the decision queued → persist → once committed, wake
    /// this process's waiters.
    /// </summary>
    /// <param name="load">The workflow, given the decision's instant; null when there is none to decide about.</param>
    /// <param name="none">The answer when <paramref name="load"/> found no workflow.</param>
    /// <param name="act">The caller's part: its answer, and whether the workflow changed (if not, nothing is written
    /// and nobody woken).</param>
    private Task<T> RunDecisionAsync<T>(Func<IWriteTransaction, long, CancellationToken, Task<WorkflowState?>> load,
        Func<T> none, Func<Turn, CancellationToken, Task<(T Outcome, bool Changed)>> act, CancellationToken cancellationToken) =>
        CommitAsync((tx, ct) => DecideAsync(tx, load, none, act, last: true, ct), cancellationToken);

    /// <summary>
    /// Runs <paramref name="decide"/> in one write transaction (again on fresh data after a write conflict), and once
    /// it has committed what it returned to run then (<see cref="DecideAsync{T}"/>).
    /// </summary>
    private async Task<T> CommitAsync<T>(Func<IWriteTransaction, CancellationToken, Task<(T Outcome, Action? Committed)>> decide,
        CancellationToken cancellationToken)
    {
        Action? committed = null;
        var outcome = await WriteAsync(async (tx, ct) =>
        {
            committed = null;
            (var result, committed) = await decide(tx, ct);
            return result;
        }, cancellationToken);
        committed?.Invoke();
        return outcome;
    }

    /// <summary>
    /// The part of <see cref="RunDecisionAsync{T}"/> inside the transaction, for a transaction that holds several
    /// decisions (a group of completions): the answer, and what to run once the transaction has committed (null when
    /// nothing changed). Only the <paramref name="last"/> decision of a transaction may let the backend commit with
    /// its writes.
    /// </summary>
    private async Task<(T Outcome, Action? Committed)> DecideAsync<T>(IWriteTransaction tx,
        Func<IWriteTransaction, long, CancellationToken, Task<WorkflowState?>> load, Func<T> none,
        Func<Turn, CancellationToken, Task<(T Outcome, bool Changed)>> act, bool last, CancellationToken ct)
    {
        var now = Now();
        var wf = await load(tx, now, ct);
        if (wf is null)
        {
            return (none(), null);
        }
        var turn = new Turn(tx, wf, new WorkflowMachine(wf, Defaults, now), now);
        var (outcome, changed) = await act(turn, ct);
        if (!changed)
        {
            return (outcome, null);
        }
        var linked = await SettleLinksAsync(tx, wf, turn.Machine, now, ct); // the cache, map requests and links
        turn.AfterCacheHits?.Invoke();
        linked.AddRange(await PersistAndDrainAsync(tx, wf, turn.Machine, turn.LeadingEvents, linked, now, ct, last));
        void Committed()
        {
            turn.Committed?.Invoke();
            NotifyCommitted(wf.Id, turn.Machine);
            foreach (var l in linked)
            {
                NotifyCommitted(l.Workflow.Id, l.Machine);
            }
        }
        return (outcome, Committed);
    }

    /// <summary>As the other overload, for a caller whose part needs no statement of its own.</summary>
    private Task<T> RunDecisionAsync<T>(Func<IWriteTransaction, long, CancellationToken, Task<WorkflowState?>> load,
        Func<T> none, Func<Turn, (T Outcome, bool Changed)> act, CancellationToken cancellationToken) =>
        RunDecisionAsync(load, none, (turn, _) => Task.FromResult(act(turn)), cancellationToken);

    /// <summary>One decision under way (<see cref="RunDecisionAsync{T}"/>): the workflow, the machine deciding about it
    /// and the instant it decides at; and what the caller adds to the shared sequence.</summary>
    private sealed record Turn(IWriteTransaction Tx, WorkflowState Workflow, WorkflowMachine Machine, long Now)
    {
        /// <summary>Events written ahead of the machine's (a submit's <c>WorkflowCreated</c>).</summary>
        public IReadOnlyList<WorkflowEvent> LeadingEvents { get; set; } = [];

        /// <summary>Run once the result cache has answered, before persisting: leases that should include what it completed.</summary>
        public Action? AfterCacheHits { get; set; }

        /// <summary>Run after commit, before the waiters are woken.</summary>
        public Action? Committed { get; set; }
    }
}
