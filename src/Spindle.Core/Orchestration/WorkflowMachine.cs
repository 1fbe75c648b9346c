// Longer than the project's ~600 lines: readiness and loops, enqueue and delivery, budgets and cost recording still
// share this class and its mutable result lists. It is to be split by those concerns behind one decision object;
// until then, keep new concerns out of it.
using System.Globalization;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Costs;
using Spindle.Core.Definitions;
using Spindle.Core.Templates;

namespace Spindle.Core.Orchestration;

/// <summary>
/// The pure decision function of the engine: applies one event (start, completion, failure, lease expiry, cancel,
/// signal, deadline, retry) to a loaded workflow, decides what is now ready, and records the events. The store calls
/// it inside the transaction that persists the result, so recording a result and scheduling what it unblocks commit
/// together.
/// </summary>
public sealed class WorkflowMachine
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

    /// <summary>Creates every activity row and enqueues the roots (§6.1).</summary>
    public void Start()
    {
        foreach (var activity in Definition.Activities)
        {
            _wf.Activities[activity.Key] = new ActivityState
            {
                Id = Ids.New(),
                WorkflowId = _wf.Id,
                Key = activity.Key,
                Worker = activity.Worker,
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
        if (!cacheHit && Definition.Find(activity.Key)!.Settings is { Cache: true } cacheSettings)
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
            return; // results after a cancel or deadline are recorded but schedule nothing (§6.9, http-api §15.4)
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
        if (willRetry && !PassesBudget(Definition.Find(activity.Key)!, activity, out var abortDetail))
        {
            // §6.4/§6.10: budget-enforced activities are checked again before each retry.
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
            var policy = RetryPolicyOf(Definition.Find(activity.Key)!);
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
            Advance();
        }
        return false;
    }

    /// <summary>
    /// Leases this workflow's activities of routing key <paramref name="worker"/> that this decision made claimable to
    /// <paramref name="workerId"/> as a poll would (oldest first, <c>ActivityStarted</c>), in the decision that made
    /// them claimable: the worker reporting a result gets the next step with the answer, saving a poll, a claim
    /// transaction and the wake-up in between (the <c>claim-next</c> extension). Routing keys left with nothing to
    /// claim are dropped from <see cref="WorkflowDecision.ReadyWorkers"/>, so nobody is woken for work already handed out.
    /// </summary>
    public List<ActivityState> ClaimReady(string worker, string workerId, IReadOnlyCollection<string>? activityNames, int max)
    {
        var claimed = new List<ActivityState>();
        var failed = false;
        if (max <= 0 || !IsRunning)
        {
            return claimed;
        }
        bool Ready(ActivityState a) => IsClaimable(a, worker, null);
        foreach (var a in _wf.Activities.Values.Where(a => IsClaimable(a, worker, activityNames) && MadeClaimableHere(a))
                     .OrderBy(a => a.ReadyAt).ToList())
        {
            if (claimed.Count == max)
            {
                break;
            }
            if (SecretParameters.FindMissing(a.SecretParameters, _defaults.Secrets) is { } missing)
            {
                // The server's secrets changed since enqueue (a restart with another environment): fail clearly
                // rather than hand out a parameter without its value.
                FailBeforeRun(a, SecretParameters.NotFoundCode, SecretParameters.NotFoundMessage(missing));
                failed = true;
                continue;
            }
            a.Status = ActivityStatus.Running;
            a.LeaseOwner = workerId;
            a.LeaseUntil = _now + Timestamps.FromSeconds(a.LeaseSeconds);
            a.ClaimedAt = _now;
            Touch(a);
            Emit(EventTypes.ActivityStarted, a, new JsonObject { ["worker_id"] = workerId, ["attempt"] = a.Attempt });
            claimed.Add(a);
        }
        if (failed)
        {
            Advance();
        }
        if (claimed.Count > 0 && !_wf.Activities.Values.Any(Ready))
        {
            Decision.NothingLeftFor(worker);
        }
        return claimed;
    }

    /// <summary>How many activities <see cref="ClaimReady"/> could lease right now, were there no limit.</summary>
    public int CountClaimable(string worker, IReadOnlyCollection<string>? activityNames) =>
        IsRunning ? _wf.Activities.Values.Count(a => IsClaimable(a, worker, activityNames) && MadeClaimableHere(a)) : 0;

    /// <summary>
    /// Whether this decision created or changed the activity: only then is it invisible to other transactions until
    /// commit. An activity that was already claimable when the workflow was loaded is being claimed by pollers, whose
    /// claim statements do not take the workflow's lock; leasing it here too would make the commit fail and start over.
    /// </summary>
    private static bool MadeClaimableHere(ActivityState a) => a.IsNew || a.IsDirty;

    private bool IsClaimable(ActivityState a, string worker, IReadOnlyCollection<string>? activityNames) =>
        a.Status == ActivityStatus.Pending && a.ReadyAt is { } at && at <= _now && string.Equals(a.Worker, worker, StringComparison.Ordinal)
        && (activityNames is null || activityNames.Contains(a.ActivityName));

    /// <summary>A lease ran out: a failed attempt, offered again at once while retries remain (§6.4).</summary>
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
        if (willRetry && !PassesBudget(Definition.Find(activity.Key)!, activity, out var abortDetail))
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
            Advance();
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
        Advance();
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

    /// <summary>The workflow deadline passed (§6.9).</summary>
    /// <param name="timeoutSeconds">The limit that applied.</param>
    /// <param name="fromSettings">Whether it came from <c>settings.timeout</c> (else the server's default).</param>
    /// <param name="polledRecently">Whether a worker polled for this routing key lately; queued work is blamed on a
    /// missing worker only when none did (a step that was merely delayed or waiting is not "never claimed").</param>
    public void Deadline(int timeoutSeconds, bool fromSettings, Func<string, bool> polledRecently)
    {
        var reason = $"workflow exceeded its timeout of {DurationText.Format(timeoutSeconds)} " +
                     (fromSettings ? "(settings.timeout)" : "(server option --default-workflow-timeout)");
        var unserved = _wf.Activities.Values
            .Where(a => a.Status == ActivityStatus.Pending && a.ClaimedAt is null && !(a.ReadyAt > _now) && !polledRecently(a.Worker))
            .ToList();
        if (unserved.Count > 0)
        {
            var workers = string.Join(", ", unserved.Select(a => a.Worker).Distinct().Order(StringComparer.Ordinal));
            reason += $"; {unserved.Count} queued activities were never claimed and no worker polled for them lately " +
                      $"— is a worker for this routing key running? (worker: {workers})";
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

    /// <summary>The retry extension (http-api.md §15.7).</summary>
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

    // ---- readiness (§6.2) ------------------------------------------------------------------------------------

    private enum Readiness { Wait, Ready, Skip, Failed }

    /// <summary>Evaluates not_scheduled activities until nothing changes, then checks whether the workflow is done.</summary>
    private void Advance()
    {
        bool changed;
        do
        {
            changed = false;
            foreach (var activity in Definition.Activities)
            {
                if (!IsRunning)
                {
                    return;
                }
                var state = _wf.Activities[activity.Key];
                if (state.Status != ActivityStatus.NotScheduled)
                {
                    continue;
                }
                switch (Evaluate(activity, state, out var skipReason))
                {
                    case Readiness.Ready:
                        if (activity.IsLoopActivity && state.Runs >= (activity.IterationLimit ?? 100))
                        {
                            Skip(state, "iteration limit reached");
                        }
                        else
                        {
                            Enqueue(activity, state);
                        }
                        changed = true;
                        break;
                    case Readiness.Skip:
                        Skip(state, skipReason!);
                        changed = true;
                        break;
                    case Readiness.Failed:
                        changed = true;
                        break;
                }
            }
        }
        while (changed);
        CheckFinished();
    }

    private Readiness Evaluate(ActivityDefinition activity, ActivityState state, out string? skipReason)
    {
        skipReason = null;
        var anyApplicable = false;
        var anyForward = false;
        string? broken = null;
        foreach (var edge in activity.DependsOn)
        {
            if (edge.IsBackEdge)
            {
                continue;
            }
            anyForward = true;
            if (!IsSettled(edge.ActivityKey, activity))
            {
                return Readiness.Wait;
            }
        }
        if (!anyForward)
        {
            return Readiness.Ready;
        }
        foreach (var edge in activity.DependsOn)
        {
            if (edge.IsBackEdge)
            {
                continue;
            }
            var upstream = _wf.Activities[edge.ActivityKey];
            if (edge.Conditions.Count > 0)
            {
                bool allTrue;
                try
                {
                    allTrue = ConditionsHold(edge, state);
                }
                catch (TemplateException ex)
                {
                    FailBeforeRun(state, $"depends_on[{edge.ActivityKey}].conditions", ex);
                    return Readiness.Failed;
                }
                if (allTrue)
                {
                    anyApplicable = true;
                }
            }
            else if (upstream.Status == ActivityStatus.Completed)
            {
                anyApplicable = true;
            }
            else
            {
                broken ??= $"dependency '{edge.ActivityKey}' is {upstream.Status}";
            }
        }
        if (broken is null && anyApplicable)
        {
            return Readiness.Ready;
        }
        skipReason = broken ?? "no dependency condition was met";
        return Readiness.Skip;
    }

    private bool ConditionsHold(DependencyEdge edge, ActivityState target)
    {
        var scope = new TemplateScope(_wf, target, NoSecrets());
        // One budget for all conditions of the edge, as for all templates of an activity.
        var budget = new TemplateBudget(_defaults.TemplateLimits);
        foreach (var condition in edge.Conditions)
        {
            if (!TemplateEvaluator.IsTruthy(TemplateEvaluator.Resolve(condition, scope, budget)))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>An edge from D settles when D is terminal and, if D is in a loop the dependent is not part of, that loop has settled.</summary>
    private bool IsSettled(string upstreamKey, ActivityDefinition dependent)
    {
        if (!_wf.Activities[upstreamKey].IsTerminal)
        {
            return false;
        }
        foreach (var loop in Definition.Loops)
        {
            if (!loop.Body.Contains(upstreamKey) || loop.Body.Contains(dependent.Key))
            {
                continue;
            }
            foreach (var member in loop.Body)
            {
                if (!_wf.Activities[member].IsTerminal)
                {
                    return false;
                }
            }
        }
        return true;
    }

    // ---- loops (§6.7) -----------------------------------------------------------------------------------------

    private void FireBackEdges(ActivityState tail)
    {
        foreach (var loop in Definition.Loops)
        {
            if (loop.Tail != tail.Key || !IsRunning)
            {
                continue;
            }
            var headDef = Definition.Find(loop.Head)!;
            var head = _wf.Activities[loop.Head];
            var edge = headDef.DependsOn.First(e => e.IsBackEdge && e.ActivityKey == loop.Tail);
            if (head.Runs >= (headDef.IterationLimit ?? 100))
            {
                continue;
            }
            bool fires;
            try
            {
                fires = edge.Conditions.Count == 0 || ConditionsHold(edge, head);
            }
            catch (TemplateException ex)
            {
                if (head.IsTerminal)
                {
                    // The head gets the error so that the loop ends visibly instead of settling as if it had exited.
                    FailBeforeRun(head, $"depends_on[{edge.ActivityKey}].conditions", ex);
                }
                continue;
            }
            if (!fires || !head.IsTerminal)
            {
                continue; // a second firing into a head that is already running again has no effect
            }
            foreach (var member in loop.Body)
            {
                var state = _wf.Activities[member];
                if (member != loop.Head && state.IsTerminal)
                {
                    state.Status = ActivityStatus.NotScheduled;
                    Touch(state);
                }
            }
            Enqueue(headDef, head);
        }
    }

    // ---- transitions ------------------------------------------------------------------------------------------

    /// <summary>Prepares the next execution: resolves templates and start time, then queues it or lets it wait for a signal.</summary>
    private void Enqueue(ActivityDefinition activity, ActivityState state)
    {
        if (state.Iteration != state.Runs)
        {
            // A new loop round is a new execution: new id, fresh attempts, and it waits for its signal again.
            state.Id = Ids.New();
            state.Iteration = state.Runs;
            state.Attempt = 1;
            state.AttemptBase = 1;
            state.SignalSatisfied = false;
            state.SignalData = null;
        }
        state.ErrorCode = null;
        state.ErrorMessage = null;
        state.CompletedAt = null;
        state.ClaimedAt = null;
        state.CancelRequested = false;
        Touch(state);

        var wait = activity.Settings.WaitForSignal;
        if (wait is not null && !state.SignalSatisfied)
        {
            state.Status = ActivityStatus.Waiting;
            state.StartedAt = _now;
            state.SignalWaitUntil = wait.TimeoutSeconds is { } t ? _now + Timestamps.FromSeconds(t) : null;
            Emit(EventTypes.ActivityWaiting, state, new JsonObject
            {
                ["event_name"] = wait.EventName,
                ["timeout_seconds"] = wait.TimeoutSeconds,
                ["on_timeout"] = wait.OnTimeout,
            });
            return;
        }

        var scope = new TemplateScope(_wf, state, NoSecrets());
        // Every template of this execution (parameters, delay or schedule, cache key) shares one budget.
        var budget = new TemplateBudget(_defaults.TemplateLimits);
        string field = "parameters";
        try
        {
            var parameters = TemplateEvaluator.ResolveTree(activity.Parameters, new TemplateScope(_wf, state, Secrets.Placeholders), budget)
                as JsonObject ?? new JsonObject();
            state.SecretParameters = Secrets.Extract(parameters);
            state.Parameters = parameters;
            var readyAt = _now;
            if (activity.Settings.Delay is { } delay)
            {
                field = "settings.delay";
                var text = ResolveToString(delay, scope, budget);
                if (!DurationParser.TryParseDelay(text, Timestamps.FromMicros(_now), out var until))
                {
                    throw new TemplateException($"'{text}' is not a delay such as 30s, 5m, 2h, 1d");
                }
                readyAt = Timestamps.ToMicros(until);
            }
            else if (activity.Settings.ScheduledFor is { } scheduledFor)
            {
                field = "settings.scheduled_for";
                var text = ResolveToString(scheduledFor, scope, budget);
                if (!ScheduledForParser.TryParse(text, out var at))
                {
                    throw new TemplateException($"'{text}' is not an RFC 3339 timestamp with an offset");
                }
                readyAt = Math.Max(_now, Timestamps.ToMicros(at));
            }
            field = "settings.cache_key";
            state.Delivery = BuildDelivery(activity, scope, budget);
            state.ReadyAt = readyAt;
        }
        catch (TemplateException ex)
        {
            FailBeforeRun(state, field, ex);
            return;
        }
        if (!PassesBudget(activity, state, out var abortDetail))
        {
            Emit(EventTypes.ActivityFailed, state, new JsonObject
            {
                ["activity_key"] = state.Key,
                ["error_code"] = EngineErrorCodes.BudgetExceeded,
                ["error_message"] = BudgetExceededMessage,
                ["detail"] = abortDetail,
                ["retryable"] = false,
                ["will_retry"] = false,
                ["attempt"] = state.Attempt,
                ["cost_usd"] = "0",
            });
            Finish(state, ActivityStatus.Failed, EngineErrorCodes.BudgetExceeded, BudgetExceededMessage);
            return;
        }

        state.Status = ActivityStatus.Pending;
        state.StartedAt = _now;
        Emit(EventTypes.ActivityScheduled, state, new JsonObject
        {
            ["worker"] = state.Worker,
            ["activity_name"] = state.ActivityName,
            ["attempt"] = state.Attempt,
        });
        NoteReady(state);
        if (activity.Settings.Cache)
        {
            Decision.AddCacheCandidate(state, CacheKeyOf(state));
        }
    }

    private static string ResolveToString(string template, TemplateScope scope, TemplateBudget budget)
    {
        var value = TemplateEvaluator.Resolve(template, scope, budget);
        return value is JsonValue v && v.TryGetValue<string>(out var s) ? s : value?.ToJsonString() ?? "";
    }

    private static JsonObject BuildDelivery(ActivityDefinition activity, TemplateScope scope, TemplateBudget budget)
    {
        var delivery = new JsonObject();
        JsonObject? settings = activity.SettingsJson?.DeepClone().AsObject();
        if (settings is not null && activity.Settings.CacheKey is { } cacheKey)
        {
            settings["cache_key"] = TemplateEvaluator.ResolveTree(cacheKey, scope, budget);
        }
        if (activity.Streaming is { } streaming)
        {
            settings ??= new JsonObject();
            settings["streaming"] = streaming;
        }
        delivery["settings"] = settings;
        delivery["timeout_seconds"] = activity.Settings.TimeoutSeconds;
        if (activity.Outputs.Count > 0)
        {
            var outputs = new JsonArray();
            foreach (var o in activity.Outputs)
            {
                outputs.Add(new JsonObject { ["name"] = o.Name, ["type"] = o.Type });
            }
            delivery["output_definitions"] = outputs;
        }
        return delivery;
    }

    private void Requeue(ActivityState state, long readyAt)
    {
        state.Status = ActivityStatus.Pending;
        state.Attempt++;
        state.ReadyAt = readyAt;
        state.ClaimedAt = null;
        Touch(state);
        Emit(EventTypes.ActivityScheduled, state, new JsonObject
        {
            ["worker"] = state.Worker,
            ["activity_name"] = state.ActivityName,
            ["attempt"] = state.Attempt,
        });
        NoteReady(state);
    }

    private void NoteReady(ActivityState state) => Decision.NoteReady(state.Worker, state.ReadyAt ?? _now, _now);

    /// <summary>A template of <paramref name="field"/> failed: TEMPLATE_LIMIT_EXCEEDED when it ran out of its
    /// budget, TEMPLATE_ERROR otherwise. The message names the field and the failing leaf within it.</summary>
    private void FailBeforeRun(ActivityState state, string field, TemplateException ex)
    {
        var where = ex.Location is null ? field : ex.Location[0] == '[' ? field + ex.Location : $"{field}.{ex.Location}";
        if (ex is TemplateLimitException)
        {
            FailBeforeRun(state, EngineErrorCodes.TemplateLimitExceeded, $"activity '{state.Key}', {where}: {ex.Message}");
        }
        else
        {
            FailBeforeRun(state, EngineErrorCodes.TemplateError, $"{where}: {ex.Message}");
        }
    }

    private void FailBeforeRun(ActivityState state, string code, string message)
    {
        Emit(EventTypes.ActivityFailed, state, new JsonObject
        {
            ["activity_key"] = state.Key,
            ["error_code"] = code,
            ["error_message"] = message,
            ["retryable"] = false,
            ["will_retry"] = false,
            ["attempt"] = state.Attempt,
            ["cost_usd"] = "0",
        });
        Finish(state, ActivityStatus.Failed, code, message);
    }

    private void Skip(ActivityState state, string reason)
    {
        state.Status = ActivityStatus.Skipped;
        state.CompletedAt = _now;
        Touch(state);
        Emit(EventTypes.ActivitySkipped, state, new JsonObject { ["reason"] = reason });
    }

    private void Finish(ActivityState state, string status, string code, string message)
    {
        state.Status = status;
        state.ErrorCode = code;
        state.ErrorMessage = message;
        state.CompletedAt = _now;
        state.Runs++;
        ClearLease(state);
        Touch(state);
    }

    private void StopActivities(string reason)
    {
        foreach (var activity in Definition.Activities)
        {
            var a = _wf.Activities[activity.Key];
            switch (a.Status)
            {
                case ActivityStatus.NotScheduled or ActivityStatus.Waiting or ActivityStatus.Pending:
                    a.Status = ActivityStatus.Cancelled;
                    a.CompletedAt = _now;
                    a.ReadyAt = null;
                    Touch(a);
                    Emit(EventTypes.ActivityCancelled, a, new JsonObject { ["reason"] = reason });
                    break;
                case ActivityStatus.Running:
                    a.CancelRequested = true;
                    Touch(a);
                    break;
            }
        }
    }

    private void CheckFinished()
    {
        if (!IsRunning)
        {
            return;
        }
        ActivityState? firstFailed = null;
        foreach (var a in _wf.Activities.Values)
        {
            if (!a.IsTerminal)
            {
                return;
            }
            if (a.Status == ActivityStatus.Failed && (firstFailed is null || (a.CompletedAt ?? 0) < (firstFailed.CompletedAt ?? 0)))
            {
                firstFailed = a;
            }
        }
        if (firstFailed is null)
        {
            SetWorkflowStatus(WorkflowStatus.Completed);
            Emit(EventTypes.WorkflowCompleted, null, new JsonObject());
        }
        else
        {
            _wf.ErrorMessage = firstFailed.ErrorMessage;
            SetWorkflowStatus(WorkflowStatus.Failed);
            Emit(EventTypes.WorkflowFailed, null, new JsonObject
            {
                ["reason"] = $"Activity '{firstFailed.Key}' failed: {firstFailed.ErrorMessage}",
            });
        }
    }

    // ---- helpers ----------------------------------------------------------------------------------------------

    private void SetWorkflowStatus(string status)
    {
        _wf.Status = status;
        _wf.UpdatedAt = _now;
        _wf.IsDirty = true;
        if (WorkflowStatus.IsTerminal(status))
        {
            _wf.CompletedAt = _now;
            Decision.MarkTerminal();
        }
    }

    private void StoreOutputs(ActivityState activity, JsonObject output)
    {
        var definition = Definition.Find(activity.Key)!;
        if (!definition.IterationScoped)
        {
            activity.Outputs = output.DeepClone().AsObject();
            return;
        }
        var outputs = activity.Outputs ?? new JsonObject();
        foreach (var (name, value) in output)
        {
            if (outputs[name] is not JsonArray history)
            {
                history = new JsonArray();
                outputs[name] = history;
            }
            history.Add(value?.DeepClone());
        }
        activity.Outputs = outputs;
    }

    private void AddCost(ActivityState activity, decimal cost)
    {
        if (cost == 0)
        {
            return;
        }
        activity.Cost += cost;
        _wf.TotalCost += cost;
        _wf.IsDirty = true;
    }

    private static void ClearLease(ActivityState activity)
    {
        activity.LeaseOwner = null;
        activity.LeaseUntil = null;
    }

    private void Touch(ActivityState activity)
    {
        activity.IsDirty = true;
        _wf.UpdatedAt = _now;
        _wf.IsDirty = true;
    }

    private static bool HasRetriesLeft(ActivityState activity) => activity.RetriesUsed + 1 < activity.MaxAttempts;

    private void Emit(string type, ActivityState? activity, JsonObject payload) =>
        Decision.Add(new WorkflowEvent(type, activity?.Key, activity?.Iteration, payload));

    private static string Money(decimal value) => value.ToString(CultureInfo.InvariantCulture);

    // ---- costs, budgets and the result cache (§1.5, §6.10) ----------------------------------------------------------

    public const string BudgetExceededMessage = "Budget exceeded before execution";

    private static string CacheKeyOf(ActivityState state) =>
        ResultCacheKeys.Compute(state.Worker, state.ActivityName, state.Delivery?["settings"]?["cache_key"], state.Parameters);

    private (decimal? Activity, decimal? Workflow) BudgetLimitsOf(ActivityDefinition activity) =>
        (activity.Settings.Budget?.Limit, _wf.BudgetLimit ?? Definition.Settings?.BudgetLimit);

    /// <summary>
    /// The check before enqueue and before each retry of an <c>llm_prompt</c>/<c>embedding</c> activity under a budget:
    /// false (and an abort marker) when the action is abort and the cheapest listed model would exceed a limit;
    /// otherwise the budget parameters are added so that the worker can pick a cheaper model.
    /// </summary>
    private bool PassesBudget(ActivityDefinition activity, ActivityState state, out string detail)
    {
        detail = "";
        if (state.Parameters is null || !BudgetParameters.EnforcedActivityNames.Contains(state.ActivityName))
        {
            return true;
        }
        var (activityLimit, workflowLimit) = BudgetLimitsOf(activity);
        if (activityLimit is null && workflowLimit is null)
        {
            return true;
        }
        var action = (activity.SettingsJson?["budget"]?["action"] as JsonValue)?.GetValue<string>()
            ?? Definition.Settings?.BudgetAction ?? "abort";
        var catalog = _defaults.ModelCatalog;
        if (action != "continue")
        {
            long? maxTokens = state.Parameters["max_tokens"] is JsonValue v && v.TryGetValue<long>(out var m) ? m : null;
            var estimate = BudgetEstimator.EstimateCheapest(catalog, BudgetParameters.ModelIdsOf(state.Parameters), maxTokens);
            var check = new BudgetCheck(activityLimit, state.Cost, workflowLimit, _wf.TotalCost);
            if (estimate is not null && !check.Fits(estimate.CostUsd))
            {
                var activityExceeded = activityLimit is { } a && state.Cost + estimate.CostUsd > a;
                var limit = activityExceeded ? activityLimit : workflowLimit;
                detail = string.Create(CultureInfo.InvariantCulture,
                    $"the cheapest model {estimate.ModelId} is estimated at ${estimate.CostUsd} and the {(activityExceeded ? "activity" : "workflow")} " +
                    $"has spent ${(activityExceeded ? state.Cost : _wf.TotalCost)} of its ${limit} limit");
                ModelIds.TrySplit(estimate.ModelId, out var provider, out var model);
                Decision.Add(new CostLine(state.Key, state.Iteration, state.Attempt, provider, model ?? estimate.ModelId, default, 0m,
                    limit, CostLine.Abort, estimate.CostUsd));
                return false;
            }
        }
        BudgetParameters.Apply(state.Parameters, catalog, activityLimit, workflowLimit, state.Cost, _wf.TotalCost, action);
        state.IsDirty = true;
        return true;
    }

    /// <summary>Cost lines of one attempt: one per usage line, plus one for the cost no usage line covers.</summary>
    private void RecordCostLines(ActivityState activity, CostReport report, JsonObject? output)
    {
        if (report.Lines.Count == 0 && report.UncoveredCostUsd == 0m)
        {
            return;
        }
        var definition = Definition.Find(activity.Key)!;
        var (activityLimit, workflowLimit) = BudgetLimitsOf(definition);
        var limit = activityLimit ?? workflowLimit;
        var lines = new List<CostLine>(report.Lines.Count + 1);
        foreach (var line in report.Lines)
        {
            lines.Add(new CostLine(activity.Key, activity.Iteration, activity.Attempt, line.Provider, line.Model, line.Tokens,
                line.CostUsd, limit));
        }
        if (report.UncoveredCostUsd != 0m)
        {
            lines.Add(new CostLine(activity.Key, activity.Iteration, activity.Attempt, null, null, default, report.UncoveredCostUsd, limit));
        }
        // llm_prompt answers under `result` (the reference shape); older workers put the fields at the top level.
        var answer = output?["result"] as JsonObject ?? output;
        if (answer is not null && report.Lines.Count > 0)
        {
            // The worker skipped a model for its budget and answered with a cheaper one: a downgrade (§6.10). Spindle's
            // worker details it in fallback_attempts; the reference's names the skipped models in budget_skipped_models.
            var attempts = answer["fallback_attempts"] as JsonArray ?? [];
            var skipped = attempts.OfType<JsonObject>().FirstOrDefault(a => a["outcome"] is JsonValue o && o.GetValueKind() == System.Text.Json.JsonValueKind.String
                && o.GetValue<string>() == "skipped_budget")
                ?? (answer["budget_skipped_models"] is JsonArray { Count: > 0 } ? new JsonObject() : null);
            if (skipped is not null)
            {
                var answering = TextOf(answer["model_id"]) ?? TextOf(answer["model"]);
                var index = report.Lines.Count - 1;
                for (var i = 0; i < report.Lines.Count; i++)
                {
                    if (answering is not null && ModelIds.Join(lines[i].Provider!, lines[i].Model!).Equals(answering, StringComparison.OrdinalIgnoreCase))
                    {
                        index = i;
                    }
                }
                BudgetParameters.TryReadDecimal(skipped["estimated_cost_usd"], out var estimated);
                lines[index] = lines[index] with { BudgetEvent = CostLine.Downgrade, EstimatedCostUsd = estimated };
            }
        }
        Decision.AddRange(lines);
    }

    private static string? TextOf(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.String ? v.GetValue<string>() : null;

    private int MaxAttemptsOf(ActivityDefinition activity) => RetryPolicyOf(activity).MaxAttempts;

    private RetryPolicy RetryPolicyOf(ActivityDefinition activity) =>
        activity.Settings.Retry ?? RetryPolicy.Default(Definition.Settings?.MaxRetries ?? _defaults.MaxRetries);
}
