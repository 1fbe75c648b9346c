using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Costs;
using Spindle.Core.Definitions;

namespace Spindle.Core.Orchestration;

/// <summary>
/// The pure decision function of the engine: applies one event (start, completion, failure, lease expiry, cancel,
/// signal, deadline, retry) to a loaded workflow, decides what is now ready, and records the events. The store calls
/// it inside the transaction that persists the result, so recording a result and scheduling what it unblocks commit
/// together. Everything it decided is in <see cref="Decision"/>.
/// </summary>
/// <remarks>
/// One class in files by concern: the public transitions here; readiness and loops in WorkflowMachine.Readiness.cs;
/// enqueue and delivery in WorkflowMachine.Enqueue.cs; the state changes they are made of in WorkflowMachine.States.cs;
/// budgets, cost recording and the result cache in WorkflowMachine.Costs.cs, whose rules are in Spindle.Core.Costs
/// (<see cref="BudgetGate"/>, <see cref="AttemptCostLines"/>).
/// </remarks>
public sealed partial class WorkflowMachine
{
    private readonly WorkflowState _wf;
    private readonly EngineDefaults _defaults;
    private readonly long _now;
    private SecretParameters? _secretParameters;

    public WorkflowMachine(WorkflowState workflow, EngineDefaults defaults, long now)
    {
        _wf = workflow;
        _defaults = defaults;
        _now = now;
    }

    /// <summary>Placeholders for SECRET while parameters are resolved (secret values never enter the machine).</summary>
    private SecretParameters Secrets => _secretParameters ??= new SecretParameters(_defaults.Secrets);

    /// <summary>SECRET where the server evaluates templates (conditions, delays, cache keys): deploy refuses it there,
    /// and definitions stored before that rule see no secrets, so such a use fails as undefined.</summary>
    private static JsonObject NoSecrets() => [];

    /// <summary>What this machine decided over all its calls: the events, cost lines, cache work and whom to wake.</summary>
    public WorkflowDecision Decision { get; } = new();

    private WorkflowDefinition Definition => _wf.Definition;

    private bool IsRunning => _wf.Status == WorkflowStatus.Running;

    /// <summary>Creates every activity row and enqueues the roots.</summary>
    public void Start()
    {
        foreach (var activity in Definition.Activities)
        {
            _wf.Activities[activity.Key] = new ActivityState
            {
                Id = Ids.New(),
                WorkflowId = _wf.Id,
                Key = activity.Key,
                RoutingKey = activity.RoutingKey,
                ActivityName = activity.ActivityName,
                MaxAttempts = MaxAttemptsOf(activity),
                LeaseSeconds = activity.Settings.TimeoutSeconds ?? _defaults.ActivityTimeoutSeconds,
                IsNew = true,
            };
        }
        SetWorkflowStatus(WorkflowStatus.Running);
        Advance();
    }

    public void Complete(ActivityState activity, JsonObject output, decimal cost) =>
        Complete(activity, output, CostReport.Of(cost));

    /// <summary>A cached result stands in for the execution: completed at once, at cost 0, marked <c>cache_hit</c>.</summary>
    public void CompleteFromCache(ActivityState activity, JsonObject output) =>
        Complete(activity, output, CostReport.None, cacheHit: true);

    public void Complete(ActivityState activity, JsonObject output, CostReport report, bool cacheHit = false)
    {
        var cost = report.TotalUsd;
        RecordCostLines(activity, report, output);
        if (!cacheHit && DefinitionOf(activity).Settings is { Cache: true } cacheSettings)
        {
            Decision.Add(new CacheEntry(CacheKeyOf(activity), output.DeepClone().AsObject(),
                _now + Timestamps.FromSeconds(cacheSettings.CacheTtl ?? ResultCacheKeys.DefaultTtlSeconds)));
        }
        activity.Status = ActivityStatus.Completed;
        activity.CompletedAt = _now;
        activity.Runs++;
        ClearLease(activity);
        activity.ErrorCode = null;
        activity.ErrorMessage = null;
        StoreOutputs(activity, output);
        AddCost(activity, cost);
        Touch(activity);
        var completed = new JsonObject
        {
            ["activity_key"] = activity.Key,
            ["outputs"] = output.DeepClone(),
            ["cost_usd"] = Money(cost),
        };
        if (cacheHit)
        {
            completed["cache_hit"] = true;
        }
        Emit(EventTypes.ActivityCompleted, activity, completed);
        if (!IsRunning)
        {
            return; // results after a cancel or deadline are recorded but schedule nothing (docs/api.md, cancel)
        }
        if (activity.MapOf is not null)
        {
            ItemSettled(activity);
            return;
        }
        FireBackEdges(activity);
        Advance();
    }

    /// <returns>Whether the server will retry the activity.</returns>
    public bool Fail(ActivityState activity, string code, string message, bool retryable, decimal cost) =>
        Fail(activity, code, message, retryable, CostReport.Of(cost));

    /// <returns>Whether the server will retry the activity.</returns>
    public bool Fail(ActivityState activity, string code, string message, bool retryable, CostReport report)
    {
        var cost = report.TotalUsd;
        RecordCostLines(activity, report, null);
        AddCost(activity, cost);
        ClearLease(activity);
        var willRetry = retryable && IsRunning && !activity.CancelRequested && HasRetriesLeft(activity);
        if (willRetry && !PassesBudget(DefinitionOf(activity), activity, out var abortDetail))
        {
            // Budget-enforced activities are checked again before each retry.
            willRetry = false;
            code = EngineErrorCodes.BudgetExceeded;
            message = BudgetExceededMessage + ": " + abortDetail;
            retryable = false;
        }
        Emit(EventTypes.ActivityFailed, activity, new JsonObject
        {
            ["activity_key"] = activity.Key,
            ["error_code"] = code,
            ["error_message"] = message,
            ["retryable"] = retryable,
            ["will_retry"] = willRetry,
            ["attempt"] = activity.Attempt,
            ["cost_usd"] = Money(cost),
        });
        if (willRetry)
        {
            var policy = RetryPolicyOf(DefinitionOf(activity));
            var delay = RetryBackoff.DelaySeconds(policy, activity.RetriesUsed + 1);
            Requeue(activity, _now + Timestamps.FromSeconds(delay));
            return true;
        }
        var finalStatus = code == EngineErrorCodes.Cancelled && (!IsRunning || activity.CancelRequested)
            ? ActivityStatus.Cancelled
            : ActivityStatus.Failed;
        Finish(activity, finalStatus, code, message);
        if (IsRunning)
        {
            Settled(activity);
        }
        return false;
    }


    /// <summary>A lease ran out: a failed attempt, offered again at once while retries remain (docs/workflow-format.md, Retries, leases and the deadline).</summary>
    public void ExpireLease(ActivityState activity)
    {
        ClearLease(activity);
        if (!IsRunning || activity.CancelRequested)
        {
            Finish(activity, ActivityStatus.Cancelled, EngineErrorCodes.Cancelled, "Lease expired after cancellation");
            Emit(EventTypes.ActivityCancelled, activity, new JsonObject { ["reason"] = "lease expired after cancellation" });
            return;
        }
        var willRetry = HasRetriesLeft(activity);
        if (willRetry && !PassesBudget(DefinitionOf(activity), activity, out var abortDetail))
        {
            Emit(EventTypes.ActivityFailed, activity, new JsonObject
            {
                ["activity_key"] = activity.Key,
                ["error_code"] = EngineErrorCodes.BudgetExceeded,
                ["error_message"] = BudgetExceededMessage + ": " + abortDetail,
                ["retryable"] = false,
                ["will_retry"] = false,
                ["attempt"] = activity.Attempt,
                ["cost_usd"] = "0",
            });
            Finish(activity, ActivityStatus.Failed, EngineErrorCodes.BudgetExceeded, BudgetExceededMessage + ": " + abortDetail);
            Settled(activity);
            return;
        }
        var message = willRetry
            ? $"Lease of {activity.LeaseSeconds} s expired"
            : $"Activity timed out after {activity.RetriesUsed} retries (max_retries={activity.MaxAttempts - 1})";
        Emit(EventTypes.ActivityFailed, activity, new JsonObject
        {
            ["activity_key"] = activity.Key,
            ["error_code"] = EngineErrorCodes.ActivityTimeout,
            ["error_message"] = message,
            ["retryable"] = true,
            ["will_retry"] = willRetry,
            ["attempt"] = activity.Attempt,
            ["cost_usd"] = "0",
        });
        if (willRetry)
        {
            Requeue(activity, _now);
            return;
        }
        Finish(activity, ActivityStatus.Failed, EngineErrorCodes.ActivityTimeout, message);
        Settled(activity);
    }

    public void Cancel(string? reason)
    {
        var text = string.IsNullOrWhiteSpace(reason) ? "Cancelled" : "Cancelled: " + reason;
        _wf.ErrorMessage = text;
        SetWorkflowStatus(WorkflowStatus.Cancelled);
        StopActivities("workflow cancelled");
        var payload = new JsonObject();
        if (!string.IsNullOrWhiteSpace(reason))
        {
            payload["reason"] = reason;
        }
        Emit(EventTypes.WorkflowCancelled, null, payload);
    }

    /// <summary>The workflow deadline passed (docs/workflow-format.md, Retries, leases and the deadline).</summary>
    /// <param name="timeoutSeconds">The limit that applied.</param>
    /// <param name="fromSettings">Whether it came from <c>settings.timeout</c> (else the server's default).</param>
    /// <param name="polledRecently">Whether a worker polled for this routing key lately; queued work is blamed on a
    /// missing worker only when none did (a step that was merely delayed or waiting is not "never claimed").</param>
    public void Deadline(int timeoutSeconds, bool fromSettings, Func<string, bool> polledRecently)
    {
        var reason = $"workflow exceeded its timeout of {DurationText.Format(timeoutSeconds)} " +
                     (fromSettings ? "(settings.timeout)" : "(server option --default-workflow-timeout)");
        var unserved = _wf.Activities.Values
            .Where(a => a.Status == ActivityStatus.Pending && a.ClaimedAt is null && !(a.ReadyAt > _now) && !polledRecently(a.RoutingKey))
            .ToList();
        if (unserved.Count > 0)
        {
            var routingKeys = string.Join(", ", unserved.Select(a => a.RoutingKey).Distinct().Order(StringComparer.Ordinal));
            reason += $"; {unserved.Count} queued activities were never claimed and no worker polled for them lately " +
                      $"— is a worker for this routing key running? (worker: {routingKeys})";
        }
        _wf.ErrorMessage = reason;
        SetWorkflowStatus(WorkflowStatus.Failed);
        StopActivities("workflow deadline");
        Emit(EventTypes.WorkflowFailed, null, new JsonObject { ["reason"] = reason, ["timeout_seconds"] = timeoutSeconds });
    }

    /// <summary>
    /// Removes a deadline no limit stands behind any more: one stored by an older server under its implicit 300 s
    /// default, or under a <c>--default-workflow-timeout</c> since switched off.
    /// </summary>
    public void LiftDeadline()
    {
        _wf.DeadlineAt = null;
        _wf.UpdatedAt = _now;
        _wf.IsDirty = true;
    }

    /// <summary>The retry extension (docs/api.md).</summary>
    public List<string> Retry(int workflowTimeoutSeconds)
    {
        var reset = new HashSet<string>(StringComparer.Ordinal);
        foreach (var a in _wf.Activities.Values)
        {
            if (a.Status is ActivityStatus.Failed or ActivityStatus.Cancelled)
            {
                reset.Add(a.Key);
            }
        }
        bool grew;
        do
        {
            grew = false;
            foreach (var activity in Definition.Activities)
            {
                var state = _wf.Activities[activity.Key];
                if (state.Status == ActivityStatus.Skipped && !reset.Contains(activity.Key)
                    && activity.DependsOn.Any(e => reset.Contains(e.ActivityKey)))
                {
                    reset.Add(activity.Key);
                    grew = true;
                }
            }
        }
        while (grew);

        var keys = Definition.Activities.Where(a => reset.Contains(a.Key)).Select(a => a.Key).ToList();
        foreach (var key in keys)
        {
            var a = _wf.Activities[key];
            if (a.Status is ActivityStatus.Failed or ActivityStatus.Cancelled && a.Runs == a.Iteration + 1)
            {
                a.Runs--; // the retried execution keeps its iteration
            }
            a.Status = ActivityStatus.NotScheduled;
            a.Attempt++;
            a.AttemptBase = a.Attempt;
            a.ErrorCode = null;
            a.ErrorMessage = null;
            a.CompletedAt = null;
            a.CancelRequested = false;
            a.SignalSatisfied = false;
            a.SignalData = null;
            Touch(a);
        }
        _wf.ErrorMessage = null;
        _wf.CompletedAt = null;
        _wf.DeadlineAt = workflowTimeoutSeconds > 0 ? _now + Timestamps.FromSeconds(workflowTimeoutSeconds) : null;
        SetWorkflowStatus(WorkflowStatus.Running);
        Emit(EventTypes.WorkflowRetried, null, new JsonObject { ["activity_keys"] = new JsonArray(keys.Select(k => (JsonNode)k).ToArray()) });
        Advance();
        return keys;
    }

    /// <returns>The keys of the activities that received the signal.</returns>
    public List<string> Signal(string? activityKey, string eventName, JsonNode? data)
    {
        var signaled = new List<string>();
        foreach (var activity in Definition.Activities)
        {
            var a = _wf.Activities[activity.Key];
            if (a.Status != ActivityStatus.Waiting || (activityKey is not null && activity.Key != activityKey)
                || activity.Settings.WaitForSignal?.EventName != eventName)
            {
                continue;
            }
            a.SignalData = data?.DeepClone();
            a.SignalSatisfied = true;
            a.SignalWaitUntil = null;
            Emit(EventTypes.ActivitySignaled, a, new JsonObject { ["event_name"] = eventName, ["signal_data"] = data?.DeepClone() });
            Enqueue(activity, a);
            signaled.Add(activity.Key);
        }
        if (signaled.Count > 0)
        {
            Advance();
        }
        return signaled;
    }

    public void SignalTimeout(ActivityState a)
    {
        var activity = Definition.Find(a.Key)!;
        var wait = activity.Settings.WaitForSignal!;
        a.SignalWaitUntil = null;
        Emit(EventTypes.ActivitySignaled, a, new JsonObject
        {
            ["event_name"] = wait.EventName,
            ["reason"] = "timeout",
            ["on_timeout"] = wait.OnTimeout,
        });
        switch (wait.OnTimeout)
        {
            case "continue":
                a.SignalSatisfied = true;
                a.SignalData = null;
                Enqueue(activity, a);
                break;
            case "skip":
                Skip(a, $"signal '{wait.EventName}' not received before timeout");
                break;
            default:
                Finish(a, ActivityStatus.Failed, EngineErrorCodes.SignalTimeout, $"Signal '{wait.EventName}' not received before timeout");
                break;
        }
        Advance();
    }

    private int MaxAttemptsOf(ActivityDefinition activity) => RetryPolicyOf(activity).MaxAttempts;

    private RetryPolicy RetryPolicyOf(ActivityDefinition activity) =>
        activity.Settings.Retry ?? RetryPolicy.Default(Definition.Settings?.MaxRetries ?? _defaults.MaxRetries);
}
