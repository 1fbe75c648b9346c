using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Costs;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;

namespace Spindle.Storage;

/// <summary>
/// The transaction logic every backend shares: load the workflow under its lock → run <see cref="WorkflowMachine"/>
/// → persist rows and events → notify after commit. Backends supply the transaction
/// (<see cref="InWriteTransactionAsync{T}"/>, <see cref="IWriteTransaction"/>), the claim and heartbeat statements,
/// queries, migrations and the due-timer queries.
/// </summary>
public abstract partial class TransactionalWorkflowStore : IWorkflowStore
{
    /// <summary>Rows examined per timer kind and pass; the next pass (a second later) takes the rest.</summary>
    protected const int TimerBatch = 200;

    private const int MaxConflictRetries = 5;

    protected TransactionalWorkflowStore(EngineDefaults defaults, IStoreNotifier? notifier)
    {
        Defaults = defaults;
        Notifier = notifier ?? NullStoreNotifier.Instance;
        _completions = new WriteCombiner<Completion, CompleteOutcome>(CompleteTogetherAsync);
    }

    private readonly WriteCombiner<Completion, CompleteOutcome> _completions;

    protected EngineDefaults Defaults { get; }

    /// <summary>The engine's clock (<see cref="EngineDefaults.Clock"/>) in engine microseconds.</summary>
    protected long Now() => Timestamps.ToMicros(Defaults.Clock.GetUtcNow());

    /// <summary>
    /// How long after its last poll a routing key still counts as served: longer than the longest long-poll (30 s),
    /// so a worker waiting in one is not mistaken for a missing worker.
    /// </summary>
    private static readonly long RecentPollMicros = Timestamps.FromSeconds(120);

    /// <summary>
    /// When a worker last polled this process, by routing key. In memory and per process: it only sharpens the
    /// deadline message, so on a cluster "recently" means "recently on the server that ran the deadline".
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _lastPoll = new(StringComparer.Ordinal);

    private bool PolledRecently(string worker, long now) =>
        _lastPoll.TryGetValue(worker, out var at) && now - at <= RecentPollMicros;

    /// <summary>Which workflow each activity this process leased out belongs to, so completions can be combined.</summary>
    protected LeaseDirectory Leases { get; } = new();

    protected IStoreNotifier Notifier { get; }

    /// <summary>Parsed definitions by version; shared by the store's reads and its transactions.</summary>
    protected DefinitionCache Definitions { get; } = new();

    /// <summary>Runs <paramref name="work"/> in one write transaction and commits it; rolls back if it throws.</summary>
    protected abstract Task<T> InWriteTransactionAsync<T>(Func<IWriteTransaction, CancellationToken, Task<T>> work,
        CancellationToken cancellationToken);

    /// <summary>Candidates for one kind of timer: (workflow id, activity key or null for the workflow itself).</summary>
    protected abstract Task<IReadOnlyList<(string WorkflowId, string? ActivityKey)>> FindDueAsync(DueTimer kind, long now,
        CancellationToken cancellationToken);

    public abstract Task MigrateAsync(CancellationToken cancellationToken);

    public abstract Task<DeployOutcome> DeployAsync(WorkflowDefinition definition, CancellationToken cancellationToken);

    public abstract Task<IReadOnlyList<DefinitionSummary>> ListDefinitionsAsync(CancellationToken cancellationToken);

    public abstract Task<StoredDefinition?> GetDefinitionAsync(string name, string? version, CancellationToken cancellationToken);

    public abstract Task<WorkflowState?> GetWorkflowAsync(string workflowId, CancellationToken cancellationToken);

    public abstract Task<string?> GetWorkflowStatusAsync(string workflowId, CancellationToken cancellationToken);

    public abstract Task<(IReadOnlyList<WorkflowSummary> Items, int Total)> ListWorkflowsAsync(WorkflowQuery query,
        CancellationToken cancellationToken);

    public async Task<IReadOnlyList<ClaimedActivity>> ClaimAsync(ClaimCommand command, CancellationToken cancellationToken)
    {
        _lastPoll[command.Worker] = Now();
        var claimed = await ClaimActivitiesAsync(command, cancellationToken);
        if (claimed.Count > 0)
        {
            Notifier.EventsAppended(); // the claim recorded ActivityStarted events
        }
        var handed = new List<ClaimedActivity>(claimed.Count);
        foreach (var a in claimed)
        {
            if (!SecretParameters.TryReveal(a.Parameters, a.SecretParameters, Defaults.Secrets, out var parameters, out var missing))
            {
                // The server's secrets changed since enqueue (a restart with another environment): the activity fails
                // clearly instead of reaching the worker without its value.
                await FailAsync(a.ActivityId, command.WorkerId,
                    new ActivityError(SecretParameters.NotFoundCode, SecretParameters.NotFoundMessage(missing!), false), 0m, cancellationToken);
                continue;
            }
            Leases.Leased(a.ActivityId, a.WorkflowId);
            handed.Add(a with { Parameters = parameters, SecretParameters = null });
        }
        return handed;
    }

    /// <summary>The backend's claim statement (<see cref="ClaimAsync"/>).</summary>
    protected abstract Task<IReadOnlyList<ClaimedActivity>> ClaimActivitiesAsync(ClaimCommand command, CancellationToken cancellationToken);

    public abstract Task<HeartbeatOutcome> HeartbeatAsync(string activityId, string workerId, CancellationToken cancellationToken);

    public abstract Task<EventPage?> GetEventsAsync(string workflowId, string? afterEventId, int limit,
        IReadOnlySet<string>? eventTypes, CancellationToken cancellationToken);

    public abstract Task<IReadOnlyList<(string Worker, long ReadyAt)>> GetDelayedAsync(CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();

    public abstract Task<IReadOnlyList<StoredCostLine>> GetCostLinesAsync(CostLineQuery query, CancellationToken cancellationToken);

    public abstract Task<int> DeleteCacheEntryAsync(string key, CancellationToken cancellationToken);

    public abstract Task<int> InvalidateCacheAsync(string pattern, CancellationToken cancellationToken);

    // ---- workflows --------------------------------------------------------------------------------------------

    public async Task<SubmitOutcome> SubmitAsync(SubmitCommand command, CancellationToken cancellationToken)
    {
        var handOvers = new HandOvers();
        try
        {
            var (outcome, machine) = await WriteAsync<(SubmitOutcome, WorkflowMachine?)>(async (tx, ct) =>
            {
                var stored = await tx.ReadDefinitionAsync(command.DefinitionName, command.Version, ct);
                if (stored is null)
                {
                    var what = command.Version is null
                        ? $"Workflow definition '{command.DefinitionName}' not found"
                        : $"Workflow definition '{command.DefinitionName}' version {command.Version} not found";
                    return (new SubmitOutcome(StoreStatus.NotFound, what, null), null);
                }
                if (command.UniqueKey is not null && await tx.UniqueKeyTakenAsync(command.UniqueKey, null, ct))
                {
                    return (UniqueKeyTaken(command.UniqueKey), null);
                }
                var now = Now();
                var timeout = stored.Definition.Settings?.TimeoutSeconds ?? Defaults.WorkflowTimeoutSeconds;
                var wf = new WorkflowState
                {
                    Id = Ids.New(),
                    Definition = stored.Definition,
                    DefinitionVersion = stored.Version,
                    Input = command.Input,
                    UniqueKey = command.UniqueKey,
                    CreatedAt = now,
                    UpdatedAt = now,
                    DeadlineAt = timeout > 0 ? now + Timestamps.FromSeconds(timeout) : null,
                    BudgetLimit = stored.Definition.Settings?.BudgetLimit,
                };
                await tx.InsertWorkflowAsync(wf, ct);
                var created = new WorkflowEvent(EventTypes.WorkflowCreated, null, null, new JsonObject
                {
                    ["definition_name"] = stored.Name,
                    ["definition_version"] = stored.Version,
                    ["input"] = command.Input.DeepClone(),
                });
                // Starting in the submit transaction saves a round trip: the roots are claimable when submit returns.
                var machine = new WorkflowMachine(wf, Defaults, now);
                machine.Start();
                await ApplyCacheHitsAsync(tx, machine, now, ct);
                // A long-poll waiting here for a first step gets it leased in this transaction and handed over after commit.
                handOvers.Abandon(); // what a previous try leased did not commit
                handOvers.Lease(machine, command.WaitingPollFor, Defaults.Secrets);
                await tx.PersistAsync(wf, machine, [created], now, ct);
                return (new SubmitOutcome(StoreStatus.Ok, null, wf), machine);
            }, cancellationToken);
            if (machine is not null)
            {
                handOvers.Deliver(Leases);
                NotifyCommitted(outcome.Workflow!.Id, machine);
            }
            return outcome;
        }
        catch (UniqueKeyConflictException)
        {
            // Two submits with one key raced past the check; the database's unique index let only one through.
            return UniqueKeyTaken(command.UniqueKey!);
        }
        finally
        {
            handOvers.Abandon(); // delivered ones are gone from the list: this only ends hand-overs that did not commit
        }
    }

    private static SubmitOutcome UniqueKeyTaken(string uniqueKey) =>
        new(StoreStatus.Conflict, $"A workflow with unique_key '{uniqueKey}' already exists", null);

    // ---- worker results ---------------------------------------------------------------------------------------

    public Task<CompleteOutcome> CompleteAsync(string activityId, string workerId, JsonObject output, decimal cost,
        CancellationToken cancellationToken) =>
        CompleteAsync(activityId, workerId, output, CostReport.Of(cost), cancellationToken);

    public Task<FailOutcome> FailAsync(string activityId, string workerId, ActivityError error, decimal cost,
        CancellationToken cancellationToken) =>
        FailAsync(activityId, workerId, error, CostReport.Of(cost), cancellationToken);

    public Task<CompleteOutcome> CompleteAsync(string activityId, string workerId, JsonObject output, CostReport costs,
        CancellationToken cancellationToken) =>
        CompleteAsync(activityId, workerId, output, costs, null, cancellationToken);

    public Task<CompleteOutcome> CompleteAsync(string activityId, string workerId, JsonObject output, CostReport costs,
        ClaimNext? claimNext, CancellationToken cancellationToken)
    {
        var completion = new Completion(activityId, workerId, output, costs, claimNext);
        return Leases.TryTake(activityId, out var workflowId)
            ? _completions.RunAsync(workflowId, completion, cancellationToken)
            : CompleteAloneAsync(completion, cancellationToken);
    }

    private async Task<CompleteOutcome> CompleteAloneAsync(Completion completion, CancellationToken cancellationToken) =>
        (await CompleteInOneTransactionAsync((tx, ct) => tx.LockWorkflowOfActivityAsync(completion.ActivityId, ct), [completion],
            cancellationToken))[0];

    /// <summary>
    /// Completions of one workflow that arrived together (<see cref="WriteCombiner{TItem,TResult}"/>): one lock, one
    /// decision over all of them, one persist and commit. A batch that fails for any reason but a conflict (those are
    /// retried as a whole) is split, so that one bad report cannot fail the others.
    /// </summary>
    private async Task<IReadOnlyList<CompleteOutcome>> CompleteTogetherAsync(string workflowId, IReadOnlyList<Completion> batch)
    {
        // The batch serves several callers: it runs to its end even when one of them gave up waiting.
        Task<CompleteOutcome[]> InOneTransaction(List<Completion> completions) =>
            CompleteInOneTransactionAsync((tx, ct) => tx.LockWorkflowAsync(workflowId, skipLocked: false, ct), completions,
                CancellationToken.None);

        // A report repeated while its first copy waits in the same batch would be answered before the first copy's
        // claims exist; such copies (rare: a worker retried while we were still deciding) go alone, afterwards.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var together = batch.Where(c => seen.Add(c.ActivityId)).ToList();
        IReadOnlyList<CompleteOutcome> outcomes;
        try
        {
            outcomes = await InOneTransaction(together);
        }
        catch (Exception) when (together.Count > 1)
        {
            var alone = new List<CompleteOutcome>(together.Count);
            foreach (var c in together)
            {
                alone.Add((await InOneTransaction([c]))[0]);
            }
            outcomes = alone;
        }
        if (together.Count == batch.Count)
        {
            return outcomes;
        }
        var answers = new List<CompleteOutcome>(batch.Count);
        var next = 0;
        seen.Clear();
        foreach (var c in batch)
        {
            answers.Add(seen.Add(c.ActivityId) ? outcomes[next++] : (await InOneTransaction([c]))[0]);
        }
        return answers;
    }

    /// <summary>
    /// Records <paramref name="batch"/> (reports for one workflow, which <paramref name="lockWorkflow"/> loads under its
    /// lock) in one transaction: each report is settled on its own, then one decision, one persist, one commit.
    /// </summary>
    private async Task<CompleteOutcome[]> CompleteInOneTransactionAsync(
        Func<IWriteTransaction, CancellationToken, Task<WorkflowState?>> lockWorkflow, List<Completion> batch,
        CancellationToken cancellationToken)
    {
        var (outcomes, wfId, machine) = await WriteAsync<(CompleteOutcome[], string?, WorkflowMachine?)>(async (tx, ct) =>
        {
            var now = Now();
            var wf = await lockWorkflow(tx, ct);
            if (wf is null)
            {
                return (batch.ConvertAll(NoSuchActivity).ToArray(), null, null);
            }
            WorkflowMachine? machine = null;
            var outcomes = new CompleteOutcome?[batch.Count];
            var activities = new ActivityState?[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                outcomes[i] = Settle(wf, ref machine, now, batch[i], out activities[i]);
            }
            if (machine is null)
            {
                return (outcomes.Select(o => o!).ToArray(), null, null);
            }
            await ApplyCacheHitsAsync(tx, machine, now, ct);
            for (var i = 0; i < batch.Count; i++)
            {
                outcomes[i] ??= new CompleteOutcome(StoreStatus.Ok, null, await ClaimNextForAsync(machine, batch[i], activities[i]!, ct));
            }
            await tx.PersistAsync(wf, machine, [], now, ct);
            return (outcomes.Select(o => o!).ToArray(), wf.Id, machine);
        }, cancellationToken);
        if (machine is not null)
        {
            NotifyCommitted(wfId!, machine);
        }
        return outcomes;
    }

    /// <summary>
    /// Records one completion in the loaded workflow (creating the machine on first use), or answers it without a
    /// change: not found, lease lost, or a repeat of a completion already recorded.
    /// </summary>
    private CompleteOutcome? Settle(WorkflowState wf, ref WorkflowMachine? machine, long now, Completion c, out ActivityState? activity)
    {
        activity = wf.Activities.Values.FirstOrDefault(a => a.Id == c.ActivityId);
        if (activity is null)
        {
            return NoSuchActivity(c);
        }
        if (activity.Status == ActivityStatus.Completed && activity.LeaseOwner == c.WorkerId)
        {
            // A retried report whose first answer was lost: hand out again what that completion leased to the
            // worker (stamped with its instant), or they would idle until their leases expire and cost an attempt.
            var completedAt = activity.CompletedAt;
            var leased = c.ClaimNext is null
                ? []
                : wf.Activities.Values.Where(a => a.Status == ActivityStatus.Running && a.LeaseOwner == c.WorkerId
                    && a.ClaimedAt == completedAt).OrderBy(a => a.ReadyAt).Select(a => Handed(a, Defaults.Secrets)).ToList();
            return new CompleteOutcome(StoreStatus.Ok, "already completed", leased);
        }
        if (activity.Status != ActivityStatus.Running || activity.LeaseOwner != c.WorkerId)
        {
            return new CompleteOutcome(StoreStatus.Conflict, LostLeaseMessage(activity, c.WorkerId));
        }
        machine ??= new WorkflowMachine(wf, Defaults, now);
        machine.Complete(activity, c.Output, c.Costs);
        if (activity.Status == ActivityStatus.Completed)
        {
            activity.LeaseOwner = c.WorkerId; // remembered so that a repeated report by the same worker is idempotent
        }
        return null;
    }

    private async Task<List<ClaimedActivity>> ClaimNextForAsync(WorkflowMachine machine, Completion c, ActivityState completed,
        CancellationToken ct)
    {
        if (c.ClaimNext is not { } next)
        {
            return [];
        }
        var worker = next.Worker ?? completed.Worker;
        var max = next.MaxActivities;
        if (next.BorrowSlots is { } borrow && machine.CountClaimable(worker, next.ActivityNames) - max is var more and > 0)
        {
            max += await borrow(more, ct);
        }
        var claimed = machine.ClaimReady(worker, c.WorkerId, next.ActivityNames, max).ConvertAll(a => Handed(a, Defaults.Secrets));
        foreach (var a in claimed)
        {
            Leases.Leased(a.ActivityId, a.WorkflowId);
        }
        return claimed;
    }

    private static CompleteOutcome NoSuchActivity(Completion c) => new(StoreStatus.NotFound, $"Activity {c.ActivityId} not found");

    /// <summary>One worker's report of a result, as <see cref="CompleteAsync(string,string,JsonObject,CostReport,ClaimNext?,CancellationToken)"/> received it.</summary>
    private sealed record Completion(string ActivityId, string WorkerId, JsonObject Output, CostReport Costs, ClaimNext? ClaimNext);

    public async Task<FailOutcome> FailAsync(string activityId, string workerId, ActivityError error, CostReport costs,
        CancellationToken cancellationToken)
    {
        Leases.TryTake(activityId, out _);
        var (outcome, wfId, machine) = await WriteAsync<(FailOutcome, string?, WorkflowMachine?)>(async (tx, ct) =>
        {
            var now = Now();
            var wf = await tx.LockWorkflowOfActivityAsync(activityId, ct);
            var activity = wf?.Activities.Values.FirstOrDefault(a => a.Id == activityId);
            if (wf is null || activity is null)
            {
                return (new FailOutcome(StoreStatus.NotFound, $"Activity {activityId} not found", false), null, null);
            }
            if (activity.Status != ActivityStatus.Running || activity.LeaseOwner != workerId)
            {
                return (new FailOutcome(StoreStatus.Conflict, LostLeaseMessage(activity, workerId), false), null, null);
            }
            var machine = new WorkflowMachine(wf, Defaults, now);
            var willRetry = machine.Fail(activity, error.Code, error.Message, error.Retryable, costs);
            await ApplyCacheHitsAsync(tx, machine, now, ct);
            await tx.PersistAsync(wf, machine, [], now, ct);
            return (new FailOutcome(StoreStatus.Ok, null, willRetry), wf.Id, machine);
        }, cancellationToken);
        if (machine is not null)
        {
            NotifyCommitted(wfId!, machine);
        }
        return outcome;
    }

    /// <summary>An activity leased in memory, as the claim statement would hand it out (copies: the state is the
    /// transaction's), with its secrets' values (<see cref="WorkflowMachine.ClaimReady"/> leased none that lacks one).</summary>
    private static ClaimedActivity Handed(ActivityState a, IReadOnlyDictionary<string, string> secrets)
    {
        var parameters = a.Parameters?.DeepClone().AsObject() ?? new JsonObject();
        if (SecretParameters.TryReveal(parameters, a.SecretParameters, secrets, out var revealed, out _))
        {
            parameters = revealed;
        }
        return new(a.Id, a.WorkflowId, a.Key, a.Worker, a.ActivityName, parameters,
            a.Delivery?.DeepClone().AsObject() ?? new JsonObject(), a.SignalData?.DeepClone(), a.Attempt, a.Iteration, a.LeaseSeconds);
    }

    private static string LostLeaseMessage(ActivityState activity, string workerId) =>
        activity.Status == ActivityStatus.Running
            ? $"Activity {activity.Id} is leased by another worker, not '{workerId}' (lease lost)"
            : $"Activity {activity.Id} is {activity.Status}, not running; the result was discarded";

    // ---- workflow operations ----------------------------------------------------------------------------------

    public async Task<CancelOutcome> CancelAsync(string workflowId, string? reason, CancellationToken cancellationToken)
    {
        var (outcome, machine) = await WriteAsync<(CancelOutcome, WorkflowMachine?)>(async (tx, ct) =>
        {
            var wf = await tx.LockWorkflowAsync(workflowId, skipLocked: false, ct);
            if (wf is null)
            {
                return (new CancelOutcome(StoreStatus.NotFound, null), null);
            }
            if (wf.Status == WorkflowStatus.Cancelled)
            {
                return (new CancelOutcome(StoreStatus.Ok, wf.Status), null);
            }
            if (WorkflowStatus.IsTerminal(wf.Status))
            {
                return (new CancelOutcome(StoreStatus.Conflict, wf.Status), null);
            }
            var now = Now();
            var machine = new WorkflowMachine(wf, Defaults, now);
            machine.Cancel(reason);
            await ApplyCacheHitsAsync(tx, machine, now, ct);
            await tx.PersistAsync(wf, machine, [], now, ct);
            return (new CancelOutcome(StoreStatus.Ok, wf.Status), machine);
        }, cancellationToken);
        if (machine is not null)
        {
            NotifyCommitted(workflowId, machine);
        }
        return outcome;
    }

    public async Task<RetryOutcome> RetryAsync(string workflowId, CancellationToken cancellationToken)
    {
        RetryOutcome outcome;
        WorkflowMachine? machine;
        string? uniqueKey = null;
        try
        {
            (outcome, machine) = await WriteAsync<(RetryOutcome, WorkflowMachine?)>(async (tx, ct) =>
            {
                var wf = await tx.LockWorkflowAsync(workflowId, skipLocked: false, ct);
                if (wf is null)
                {
                    return (new RetryOutcome(StoreStatus.NotFound, "Workflow not found", []), null);
                }
                if (wf.Status is not (WorkflowStatus.Failed or WorkflowStatus.Cancelled))
                {
                    return (new RetryOutcome(StoreStatus.Conflict,
                        $"Only failed or cancelled workflows can be retried; this one is {wf.Status}", []), null);
                }
                uniqueKey = wf.UniqueKey;
                if (wf.UniqueKey is not null && await tx.UniqueKeyTakenAsync(wf.UniqueKey, wf.Id, ct))
                {
                    return (UniqueKeyRetaken(wf.UniqueKey), null);
                }
                var now = Now();
                var machine = new WorkflowMachine(wf, Defaults, now);
                var keys = machine.Retry(wf.Definition.Settings?.TimeoutSeconds ?? Defaults.WorkflowTimeoutSeconds);
                await ApplyCacheHitsAsync(tx, machine, now, ct);
                await tx.PersistAsync(wf, machine, [], now, ct);
                return (new RetryOutcome(StoreStatus.Ok, null, keys), machine);
            }, cancellationToken);
        }
        catch (UniqueKeyConflictException)
        {
            return UniqueKeyRetaken(uniqueKey ?? "");
        }
        if (machine is not null)
        {
            NotifyCommitted(workflowId, machine);
        }
        return outcome;
    }

    private static RetryOutcome UniqueKeyRetaken(string uniqueKey) =>
        new(StoreStatus.Conflict, $"Another workflow has taken unique_key '{uniqueKey}'", []);

    public async Task<SignalOutcome> SignalAsync(string workflowId, string? activityKey, string eventName, JsonNode? data,
        CancellationToken cancellationToken)
    {
        var (outcome, machine) = await WriteAsync<(SignalOutcome, WorkflowMachine?)>(async (tx, ct) =>
        {
            var wf = await tx.LockWorkflowAsync(workflowId, skipLocked: false, ct);
            if (wf is null)
            {
                return (new SignalOutcome(StoreStatus.NotFound, []), null);
            }
            if (wf.Status != WorkflowStatus.Running)
            {
                return (new SignalOutcome(StoreStatus.Ok, []), null);
            }
            var now = Now();
            var machine = new WorkflowMachine(wf, Defaults, now);
            var signaled = machine.Signal(activityKey, eventName, data);
            if (signaled.Count == 0)
            {
                return (new SignalOutcome(StoreStatus.Ok, signaled), null);
            }
            await ApplyCacheHitsAsync(tx, machine, now, ct);
            await tx.PersistAsync(wf, machine, [], now, ct);
            return (new SignalOutcome(StoreStatus.Ok, signaled), machine);
        }, cancellationToken);
        if (machine is not null)
        {
            NotifyCommitted(workflowId, machine);
        }
        return outcome;
    }

    // ---- plumbing ---------------------------------------------------------------------------------------------

    /// <summary>
    /// The result cache (workflow-format.md §1.5), kept by the server for every worker: each activity the decision
    /// queued with <c>settings.cache</c> is looked up, and a live entry completes it at once at cost 0. A hit can
    /// queue further cached activities, which are looked up in turn. Without cached activities this costs nothing.
    /// </summary>
    private static async Task ApplyCacheHitsAsync(IWriteTransaction tx, WorkflowMachine machine, long now, CancellationToken ct)
    {
        for (var i = 0; i < machine.CacheCandidates.Count; i++)
        {
            var (activity, key) = machine.CacheCandidates[i];
            if (activity.Status != ActivityStatus.Pending || activity.ReadyAt > now)
            {
                continue; // a delayed start keeps its delay
            }
            if (await tx.ReadCacheAsync(key, now, ct) is { } outputs)
            {
                machine.CompleteFromCache(activity, outputs);
            }
        }
    }

    /// <summary>Runs a transaction, starting it over on fresh data when a row changed underneath it.</summary>
    private async Task<T> WriteAsync<T>(Func<IWriteTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await InWriteTransactionAsync(work, cancellationToken);
            }
            catch (WriteConflictException) when (attempt < MaxConflictRetries)
            {
                // The transaction was rolled back; run the decision again on what is now committed.
            }
        }
    }

    /// <summary>Wakes this process's waiters once the decision is durable.</summary>
    protected void NotifyCommitted(string workflowId, WorkflowMachine machine)
    {
        foreach (var worker in machine.ReadyWorkers)
        {
            Notifier.ActivitiesReady(worker);
        }
        foreach (var (worker, at) in machine.DelayedWorkers)
        {
            Notifier.ActivitiesDelayed(worker, at);
        }
        if (machine.BecameTerminal)
        {
            Notifier.WorkflowFinished(workflowId);
        }
        Notifier.EventsAppended();
    }

    /// <summary>
    /// The new workflow's first activities leased to long-polls waiting in this process, in the submitting transaction,
    /// and handed to them once it commits: no wake-up and no claim statement between submit and first step.
    /// </summary>
    private sealed class HandOvers
    {
        private readonly List<(IWaitingPoll Poll, List<ClaimedActivity> Leased, int Unused)> _pending = [];

        public void Lease(WorkflowMachine machine, Func<string, IWaitingPoll?>? waitingPollFor, IReadOnlyDictionary<string, string> secrets)
        {
            if (waitingPollFor is null)
            {
                return;
            }
            foreach (var worker in machine.ReadyWorkers.ToList())
            {
                if (waitingPollFor(worker) is not { } poll)
                {
                    continue;
                }
                var taken = poll.TakeSlots(machine.CountClaimable(worker, poll.ActivityNames));
                if (taken == 0)
                {
                    continue;
                }
                List<ClaimedActivity> leased = [];
                try
                {
                    leased = machine.ClaimReady(worker, poll.WorkerId, poll.ActivityNames, taken).ConvertAll(a => Handed(a, secrets));
                }
                finally
                {
                    _pending.Add((poll, leased, taken - leased.Count)); // every take must end, or the poll waits for it
                }
            }
        }

        /// <summary>After commit: each poll answers with what was leased to it.</summary>
        public void Deliver(LeaseDirectory leases)
        {
            foreach (var (poll, leased, unused) in _pending)
            {
                foreach (var a in leased)
                {
                    leases.Leased(a.ActivityId, a.WorkflowId);
                }
                poll.EndHandOver(leased, unused);
            }
            _pending.Clear();
        }

        /// <summary>The transaction did not commit: the polls get their slots back and go on waiting.</summary>
        public void Abandon()
        {
            foreach (var (poll, leased, unused) in _pending)
            {
                poll.EndHandOver([], leased.Count + unused);
            }
            _pending.Clear();
        }
    }
}
