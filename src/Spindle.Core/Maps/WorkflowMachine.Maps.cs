using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Definitions;
using Spindle.Core.Maps;
using Spindle.Core.Templates;

namespace Spindle.Core.Orchestration;

// Maps (docs/workflow-format.md#maps, docs/architecture.md#maps): an activity with for_each runs as one item per list
// element. Expanding creates the item rows in the transaction that made the map ready; each item's end, in its own
// transaction, starts the next one (max_parallel) and, for the last, finishes the map and schedules what follows.
// Items that are not loaded are reached through the store (WorkflowDecision.MapRequests).
public sealed partial class WorkflowMachine
{
    /// <summary>The map activity is ready: resolve <c>for_each</c>, create one item per element, start the first ones.</summary>
    private void ExpandMap(ActivityDefinition activity, ActivityState state)
    {
        var scope = new TemplateScope(_wf, state, NoSecrets());
        JsonNode? resolved;
        try
        {
            resolved = TemplateEvaluator.ResolveTree(activity.Map!.ForEach, scope, new TemplateBudget(_defaults.TemplateLimits));
        }
        catch (TemplateException ex)
        {
            FailBeforeRun(state, "for_each", ex);
            return;
        }
        if (resolved is not JsonArray list)
        {
            FailBeforeRun(state, MapErrorCodes.ForEachNotAList,
                $"for_each of '{state.Key}' yielded {JsonUtil.Describe(resolved)}, not a list");
            return;
        }
        if (list.Count > MapSettings.MaxItems)
        {
            FailBeforeRun(state, MapErrorCodes.ForEachTooLarge,
                $"for_each of '{state.Key}' yielded {list.Count} items; a map may have at most {MapSettings.MaxItems}");
            return;
        }
        var listHash = CanonicalJson.Sha256Hex(list);
        // A workflow retry (the same round) over the same list keeps what completed; a new round starts afresh.
        var rerun = !state.IsNew && state.Map is { } previous && previous.Iteration == state.Iteration && previous.ListHash == listHash;
        if (!state.IsNew)
        {
            // An earlier expansion (a loop round, a retried workflow) left item rows: this one replaces them.
            foreach (var key in _wf.Items.Where(kv => kv.Value.MapOf == state.Key).Select(kv => kv.Key).ToList())
            {
                _wf.Items.Remove(key);
            }
            Decision.Add(rerun ? new MapRequest.Rerun(state.Key) : new MapRequest.Reset(state.Key));
        }
        state.Status = ActivityStatus.Running;
        state.StartedAt = _now;
        state.ReadyAt = null;
        state.Parameters = null;
        state.SecretParameters = null;
        state.Delivery = null;
        state.Map = new MapProgress(list.Count) { Iteration = state.Iteration, ListHash = listHash };
        Touch(state);
        if (rerun)
        {
            _rerunLists[state.Key] = list; // the store answers with the items kept, in this transaction (RerunMapItems)
            return;
        }
        CreateItems(activity, state, list, kept: null);
        FillMap(activity, state);
    }

    /// <summary>
    /// The store removed the rows of a rerun map's items that did not complete (<see cref="MapRequest.Rerun"/>);
    /// <paramref name="keptIndexes"/> completed before the retry and keep their results. The others get new rows, and
    /// the map starts over from its first item, counting the kept ones as done without running them.
    /// </summary>
    public void RerunMapItems(string mapKey, IReadOnlyCollection<int> keptIndexes)
    {
        if (!_rerunLists.Remove(mapKey, out var list) || !_wf.Activities.TryGetValue(mapKey, out var map) || map.Map is null)
        {
            return;
        }
        var activity = Definition.Find(mapKey)!;
        CreateItems(activity, map, list, keptIndexes.ToHashSet());
        FillMap(activity, map);
        if (map.IsTerminal)
        {
            Advance();
        }
    }

    /// <summary>Item rows loaded at once while walking the items a retry kept.</summary>
    private const int KeptItemsWindow = 500;

    /// <summary>The lists of maps waiting for <see cref="RerunMapItems"/> in this decision.</summary>
    private readonly Dictionary<string, JsonArray> _rerunLists = new(StringComparer.Ordinal);

    /// <summary>Emits the map's start and makes a row for each item of <paramref name="list"/> not in <paramref name="kept"/>.</summary>
    private void CreateItems(ActivityDefinition activity, ActivityState state, JsonArray list, HashSet<int>? kept)
    {
        var scheduled = new JsonObject
        {
            ["worker"] = state.RoutingKey,
            ["activity_name"] = state.ActivityName,
            ["attempt"] = state.Attempt,
            ["map_items"] = list.Count,
            ["max_parallel"] = activity.Map!.MaxParallel,
        };
        if (kept is not null)
        {
            scheduled["map_items_kept"] = kept.Count;
        }
        Emit(EventTypes.ActivityScheduled, state, scheduled);
        for (var i = 0; i < list.Count; i++)
        {
            if (kept?.Contains(i) == true)
            {
                continue;
            }
            var item = new ActivityState
            {
                Id = Ids.New(),
                WorkflowId = _wf.Id,
                Key = MapErrorCodes.ItemKey(state.Key, i),
                RoutingKey = activity.RoutingKey,
                ActivityName = activity.ActivityName,
                MaxAttempts = MaxAttemptsOf(activity),
                LeaseSeconds = activity.Settings.TimeoutSeconds ?? _defaults.ActivityTimeoutSeconds,
                Iteration = state.Iteration,
                Runs = state.Iteration,
                MapOf = state.Key,
                MapIndex = i,
                MapItem = list[i]?.DeepClone(),
                // The map waited for its signal (if any) once; its items run with that signal's data.
                SignalSatisfied = true,
                SignalData = state.SignalData?.DeepClone(),
                IsNew = true,
            };
            _wf.Items[item.Key] = item;
        }
    }

    /// <summary>
    /// Starts items in list order while fewer than <c>max_parallel</c> are in flight; asks the store for the rows it
    /// needs and does not have; asks it to collect the outputs once every item has settled.
    /// </summary>
    private void FillMap(ActivityDefinition activity, ActivityState map)
    {
        var progress = map.Map!;
        var limit = activity.Map!.MaxParallel ?? int.MaxValue;
        while (IsRunning && map.Status == ActivityStatus.Running && progress.Next < progress.Total && progress.InFlight < limit)
        {
            if (!_wf.Items.TryGetValue(MapErrorCodes.ItemKey(map.Key, progress.Next), out var item))
            {
                var wanted = (int)Math.Min(progress.Total, (long)progress.Done + limit) - progress.Next;
                if (progress.WalkingKept)
                {
                    // Kept items take no slot: a window of max_parallel would cost a round trip per kept item.
                    wanted = Math.Max(wanted, Math.Min(KeptItemsWindow, progress.Total - progress.Next));
                }
                Decision.Add(new MapRequest.Load(map.Key, progress.Next, wanted));
                return;
            }
            progress.Next++;
            Touch(map);
            progress.WalkingKept = item.Status == ActivityStatus.Completed && !item.IsNew;
            if (progress.WalkingKept)
            {
                CountItem(activity, map, item); // kept from before a workflow retry (RerunMapItems): its result stands
                continue;
            }
            Enqueue(activity, item);
            if (item.IsTerminal && !CountItem(activity, map, item))
            {
                return; // it failed before running (a template, the budget) and so did the map
            }
        }
        if (IsRunning && map.Status == ActivityStatus.Running && progress.Done == progress.Total && !progress.Collecting)
        {
            progress.Collecting = true;
            Decision.Add(new MapRequest.Collect(map.Key));
        }
    }

    /// <summary>Counts a settled item; false when its failure failed the map.</summary>
    private bool CountItem(ActivityDefinition activity, ActivityState map, ActivityState item)
    {
        var progress = map.Map!;
        progress.Done++;
        Touch(map);
        if (item.Status == ActivityStatus.Completed)
        {
            return true;
        }
        progress.Failed++;
        if (activity.Map!.ContinueOnFailure)
        {
            return true;
        }
        progress.Failures = [FailureOf(item.MapIndex ?? 0, item.Key, item.Status, item.ErrorCode, item.ErrorMessage)];
        StopItems(map);
        var message = $"item {item.MapIndex} ({item.Key}) failed: {item.ErrorMessage}";
        Emit(EventTypes.ActivityFailed, map, new JsonObject
        {
            ["activity_key"] = map.Key,
            ["error_code"] = MapErrorCodes.ItemFailed,
            ["error_message"] = message,
            ["item_index"] = item.MapIndex,
            ["item_error_code"] = item.ErrorCode,
            ["retryable"] = false,
            ["will_retry"] = false,
            ["attempt"] = map.Attempt,
            ["cost_usd"] = "0",
        });
        Finish(map, ActivityStatus.Failed, MapErrorCodes.ItemFailed, message);
        return false;
    }

    /// <summary>An item reached a terminal status in this decision: count it, start the next, settle the map.</summary>
    private void ItemSettled(ActivityState item)
    {
        if (!IsRunning || !_wf.Activities.TryGetValue(item.MapOf!, out var map) || map.Map is null
            || map.Status != ActivityStatus.Running || item.Iteration != map.Iteration)
        {
            return; // the map is over already (an item failed before, or the workflow stopped)
        }
        var activity = Definition.Find(map.Key)!;
        if (CountItem(activity, map, item))
        {
            FillMap(activity, map);
        }
        if (map.IsTerminal)
        {
            Advance();
        }
    }

    /// <summary>After an activity or item reached a terminal status: what it unblocks.</summary>
    private void Settled(ActivityState activity)
    {
        if (activity.MapOf is not null)
        {
            ItemSettled(activity);
        }
        else
        {
            Advance();
        }
    }

    /// <summary>
    /// The store loaded items of <paramref name="mapKey"/> that a <see cref="MapRequest.Load"/> asked for: start them.
    /// </summary>
    public void AddItems(string mapKey, IEnumerable<ActivityState> items)
    {
        foreach (var item in items)
        {
            _wf.Items.TryAdd(item.Key, item);
        }
        if (!IsRunning || !_wf.Activities.TryGetValue(mapKey, out var map) || map.Map is null || map.Status != ActivityStatus.Running)
        {
            return;
        }
        FillMap(Definition.Find(mapKey)!, map);
        if (map.IsTerminal)
        {
            Advance();
        }
    }

    /// <summary>
    /// Every item of <paramref name="mapKey"/> has settled and <paramref name="items"/> are their results in index order
    /// (<see cref="MapRequest.Collect"/>): the map completes with each output as a list in item order, null where an
    /// item failed, and what it unblocks is scheduled.
    /// </summary>
    public void FinishMap(string mapKey, IReadOnlyList<MapItemResult> items)
    {
        if (!IsRunning || !_wf.Activities.TryGetValue(mapKey, out var map) || map.Map is not { } progress
            || map.Status != ActivityStatus.Running)
        {
            return;
        }
        progress.Collecting = false;
        var activity = Definition.Find(mapKey)!;
        var byIndex = new MapItemResult?[progress.Total];
        foreach (var r in items)
        {
            if (r.Index >= 0 && r.Index < byIndex.Length)
            {
                byIndex[r.Index] = r;
            }
        }
        // Output names: the declared value outputs, then every name an item produced, in order of first appearance.
        var names = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var o in activity.Outputs.Where(o => o.Type == "value"))
        {
            if (seen.Add(o.Name))
            {
                names.Add(o.Name);
            }
        }
        foreach (var r in byIndex)
        {
            if (r?.Status == ActivityStatus.Completed && r.Outputs is { } outs)
            {
                foreach (var (name, _) in outs)
                {
                    if (seen.Add(name))
                    {
                        names.Add(name);
                    }
                }
            }
        }
        var outputs = new JsonObject();
        foreach (var name in names)
        {
            var list = new JsonArray();
            foreach (var r in byIndex)
            {
                list.Add(r?.Status == ActivityStatus.Completed ? r.Outputs?[name]?.DeepClone() : null);
            }
            outputs[name] = list;
        }
        var failures = new JsonArray();
        for (var i = 0; i < byIndex.Length; i++)
        {
            var r = byIndex[i];
            if (r?.Status != ActivityStatus.Completed)
            {
                failures.Add(FailureOf(i, r?.Key ?? MapErrorCodes.ItemKey(mapKey, i), r?.Status ?? "missing", r?.ErrorCode, r?.ErrorMessage));
            }
        }
        progress.Failures = failures;
        map.Status = ActivityStatus.Completed;
        map.CompletedAt = _now;
        map.Runs++;
        map.ErrorCode = null;
        map.ErrorMessage = null;
        StoreOutputs(map, outputs);
        Touch(map);
        Emit(EventTypes.ActivityCompleted, map, new JsonObject
        {
            ["activity_key"] = map.Key,
            ["map"] = new JsonObject
            {
                ["total"] = progress.Total,
                ["completed"] = progress.Total - failures.Count,
                ["failed"] = failures.Count,
            },
            ["cost_usd"] = Money(map.Cost),
        });
        FireBackEdges(map);
        Advance();
    }

    /// <summary>The workflow stopped (cancel, deadline) while the map ran: the map is cancelled with its items.</summary>
    private void StopMap(ActivityState map, string reason)
    {
        StopItems(map);
        map.Status = ActivityStatus.Cancelled;
        map.CompletedAt = _now;
        map.ReadyAt = null;
        Touch(map);
        Emit(EventTypes.ActivityCancelled, map, new JsonObject { ["reason"] = reason, ["map"] = map.Map?.ToView() });
    }

    /// <summary>
    /// Items of a stopped map: loaded ones here (queued ones cancelled, running ones asked to stop through their
    /// heartbeat), the rest by the store in one statement (<see cref="MapRequest.Stop"/>).
    /// </summary>
    private void StopItems(ActivityState map)
    {
        foreach (var item in _wf.Items.Values.Where(i => i.MapOf == map.Key && !i.IsTerminal))
        {
            if (item.Status == ActivityStatus.Running)
            {
                item.CancelRequested = true;
            }
            else
            {
                var started = item.Status != ActivityStatus.NotScheduled;
                item.Status = ActivityStatus.Cancelled;
                item.CompletedAt = _now;
                item.ReadyAt = null;
                if (started)
                {
                    Emit(EventTypes.ActivityCancelled, item, new JsonObject { ["reason"] = $"map '{map.Key}' stopped" });
                }
            }
            Touch(item);
        }
        Decision.Add(new MapRequest.Stop(map.Key));
    }

    private static JsonObject FailureOf(int index, string key, string status, string? code, string? message) => new()
    {
        ["index"] = index,
        ["key"] = key,
        ["status"] = status,
        ["error_code"] = code,
        ["error_message"] = message,
    };

    /// <summary>Every execution this decision holds: the workflow's activities and the map items it loaded.</summary>
    private IEnumerable<ActivityState> Executions() =>
        _wf.Items.Count == 0 ? _wf.Activities.Values : _wf.Activities.Values.Concat(_wf.Items.Values);

    /// <summary>The definition an activity or a map item runs.</summary>
    private ActivityDefinition DefinitionOf(ActivityState state) => Definition.Find(state.MapOf ?? state.Key)!;

    /// <summary>Spend that counts against the activity's budget: a map item's is the whole map's.</summary>
    private decimal ActivityCostOf(ActivityState state) =>
        state.MapOf is { } mapKey && _wf.Activities.TryGetValue(mapKey, out var map) ? map.Cost : state.Cost;
}
