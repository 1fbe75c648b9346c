using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Costs;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;

namespace Spindle.Storage;

/// <summary>The timer pass (expired leases, signal timeouts, deadlines): each workflow fired on its own, so one that
/// cannot be handled is recorded and skipped while every other workflow's timers keep firing.</summary>
public abstract partial class TransactionalWorkflowStore
{
    /// <summary>
    /// The earliest ready time of each routing key's pending activities (<see cref="GetDelayedAsync"/>, every timer
    /// pass). Pending rows are exactly those of the two partial claim indexes (without and with limits), so each half
    /// reads one of them and the cost follows the queue, not the table: a plain <c>status = 'pending'</c> matches
    /// neither index's predicate and scanned every activity ever run. The same text serves SQLite and PostgreSQL.
    /// </summary>
    internal const string DelayedSql =
        "SELECT worker, MIN(ready_at) FROM (" +
        "SELECT worker, MIN(ready_at) AS ready_at FROM activity_runs " +
        "WHERE status = 'pending' AND concurrency_key IS NULL AND rate_key IS NULL GROUP BY worker " +
        "UNION ALL " +
        "SELECT worker, MIN(ready_at) AS ready_at FROM activity_runs " +
        "WHERE status = 'pending' AND (concurrency_key IS NOT NULL OR rate_key IS NOT NULL) GROUP BY worker" +
        ") AS pending GROUP BY worker";

    /// <summary>
    /// Every server runs this; each decision re-checks its condition under the workflow's lock and skips workflows
    /// another transaction holds, so a timer fires exactly once however many servers sweep, and keeps firing as
    /// long as one server is alive.
    /// </summary>
    public async Task<TimerOutcome> RunTimersAsync(CancellationToken cancellationToken)
    {
        var now = Now();
        var failures = new List<TimerFailure>();
        var leases = 0;
        foreach (var (wfId, key) in await FindDueAsync(DueTimer.ExpiredLease, now, cancellationToken))
        {
            leases += await FireTimerAsync("lease_expiry", wfId, key, (wf, m, at) =>
            {
                if (!(wf.Activities.TryGetValue(key!, out var a) || wf.Items.TryGetValue(key!, out a)) || a.Status != ActivityStatus.Running
                    || !(a.LeaseUntil < at))
                {
                    return false;
                }
                m.ExpireLease(a);
                return true;
            }, failures, cancellationToken);
        }
        var signals = 0;
        foreach (var (wfId, key) in await FindDueAsync(DueTimer.SignalTimeout, now, cancellationToken))
        {
            signals += await FireTimerAsync("signal_timeout", wfId, key, (wf, m, at) =>
            {
                if (!wf.Activities.TryGetValue(key!, out var a) || a.Status != ActivityStatus.Waiting || !(a.SignalWaitUntil <= at)
                    || wf.Status != WorkflowStatus.Running)
                {
                    return false;
                }
                m.SignalTimeout(a);
                return true;
            }, failures, cancellationToken);
        }
        var deadlines = 0;
        foreach (var (wfId, _) in await FindDueAsync(DueTimer.Deadline, now, cancellationToken))
        {
            deadlines += await FireTimerAsync("deadline", wfId, null, (wf, m, at) =>
            {
                if (wf.Status != WorkflowStatus.Running || !(wf.DeadlineAt <= at))
                {
                    return false;
                }
                var own = wf.Definition.Settings?.TimeoutSeconds;
                var limit = own ?? Defaults.WorkflowTimeoutSeconds;
                if (limit <= 0)
                {
                    m.LiftDeadline();
                }
                else
                {
                    m.Deadline(limit, own is not null, routingKey => PolledRecently(routingKey, at));
                }
                return true;
            }, failures, cancellationToken);
        }
        return new TimerOutcome(leases, signals, deadlines) { Failures = failures };
    }

    /// <summary>Timers that failed in this process and were already recorded: recorded once, retried every pass.</summary>
    private readonly ConcurrentDictionary<(string Timer, string WorkflowId, string? ActivityKey), bool> _failedTimers = new();

    /// <summary>
    /// One workflow's timer, isolated from the others: if handling it throws (a row that no longer loads, a bug in
    /// a decision), the failure is collected and recorded on that workflow, and the pass goes on with the next one.
    /// Only a database that is down or a shutdown ends the pass.
    /// </summary>
    private async Task<int> FireTimerAsync(string timer, string workflowId, string? activityKey,
        Func<WorkflowState, WorkflowMachine, long, bool> apply, List<TimerFailure> failures, CancellationToken cancellationToken)
    {
        try
        {
            var fired = await ApplyTimerAsync(workflowId, activityKey, apply, cancellationToken);
            _failedTimers.TryRemove((timer, workflowId, activityKey), out _);
            return fired;
        }
        catch (Exception ex) when (ex is not OperationCanceledException && !StoreAvailability.IsUnavailable(ex))
        {
            if (ex is WriteConflictException)
            {
                return 0; // rows kept changing under the decision: due again on the next pass
            }
            var first = _failedTimers.TryAdd((timer, workflowId, activityKey), true);
            failures.Add(new TimerFailure(workflowId, activityKey, timer, ex, first));
            if (first)
            {
                await RecordTimerFailureAsync(timer, workflowId, activityKey, ex, cancellationToken);
            }
            return 0;
        }
    }

    private async Task RecordTimerFailureAsync(string timer, string workflowId, string? activityKey, Exception error,
        CancellationToken cancellationToken)
    {
        var message = error.Message.Length > 500 ? error.Message[..500] : error.Message;
        var payload = new JsonObject
        {
            ["timer"] = timer,
            ["error_type"] = error.GetType().Name,
            ["error_message"] = message,
        };
        try
        {
            await WriteAsync(async (tx, ct) =>
            {
                await tx.AppendEventsAsync(workflowId, [new WorkflowEvent(EventTypes.TimerFailed, activityKey, null, payload)],
                    Timestamps.Now(), ct);
                return true;
            }, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The log line the caller writes is then the only record; the next failure of this timer tries again.
            _failedTimers.TryRemove((timer, workflowId, activityKey), out _);
        }
    }

    /// <returns>1 when the timer fired, 0 when it was no longer due or another transaction holds the workflow.</returns>
    private async Task<int> ApplyTimerAsync(string workflowId, string? activityKey, Func<WorkflowState, WorkflowMachine, long, bool> apply,
        CancellationToken cancellationToken)
    {
        // A map item's timer names the item (key[index]), which loads only on request.
        var fired = await RunDecisionAsync(async (tx, _, ct) => await WithItemsAsync(tx,
                await tx.LockWorkflowAsync(workflowId, skipLocked: true, ct), [], activityKey is null ? [] : [activityKey], ct), () => false,
            turn =>
            {
                var due = apply(turn.Workflow, turn.Machine, turn.Now);
                return (due, due);
            }, cancellationToken);
        return fired ? 1 : 0;
    }
}
