using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Definitions;
using Spindle.Core.Templates;

namespace Spindle.Core.Orchestration;

// Enqueue and delivery: preparing an execution (templates, start time, the settings the worker gets), queueing it or
// letting it wait for its signal, and leasing what this decision made claimable to the worker that asked.
public sealed partial class WorkflowMachine
{
    // ---- enqueue: templates, delays and schedules, signals -------------------------------------------------

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

        if (activity.Map is not null && state.MapOf is null)
        {
            ExpandMap(activity, state); // the map itself runs as its items (docs/workflow-format.md#maps)
            return;
        }

        if (activity.Workflow is { } child)
        {
            StartChild(activity, state, child); // no worker: the store submits the child (WorkflowMachine.Children.cs)
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
            state.Delivery = BuildDelivery(activity, scope, budget, Definition.DependentsOf(activity.Key));
            ApplyQueueing(activity, state, scope, budget, ref field);
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
            ["worker"] = state.RoutingKey,
            ["activity_name"] = state.ActivityName,
            ["attempt"] = state.Attempt,
        });
        NoteReady(state);
        if (activity.Settings.Cache)
        {
            Decision.AddCacheCandidate(state, CacheKeyOf(state));
        }
    }

    private static string ResolveToString(string template, IReadOnlyDictionary<string, JsonNode?> scope, TemplateBudget budget)
    {
        var value = TemplateEvaluator.Resolve(template, scope, budget);
        return value is JsonValue v && v.TryGetValue<string>(out var s) ? s : value?.ToJsonString() ?? "";
    }

    private static JsonObject BuildDelivery(ActivityDefinition activity, TemplateScope scope, TemplateBudget budget, int dependents)
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
        delivery["dependents"] = dependents;
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
        // A map item's key is "map[index]": its definition is its map's (docs/workflow-format.md#maps).
        var definition = Definition.Find(state.MapOf ?? state.Key)!;
        if (definition.Workflow is { } child)
        {
            // A retry of a child-workflow activity submits a new child at once (no backoff: nothing waits for a
            // worker, and the failed child is kept for inspection).
            state.Attempt++;
            StartChild(definition, state, child);
            return;
        }
        state.Status = ActivityStatus.Pending;
        state.Attempt++;
        state.ReadyAt = readyAt;
        state.ClaimedAt = null;
        Touch(state);
        Emit(EventTypes.ActivityScheduled, state, new JsonObject
        {
            ["worker"] = state.RoutingKey,
            ["activity_name"] = state.ActivityName,
            ["attempt"] = state.Attempt,
        });
        NoteReady(state);
    }

    private void NoteReady(ActivityState state) => Decision.NoteReady(state.RoutingKey, state.ReadyAt ?? _now, _now);

    // ---- delivery in the deciding transaction (claim-next, hand-overs) --------------------------------------

    /// <summary>
    /// Leases this workflow's activities of routing key <paramref name="routingKey"/> that this decision made claimable to
    /// <paramref name="workerId"/> as a poll would (oldest first, <c>ActivityStarted</c>), in the decision that made
    /// them claimable: the worker reporting a result gets the next step with the answer, saving a poll, a claim
    /// transaction and the wake-up in between (the <c>claim-next</c> extension). Routing keys left with nothing to
    /// claim are dropped from <see cref="WorkflowDecision.ReadyRoutingKeys"/>, so nobody is woken for work already handed out.
    /// </summary>
    public List<ActivityState> ClaimReady(string routingKey, string workerId, IReadOnlyCollection<string>? activityNames, int max)
    {
        var claimed = new List<ActivityState>();
        var failed = false;
        if (max <= 0 || !IsRunning)
        {
            return claimed;
        }
        bool Ready(ActivityState a) => IsClaimable(a, routingKey, null);
        List<ActivityState>? failedItems = null;
        // Activities with a concurrency or rate limit are left to the claim statement, which enforces those limits.
        foreach (var a in Executions().Where(a => IsClaimable(a, routingKey, activityNames) && MadeClaimableHere(a) && !a.IsGated)
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
                if (a.MapOf is not null)
                {
                    (failedItems ??= []).Add(a);
                }
                else
                {
                    failed = true;
                }
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
        foreach (var item in failedItems ?? [])
        {
            ItemSettled(item);
        }
        if (failed)
        {
            Advance();
        }
        if (claimed.Count > 0 && !Executions().Any(Ready))
        {
            Decision.NothingLeftFor(routingKey);
        }
        return claimed;
    }

    /// <summary>How many activities <see cref="ClaimReady"/> could lease right now, were there no limit.</summary>
    public int CountClaimable(string routingKey, IReadOnlyCollection<string>? activityNames) =>
        IsRunning ? Executions().Count(a => IsClaimable(a, routingKey, activityNames) && MadeClaimableHere(a)) : 0;

    /// <summary>
    /// Whether this decision created or changed the activity: only then is it invisible to other transactions until
    /// commit. An activity that was already claimable when the workflow was loaded is being claimed by pollers, whose
    /// claim statements do not take the workflow's lock; leasing it here too would make the commit fail and start over.
    /// </summary>
    private static bool MadeClaimableHere(ActivityState a) => a.IsNew || a.IsDirty;

    private bool IsClaimable(ActivityState a, string routingKey, IReadOnlyCollection<string>? activityNames) =>
        a.Status == ActivityStatus.Pending && a.ReadyAt is { } at && at <= _now && string.Equals(a.RoutingKey, routingKey, StringComparison.Ordinal)
        && (activityNames is null || activityNames.Contains(a.ActivityName));
}
