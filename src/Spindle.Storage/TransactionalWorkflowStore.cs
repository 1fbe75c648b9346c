using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Costs;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;
using Spindle.Core.Templates;

namespace Spindle.Storage;

/// <summary>
/// The transaction logic every backend shares: each decision (<see cref="RunDecisionAsync{T}"/>) loads the workflow
/// under its lock → runs <see cref="WorkflowMachine"/> → persists rows and events → notifies after commit. Backends supply the transaction
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
        _completions = new WriteCombiner<(string WorkflowId, CompleteCommand Command), Task<CompleteOutcome>>(CompleteGroupAsync,
            MaxCompletionGroup);
    }

    /// <summary>The group committer of completions (TransactionalWorkflowStore.GroupCommit.cs). Each item's answer is a
    /// task of its own, so that a report that fails fails only its own request.</summary>
    private readonly WriteCombiner<(string WorkflowId, CompleteCommand Command), Task<CompleteOutcome>> _completions;

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

    private bool PolledRecently(string routingKey, long now) =>
        _lastPoll.TryGetValue(routingKey, out var at) && now - at <= RecentPollMicros;

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

    public abstract Task<IReadOnlyList<ChildLink>> ListChildrenAsync(string workflowId, CancellationToken cancellationToken);

    public abstract Task<string?> GetWorkflowStatusAsync(string workflowId, CancellationToken cancellationToken);

    public abstract Task<(IReadOnlyList<WorkflowSummary> Items, int Total)> ListWorkflowsAsync(WorkflowQuery query,
        CancellationToken cancellationToken);

    public async Task<IReadOnlyList<ClaimedActivity>> ClaimAsync(ClaimCommand command, CancellationToken cancellationToken)
    {
        _lastPoll[command.RoutingKey] = Now();
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
                await FailAsync(new FailCommand(a.ActivityId, command.WorkerId,
                    new ActivityError(SecretParameters.NotFoundCode, SecretParameters.NotFoundMessage(missing!), false), CostReport.Of(0m)),
                    cancellationToken);
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

    public abstract Task<IReadOnlyList<(string RoutingKey, long ReadyAt)>> GetDelayedAsync(CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();

    public abstract Task<IReadOnlyList<StoredCostLine>> GetCostLinesAsync(CostLineQuery query, CancellationToken cancellationToken);

    public abstract Task<int> DeleteCacheEntryAsync(string key, CancellationToken cancellationToken);

    public abstract Task<int> InvalidateCacheAsync(string pattern, CancellationToken cancellationToken);

    // ---- workflows --------------------------------------------------------------------------------------------

    public async Task<SubmitOutcome> SubmitAsync(SubmitCommand command, CancellationToken cancellationToken)
    {
        List<ClaimedActivity> handedOver = [];
        SubmitOutcome? refused = null; // why the try's create step made no workflow
        try
        {
            return await RunDecisionAsync(async (tx, now, ct) =>
            {
                (var wf, refused) = await CreateWorkflowAsync(tx, command, now, ct);
                return wf;
            }, () => refused!, turn =>
            {
                turn.LeadingEvents = [Created(command, turn.Workflow)];
                // Starting in the submit transaction saves a round trip: the roots are claimable when submit returns.
                // A run with a concurrency key waits in its queue instead; the drain before commit starts it if it may.
                if (turn.Workflow.ConcurrencyKey is null)
                {
                    turn.Machine.Start();
                }
                // Long-polls waiting here lent slots: the first steps are leased to them in this transaction (after the
                // result cache answered), and the caller hands them over once it commits.
                turn.AfterCacheHits = () =>
                {
                    handedOver.Clear(); // what a previous try leased did not commit
                    handedOver.AddRange(LeaseToGrants(turn.Machine, command.Grants));
                };
                turn.Committed = () =>
                {
                    foreach (var a in handedOver)
                    {
                        Leases.Leased(a.ActivityId, a.WorkflowId);
                    }
                };
                return (new SubmitOutcome(StoreStatus.Ok, null, turn.Workflow) { HandedOver = handedOver }, true);
            }, cancellationToken);
        }
        catch (UniqueKeyConflictException)
        {
            // Two submits with one key raced past the check; the database's unique index let only one through.
            return UniqueKeyTaken(command.UniqueKey!);
        }
    }

    /// <summary>
    /// The submit decision inside a caller's write transaction (a schedule's occurrence): the workflow row, its start
    /// event and first steps, persisted (which is the transaction's last write). <paramref name="beforePersist"/> writes
    /// what must commit with the new workflow (the schedule advancing to its next occurrence). The caller wakes the
    /// waiters (<see cref="NotifyCommitted"/>) with the returned machine once the transaction commits.
    /// </summary>
    private async Task<(SubmitOutcome, WorkflowMachine?, List<Linked> Started)> SubmitInTransactionAsync(IWriteTransaction tx,
        SubmitCommand command, Func<WorkflowState, CancellationToken, Task>? beforePersist, CancellationToken ct)
    {
        var now = Now();
        var (wf, refused) = await CreateWorkflowAsync(tx, command, now, ct);
        if (wf is null)
        {
            return (refused!, null, []);
        }
        // Starting in the submit transaction saves a round trip: the roots are claimable when submit returns.
        // A run with a concurrency key waits in its queue instead (TransactionalWorkflowStore.RunQueue.cs).
        var machine = new WorkflowMachine(wf, Defaults, now);
        if (wf.ConcurrencyKey is null)
        {
            machine.Start();
        }
        var linked = await SettleLinksAsync(tx, wf, machine, now, ct); // the cache, map requests and links
        if (beforePersist is not null)
        {
            await beforePersist(wf, ct);
        }
        var started = await PersistAndDrainAsync(tx, wf, machine, [Created(command, wf)], linked, now, ct);
        started.AddRange(linked);
        return (new SubmitOutcome(StoreStatus.Ok, null, wf), machine, started);
    }

    /// <summary>A submit's workflow row, written; or why there is none (no such definition, a held unique key).</summary>
    private async Task<(WorkflowState? Workflow, SubmitOutcome? Refused)> CreateWorkflowAsync(IWriteTransaction tx, SubmitCommand command,
        long now, CancellationToken ct)
    {
        var stored = await tx.ReadDefinitionAsync(command.DefinitionName, command.Version, ct);
        if (stored is null)
        {
            var what = command.Version is null
                ? $"Workflow definition '{command.DefinitionName}' not found"
                : $"Workflow definition '{command.DefinitionName}' version {command.Version} not found";
            return (null, new SubmitOutcome(StoreStatus.NotFound, what, null));
        }
        if (command.UniqueKey is not null && await tx.UniqueKeyTakenAsync(command.UniqueKey, null, ct))
        {
            return (null, UniqueKeyTaken(command.UniqueKey));
        }
        var id = Ids.New();
        string? concurrencyKey;
        try
        {
            concurrencyKey = WorkflowMachine.RunConcurrencyKey(stored.Definition, stored.Version, id, command.Input, Defaults.TemplateLimits);
        }
        catch (TemplateException ex)
        {
            return (null, new SubmitOutcome(StoreStatus.Invalid, $"concurrency.key of '{command.DefinitionName}' did not render: {ex.Message}", null)
            {
                Field = "concurrency.key",
            });
        }
        // A queued run's deadline is set when it starts (TransactionalWorkflowStore.RunQueue.cs).
        var timeout = concurrencyKey is null ? stored.Definition.Settings?.TimeoutSeconds ?? Defaults.WorkflowTimeoutSeconds : 0;
        var wf = new WorkflowState
        {
            Id = id,
            ConcurrencyKey = concurrencyKey,
            Definition = stored.Definition,
            DefinitionVersion = stored.Version,
            Input = command.Input,
            UniqueKey = command.UniqueKey,
            CreatedAt = now,
            UpdatedAt = now,
            DeadlineAt = timeout > 0 ? now + Timestamps.FromSeconds(timeout) : null,
            BudgetLimit = stored.Definition.Settings?.BudgetLimit,
            ScheduleId = command.ScheduleId,
            ScheduledAt = command.ScheduledAt,
            Priority = command.Priority,
        };
        await tx.InsertWorkflowAsync(wf, ct);
        return (wf, null);
    }

    private static WorkflowEvent Created(SubmitCommand command, WorkflowState wf) =>
        new(EventTypes.WorkflowCreated, null, null, new JsonObject
        {
            ["definition_name"] = command.DefinitionName,
            ["definition_version"] = wf.DefinitionVersion,
            ["input"] = command.Input.DeepClone(),
        });

    private static SubmitOutcome UniqueKeyTaken(string uniqueKey) =>
        new(StoreStatus.Conflict, $"A workflow with unique_key '{uniqueKey}' already exists", null);

    // ---- worker results ---------------------------------------------------------------------------------------

    public async Task<CompleteOutcome> CompleteAsync(CompleteCommand command, CancellationToken cancellationToken) =>
        Leases.TryTake(command.ActivityId, out var workflowId)
            ? await await _completions.RunAsync(GroupsAcrossWorkflows ? CompletionGroupKey : workflowId, (workflowId, command), cancellationToken)
            : await CompleteAloneAsync(command, cancellationToken);

    private async Task<CompleteOutcome> CompleteAloneAsync(CompleteCommand completion, CancellationToken cancellationToken) =>
        (await CompleteInOneTransactionAsync((tx, ct) => tx.LockWorkflowOfActivityAsync(completion.ActivityId, ct), [completion],
            cancellationToken))[0];

    /// <summary>
    /// Records <paramref name="batch"/> (reports for one workflow, which <paramref name="lockWorkflow"/> loads under its
    /// lock) in one transaction: each report is settled on its own, then one decision, one persist, one commit.
    /// </summary>
    private Task<CompleteOutcome[]> CompleteInOneTransactionAsync(
        Func<IWriteTransaction, CancellationToken, Task<WorkflowState?>> lockWorkflow, List<CompleteCommand> batch,
        CancellationToken cancellationToken) =>
        CommitAsync((tx, ct) => DecideCompletionsAsync(tx, lockWorkflow, batch, last: true, ct), cancellationToken);

    /// <summary>
    /// <see cref="CompleteInOneTransactionAsync"/> inside a transaction that may hold other workflows' completions too
    /// (<see cref="DecideAsync{T}"/>): the answers, and what to run once it has committed.
    /// </summary>
    private async Task<(CompleteOutcome[] Outcomes, Action? Committed)> DecideCompletionsAsync(IWriteTransaction transaction,
        Func<IWriteTransaction, CancellationToken, Task<WorkflowState?>> lockWorkflow, List<CompleteCommand> batch, bool last,
        CancellationToken cancellationToken)
    {
        var (outcomes, committed) = await DecideAsync<CompleteOutcome?[]>(transaction,
            async (tx, _, ct) => await WithItemsAsync(tx, await lockWorkflow(tx, ct), batch.Select(c => c.ActivityId), [], ct),
            () => batch.ConvertAll(NoSuchActivity).ToArray(), (turn, _) =>
            {
                var outcomes = new CompleteOutcome?[batch.Count];
                var activities = new ActivityState?[batch.Count];
                for (var i = 0; i < batch.Count; i++)
                {
                    DecidingCompletion?.Invoke(batch[i]);
                    outcomes[i] = Settle(turn.Workflow, turn.Machine, batch[i], out activities[i]);
                }
                // Claim-next also leases what the result cache's answers made claimable.
                turn.AfterCacheHits = () =>
                {
                    for (var i = 0; i < batch.Count; i++)
                    {
                        outcomes[i] ??= new CompleteOutcome(StoreStatus.Ok, null, ClaimNextFor(turn.Machine, batch[i], activities[i]!))
                        {
                            UnclaimedRoutingKey = batch[i].ClaimNext is { } next ? next.RoutingKey ?? activities[i]!.RoutingKey : null,
                        };
                    }
                    // Counted after every claim-next of the batch: what is left for the polls waiting elsewhere.
                    for (var i = 0; i < batch.Count; i++)
                    {
                        if (outcomes[i] is { UnclaimedRoutingKey: { } key, Message: null } o && activities[i] is not null)
                        {
                            outcomes[i] = o with { Unclaimed = turn.Machine.CountClaimable(key, null) };
                        }
                    }
                };
                return Task.FromResult((outcomes, outcomes.Any(o => o is null)));
            }, last, cancellationToken);
        return (outcomes.Select(o => o!).ToArray(), committed);
    }

    /// <summary>
    /// Records one completion in the loaded workflow, or answers it (null: recorded) without a change: not found,
    /// lease lost, or a repeat of a completion already recorded.
    /// </summary>
    private CompleteOutcome? Settle(WorkflowState wf, WorkflowMachine machine, CompleteCommand c, out ActivityState? activity)
    {
        activity = wf.FindExecution(c.ActivityId);
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
        machine.Complete(activity, c.Output, c.Costs);
        if (activity.Status == ActivityStatus.Completed)
        {
            activity.LeaseOwner = c.WorkerId; // remembered so that a repeated report by the same worker is idempotent
        }
        return null;
    }

    private List<ClaimedActivity> ClaimNextFor(WorkflowMachine machine, CompleteCommand c, ActivityState completed)
    {
        if (c.ClaimNext is not { } next)
        {
            return [];
        }
        var routingKey = next.RoutingKey ?? completed.RoutingKey;
        var claimed = machine.ClaimReady(routingKey, c.WorkerId, next.ActivityNames, next.MaxActivities)
            .ConvertAll(a => Handed(a, Defaults.Secrets));
        foreach (var a in claimed)
        {
            Leases.Leased(a.ActivityId, a.WorkflowId);
        }
        return claimed;
    }

    private static CompleteOutcome NoSuchActivity(CompleteCommand c) => new(StoreStatus.NotFound, $"Activity {c.ActivityId} not found");

    public Task<FailOutcome> FailAsync(FailCommand command, CancellationToken cancellationToken)
    {
        var (activityId, workerId, error, costs) = command;
        Leases.TryTake(activityId, out _);
        var notFound = new FailOutcome(StoreStatus.NotFound, $"Activity {activityId} not found", false);
        return RunDecisionAsync(async (tx, _, ct) => await WithItemsAsync(tx, await tx.LockWorkflowOfActivityAsync(activityId, ct), [activityId], [], ct),
            () => notFound, turn =>
        {
            var activity = turn.Workflow.FindExecution(activityId);
            if (activity is null)
            {
                return (notFound, false);
            }
            if (activity.Status != ActivityStatus.Running || activity.LeaseOwner != workerId)
            {
                return (new FailOutcome(StoreStatus.Conflict, LostLeaseMessage(activity, workerId), false), false);
            }
            var willRetry = turn.Machine.Fail(activity, error.Code, error.Message, error.Retryable, costs);
            return (new FailOutcome(StoreStatus.Ok, null, willRetry), true);
        }, cancellationToken);
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
        return new(a.Id, a.WorkflowId, a.Key, a.RoutingKey, a.ActivityName, parameters,
            a.Delivery?.DeepClone().AsObject() ?? new JsonObject(), a.SignalData?.DeepClone(), a.Attempt, a.Iteration, a.LeaseSeconds);
    }

    private static string LostLeaseMessage(ActivityState activity, string workerId) =>
        activity.Status == ActivityStatus.Running
            ? $"Activity {activity.Id} is leased by another worker, not '{workerId}' (lease lost)"
            : $"Activity {activity.Id} is {activity.Status}, not running; the result was discarded";

    // ---- workflow operations ----------------------------------------------------------------------------------

    public Task<CancelOutcome> CancelAsync(string workflowId, string? reason, CancellationToken cancellationToken) =>
        RunDecisionAsync((tx, _, ct) => tx.LockWorkflowAsync(workflowId, skipLocked: false, ct),
            () => new CancelOutcome(StoreStatus.NotFound, null), turn =>
            {
                var wf = turn.Workflow;
                if (wf.Status == WorkflowStatus.Cancelled)
                {
                    return (new CancelOutcome(StoreStatus.Ok, wf.Status), false);
                }
                if (WorkflowStatus.IsTerminal(wf.Status))
                {
                    return (new CancelOutcome(StoreStatus.Conflict, wf.Status), false);
                }
                turn.Machine.Cancel(reason);
                return (new CancelOutcome(StoreStatus.Ok, wf.Status), true);
            }, cancellationToken);

    public async Task<RetryOutcome> RetryAsync(string workflowId, CancellationToken cancellationToken)
    {
        string? uniqueKey = null;
        try
        {
            return await RunDecisionAsync((tx, _, ct) => tx.LockWorkflowAsync(workflowId, skipLocked: false, ct),
                () => new RetryOutcome(StoreStatus.NotFound, "Workflow not found", []), async (turn, ct) =>
                {
                    var wf = turn.Workflow;
                    if (wf.Status is not (WorkflowStatus.Failed or WorkflowStatus.Cancelled))
                    {
                        return (new RetryOutcome(StoreStatus.Conflict,
                            $"Only failed or cancelled workflows can be retried; this one is {wf.Status}", []), false);
                    }
                    uniqueKey = wf.UniqueKey;
                    if (wf.UniqueKey is not null && await turn.Tx.UniqueKeyTakenAsync(wf.UniqueKey, wf.Id, ct))
                    {
                        return (UniqueKeyRetaken(wf.UniqueKey), false);
                    }
                    if (wf.ConcurrencyKey is { } concurrencyKey && await RetryQueuedAsync(turn, concurrencyKey, ct) is { } queued)
                    {
                        return queued;
                    }
                    var keys = turn.Machine.Retry(wf.Definition.Settings?.TimeoutSeconds ?? Defaults.WorkflowTimeoutSeconds);
                    return (new RetryOutcome(StoreStatus.Ok, null, keys), true);
                }, cancellationToken);
        }
        catch (UniqueKeyConflictException)
        {
            return UniqueKeyRetaken(uniqueKey ?? "");
        }
    }

    private static RetryOutcome UniqueKeyRetaken(string uniqueKey) =>
        new(StoreStatus.Conflict, $"Another workflow has taken unique_key '{uniqueKey}'", []);

    public Task<SignalOutcome> SignalAsync(SignalCommand command, CancellationToken cancellationToken) =>
        RunDecisionAsync((tx, _, ct) => tx.LockWorkflowAsync(command.WorkflowId, skipLocked: false, ct),
            () => new SignalOutcome(StoreStatus.NotFound, []), turn =>
            {
                if (turn.Workflow.Status != WorkflowStatus.Running)
                {
                    return (new SignalOutcome(StoreStatus.Ok, []), false);
                }
                var signaled = turn.Machine.Signal(command.ActivityKey, command.EventName, command.Data);
                return (new SignalOutcome(StoreStatus.Ok, signaled), signaled.Count > 0);
            }, cancellationToken);

    // ---- plumbing ---------------------------------------------------------------------------------------------

    // The result cache (docs/workflow-format.md) is answered in SettleDecisionAsync (TransactionalWorkflowStore.Maps.cs),
    // together with the map items a decision asks for.

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
        var decision = machine.Decision;
        foreach (var routingKey in decision.ReadyRoutingKeys)
        {
            Notifier.ActivitiesReady(routingKey);
        }
        foreach (var (routingKey, at) in decision.DelayedRoutingKeys)
        {
            Notifier.ActivitiesDelayed(routingKey, at);
        }
        if (decision.BecameTerminal)
        {
            Notifier.WorkflowFinished(workflowId);
        }
        Notifier.EventsAppended();
        WakeOtherServers(workflowId, decision);
    }

    /// <summary>A backend's part of waking once a decision is durable: other servers of a shared database.</summary>
    protected virtual void WakeOtherServers(string workflowId, WorkflowDecision decision)
    {
    }

    /// <summary>
    /// The new workflow's first activities leased, within each grant's slots and filter, to the long-polls that lent
    /// them; the caller hands them over once the transaction commits.
    /// </summary>
    private List<ClaimedActivity> LeaseToGrants(WorkflowMachine machine, IReadOnlyList<SlotGrant>? grants)
    {
        List<ClaimedActivity> leased = [];
        foreach (var grant in grants ?? [])
        {
            leased.AddRange(machine.ClaimReady(grant.RoutingKey, grant.WorkerId, grant.ActivityNames, grant.Slots)
                .ConvertAll(a => Handed(a, Defaults.Secrets)));
        }
        return leased;
    }
}
