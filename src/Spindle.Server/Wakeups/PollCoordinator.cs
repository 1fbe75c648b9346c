using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using Spindle.Core.Definitions;
using Spindle.Storage;
using DispatchTrace = Spindle.Protocol.DispatchTrace;

namespace Spindle.Server.Wakeups;

/// <summary>
/// The long-polls waiting in this process, their slots, and every request that borrows those slots.
/// </summary>
/// <remarks>
/// Design: each long-poll's slots are one counter of free slots under one lock, and every borrower reserves from it
/// synchronously before its transaction and gives back what it did not use after commit (or failure):
/// <list type="bullet">
/// <item>the poll's own claim statement reserves all free slots and gives back what it did not claim;</item>
/// <item>a completion of the same worker (<c>claim_next_from_poll</c>) reserves what is free at that instant; the store
/// simply claims up to <c>claim_next</c> + reserved, and every activity beyond <c>claim_next</c> keeps a slot;</item>
/// <item>a submit reserves slots of the idle long-polls of its roots' routing keys, passes them to the store as plain
/// <see cref="SlotGrant"/> data, and the poll answers with what was leased to it once the submit commits.</item>
/// </list>
/// Nothing waits for another request: a poll in the middle of its claim simply has no free slot to lend, and the store
/// never calls back into the server. The only wait is the poll's answer on an open submit hand-over (a short transaction
/// whose activities it must not strand). The long-poll loop (claim, wait for a wake-up, answer) lives here too.
/// </remarks>
public sealed partial class PollCoordinator
{
    /// <summary>Above this many workers, answered polls older than <see cref="StaleAfter"/> are forgotten.</summary>
    private const int PruneAbove = 10_000;

    private const int MaxRootEntries = 10_000;

    private static readonly TimeSpan StaleAfter = TimeSpan.FromMinutes(1);

    private static readonly TimeSpan FallbackRecheck = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, Poll> _byWorker = new(StringComparer.Ordinal);

    // The latest long-poll waiting for each routing key: a submit hands the new workflow's first steps to it.
    private readonly ConcurrentDictionary<string, Poll> _byRoutingKey = new(StringComparer.Ordinal);

    // Every long-poll waiting for each routing key: a completion hands them what its worker had no slots for.
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<Poll, byte>> _waitingByRoutingKey = new(StringComparer.Ordinal);

    // The root activities of each definition (version "" = the latest seen), so a submit knows whose slots to reserve.
    private readonly ConcurrentDictionary<(string Name, string Version), Roots> _roots = new();
    private readonly TimeProvider _time;

    public PollCoordinator(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
    }

    /// <summary>
    /// One poll (docs/worker-protocol.md): claims up to <paramref name="command"/>'s max; with <paramref name="waitSeconds"/>
    /// it waits for a wake-up while nothing is claimable, lending its slots to the worker's completions
    /// (<paramref name="pollId"/>) and taking hand-overs from submits meanwhile.
    /// </summary>
    public async Task<IReadOnlyList<ClaimedActivity>> PollAsync(IWorkflowStore store, WakeupHub hub, ClaimCommand command,
        string? pollId, int waitSeconds, CancellationToken stopping, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(waitSeconds);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, cancellationToken);
        using var poll = Register(command.WorkerId, command.RoutingKey, pollId, command.ActivityNames, command.MaxActivities, waits: waitSeconds > 0);
        using var wake = CancellationTokenSource.CreateLinkedTokenSource(linked.Token, poll.AnswerNow);
        var woken = false;
        while (true)
        {
            var claimFrom = DispatchTrace.Enabled ? DispatchTrace.Now : default;
            // Take the signal before claiming: a wake-up that lands between the claim and the wait still counts.
            var signal = hub.RoutingKeySignal(command.RoutingKey);
            var stillFree = poll.BeginClaim(out var lentOut);
            if (lentOut)
            {
                // Every free slot is lent to completions in flight: not a reason to answer empty (the worker would only
                // poll again). The first completion that gives slots back claims for this poll (HandOut).
                poll.EndClaim(0, answering: false);
                stillFree = -1;
            }
            IReadOnlyList<ClaimedActivity> claimed = stillFree <= 0
                ? [] // completions took every slot it held, a submit handed it work, or its slots are lent out
                : await store.ClaimAsync(command with { MaxActivities = stillFree }, cancellationToken);
            var remaining = deadline - DateTimeOffset.UtcNow;
            if (stillFree == 0 || claimed.Count > 0 || remaining <= TimeSpan.Zero || linked.IsCancellationRequested)
            {
                var claimedAt = DispatchTrace.Enabled ? DispatchTrace.Now : default;
                var handedOver = await poll.AnswerAsync(claimed.Count);
                if (DispatchTrace.Enabled)
                {
                    Trace(claimed, woken ? "poll_woken" : "poll_fresh", claimFrom, claimedAt);
                    Trace(handedOver, null, null, null);
                }
                return handedOver.Count == 0 ? claimed : [.. claimed, .. handedOver];
            }
            if (stillFree > 0)
            {
                poll.EndClaim(0, answering: false);
            }
            await signal.WaitAsync(remaining < FallbackRecheck ? remaining : FallbackRecheck, wake.Token)
                .ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            if (linked.IsCancellationRequested)
            {
                var handedOver = await poll.AnswerAsync(0);
                if (DispatchTrace.Enabled)
                {
                    Trace(handedOver, null, null, null);
                }
                return handedOver;
            }
            woken = true;
        }
    }

    /// <summary>
    /// The dispatch trace of activities a poll answers with: how they were claimed (<paramref name="via"/>; null when a
    /// hand-over already recorded its claim) and that the answer leaves now.
    /// </summary>
    private static void Trace(IReadOnlyList<ClaimedActivity> activities, string? via, DateTimeOffset? from, DateTimeOffset? at)
    {
        var now = DispatchTrace.Now;
        foreach (var a in activities)
        {
            if (via is not null)
            {
                DispatchTrace.Record("claim", a.ActivityId, via, at, from, a.WorkflowId, a.ActivityKey);
            }
            DispatchTrace.Record("answer", a.ActivityId, "poll", now);
        }
    }

    /// <summary>
    /// A completion (claim-next, <paramref name="next"/>). With <paramref name="fromPoll"/> it may also use up to that many
    /// slots of the worker's long-poll <paramref name="pollId"/>: what is free is reserved before the transaction, the
    /// store claims up to <c>claim_next</c> plus those, and the slots the answer did not fill go back after it.
    /// </summary>
    public async Task<CompleteOutcome> CompleteAsync(IWorkflowStore store, string activityId, string workerId, JsonObject output,
        CostReport costs, ClaimNext? next, string? pollId, int fromPoll, CancellationToken cancellationToken)
    {
        // For the dispatch trace: why a completion was lent nothing (the poll's state as the lend found it).
        var lendState = DispatchTrace.Enabled ? LendState(workerId, pollId, next is null ? 0 : fromPoll) : null;
        var (poll, lent) = next is not null && pollId is not null ? Lend(workerId, pollId, fromPoll) : (null, 0);
        CompleteOutcome? outcome = null;
        try
        {
            outcome = await store.CompleteAsync(new CompleteCommand(activityId, workerId, output, costs,
                lent > 0 ? next! with { MaxActivities = next.MaxActivities + lent } : next), cancellationToken);
            if (DispatchTrace.Enabled)
            {
                TraceComplete(activityId, lent, lendState, outcome);
            }
            return outcome;
        }
        finally
        {
            // The worker counts every activity beyond its own claim_next as taken from its poll. A repeated report is
            // answered with what its first copy leased, whose slots that copy already took.
            if (poll is not null)
            {
                GiveBack(store, poll, lent, outcome is { Status: StoreStatus.Ok, Message: null, Claimed: { } claimed }
                    ? Math.Clamp(claimed.Count - next!.MaxActivities, 0, lent)
                    : 0);
            }
            if (outcome is { Unclaimed: > 0, UnclaimedRoutingKey: { } routingKey })
            {
                HandOutUnclaimed(store, routingKey, workerId, outcome.Unclaimed);
            }
        }
    }

    /// <summary>The dispatch trace of a committed completion: what its claim-next leased, and how much it left over.</summary>
    private static void TraceComplete(string activityId, int lent, string? lendState, CompleteOutcome outcome)
    {
        var now = DispatchTrace.Now;
        DispatchTrace.Record("complete", activityId, lent > 0 ? "lent" : lendState, now, count: outcome.Unclaimed);
        foreach (var a in outcome.Claimed ?? [])
        {
            DispatchTrace.Record("claim", a.ActivityId, "claim_next", now, null, a.WorkflowId, a.ActivityKey);
            DispatchTrace.Record("answer", a.ActivityId, "complete", now);
        }
    }

    /// <summary>
    /// A completion that reserved <paramref name="lent"/> of <paramref name="poll"/>'s slots (<see cref="Lend"/>) filled
    /// <paramref name="used"/>; the rest go back, and if work became ready for the poll while completions held all its
    /// slots, they are used for it at once.
    /// </summary>
    public void GiveBack(IWorkflowStore store, Poll poll, int lent, int used)
    {
        if (poll.GiveBack(lent, used))
        {
            HandOut(store, poll, int.MaxValue);
        }
    }

    /// <summary>
    /// A committed completion made more activities claimable than its worker had slots for: the long-polls already
    /// waiting for that routing key in this process get them now (the completing worker's own poll first), each by a
    /// claim statement of its own, instead of the work waiting for the next poll round trip. A poll whose slots are all
    /// lent to completions in flight is remembered, and the first of those to give slots back claims for it.
    /// </summary>
    private void HandOutUnclaimed(IWorkflowStore store, string routingKey, string workerId, int count)
    {
        if (!_waitingByRoutingKey.TryGetValue(routingKey, out var waiting))
        {
            return;
        }
        var own = _byWorker.TryGetValue(workerId, out var p) && waiting.ContainsKey(p) ? p : null;
        foreach (var poll in own is null ? waiting.Keys : waiting.Keys.Where(w => w != own).Prepend(own))
        {
            if (count <= 0)
            {
                break;
            }
            count -= HandOut(store, poll, count);
        }
    }

    /// <summary>
    /// Reserves up to <paramref name="wanted"/> of <paramref name="poll"/>'s free slots (none unless it waits after an
    /// empty claim) and claims for it in the background; the poll answers with what the claim leased to it. Returns how
    /// many slots it reserved.
    /// </summary>
    private static int HandOut(IWorkflowStore store, Poll poll, int wanted)
    {
        var taken = poll.TakeForHandOver(wanted, oweIfLent: true);
        if (taken > 0)
        {
            _ = ClaimForAsync(store, poll, taken);
        }
        return taken;
    }

    private static async Task ClaimForAsync(IWorkflowStore store, Poll poll, int slots)
    {
        IReadOnlyList<ClaimedActivity> claimed = [];
        try
        {
            var from = DispatchTrace.Enabled ? DispatchTrace.Now : default;
            claimed = await store.ClaimAsync(new ClaimCommand(poll.RoutingKey, poll.WorkerId, slots, poll.ActivityNames),
                CancellationToken.None);
            if (DispatchTrace.Enabled)
            {
                var at = DispatchTrace.Now;
                foreach (var a in claimed)
                {
                    DispatchTrace.Record("claim", a.ActivityId, "handout", at, from, a.WorkflowId, a.ActivityKey);
                }
            }
        }
        catch (Exception)
        {
            // Nothing was leased (the claim statement is one transaction): the activities stay claimable, and the poll
            // claims them itself at its next wake-up.
        }
        finally
        {
            poll.EndHandOver(claimed, slots - claimed.Count);
        }
    }

    /// <summary>
    /// A submit: the idle long-polls of its roots' routing keys lend it slots (<see cref="SubmitCommand.Grants"/>), the
    /// store leases the roots to them in the submitting transaction, and each poll answers with what it got once that
    /// commits; the rest of the slots (all of them if it does not commit) go back.
    /// </summary>
    public async Task<SubmitOutcome> SubmitAsync(IWorkflowStore store, SubmitCommand command, CancellationToken cancellationToken)
    {
        var lent = _byRoutingKey.IsEmpty ? [] : ReserveForRoots(await RootsAsync(store, command, cancellationToken));
        if (lent.Count == 0)
        {
            return Learn(command, await store.SubmitAsync(command, cancellationToken));
        }
        SubmitOutcome? outcome = null;
        try
        {
            outcome = await store.SubmitAsync(command with { Grants = lent.ConvertAll(l => l.Grant) }, cancellationToken);
            return Learn(command, outcome);
        }
        finally
        {
            foreach (var (poll, grant) in lent)
            {
                var leased = outcome is { Status: StoreStatus.Ok }
                    ? outcome.HandedOver.Where(a => string.Equals(a.RoutingKey, grant.RoutingKey, StringComparison.Ordinal)).ToList()
                    : [];
                if (DispatchTrace.Enabled)
                {
                    foreach (var a in leased)
                    {
                        DispatchTrace.Record("claim", a.ActivityId, "submit", null, null, a.WorkflowId, a.ActivityKey);
                    }
                }
                poll.EndHandOver(leased, grant.Slots - leased.Count);
            }
        }
    }

    /// <summary>
    /// Registers a poll of <paramref name="workerId"/> for routing key <paramref name="routingKey"/> asking for
    /// <paramref name="max"/> activities. Only a long-poll (<paramref name="waits"/>) takes hand-overs from submits,
    /// and only one the worker named (<paramref name="pollId"/>) lends its slots to the worker's completions: a poll
    /// that answers at once has nothing to spare.
    /// </summary>
    public Poll Register(string workerId, string routingKey, string? pollId, IReadOnlyList<string>? activityNames, int max, bool waits)
    {
        var poll = new Poll(this, workerId, routingKey, pollId, activityNames, max, _time.GetTimestamp());
        if (waits)
        {
            _byRoutingKey[routingKey] = poll;
            _waitingByRoutingKey.GetOrAdd(routingKey, _ => new ConcurrentDictionary<Poll, byte>())[poll] = 0;
        }
        if (waits && pollId is not null)
        {
            if (_byWorker.Count > PruneAbove)
            {
                Prune();
            }
            _byWorker[workerId] = poll;
        }
        return poll;
    }

    /// <summary>
    /// The latest long-poll waiting in this process for <paramref name="routingKey"/> after a claim that found nothing,
    /// if any: submits hand it their first steps.
    /// </summary>
    public Poll? WaitingFor(string routingKey) =>
        _byRoutingKey.TryGetValue(routingKey, out var poll) && poll.IsIdle ? poll : null;

    /// <summary>
    /// Reserves up to <paramref name="wanted"/> free slots of the worker's poll <paramref name="pollId"/>: the poll (to
    /// give back what goes unused) and how many. Never waits: a poll in its claim statement has none free.
    /// </summary>
    public (Poll? From, int Slots) Lend(string workerId, string pollId, int wanted) =>
        wanted > 0 && _byWorker.TryGetValue(workerId, out var poll) && poll.Id == pollId && poll.Lend(wanted) is var taken and > 0
            ? (poll, taken)
            : (null, 0);

    private string LendState(string workerId, string? pollId, int offered) =>
        offered <= 0 || pollId is null ? "not_offered"
        : !_byWorker.TryGetValue(workerId, out var poll) || poll.Id != pollId ? "poll_replaced"
        : poll.TraceState();

    private List<(Poll Poll, SlotGrant Grant)> ReserveForRoots(Roots? roots)
    {
        var lent = new List<(Poll, SlotGrant)>();
        foreach (var (routingKey, names) in roots?.ByRoutingKey ?? [])
        {
            if (WaitingFor(routingKey) is not { } poll)
            {
                continue;
            }
            var wanted = poll.ActivityNames is null ? names.Count : names.Count(poll.ActivityNames.Contains);
            if (poll.TakeForHandOver(wanted) is var taken and > 0)
            {
                lent.Add((poll, new SlotGrant(routingKey, poll.WorkerId, poll.ActivityNames, taken)));
            }
        }
        return lent;
    }

    private async Task<Roots?> RootsAsync(IWorkflowStore store, SubmitCommand command, CancellationToken cancellationToken)
    {
        if (_roots.TryGetValue((command.DefinitionName, command.Version ?? ""), out var roots))
        {
            return roots;
        }
        var stored = await store.GetDefinitionAsync(command.DefinitionName, command.Version, cancellationToken);
        return stored is null ? null : Remember(command, stored.Definition);
    }

    /// <summary>Keeps the roots of the definition the submit used: "latest" follows new versions one submit late.</summary>
    private SubmitOutcome Learn(SubmitCommand command, SubmitOutcome outcome)
    {
        if (outcome.Workflow?.Definition is { } definition && !_byRoutingKey.IsEmpty
            && !(_roots.TryGetValue((command.DefinitionName, command.Version ?? ""), out var known) && ReferenceEquals(known.Definition, definition)))
        {
            Remember(command, definition);
        }
        return outcome;
    }

    private Roots Remember(SubmitCommand command, WorkflowDefinition definition)
    {
        if (_roots.Count > MaxRootEntries)
        {
            _roots.Clear();
        }
        var roots = new Roots(definition, definition.Activities.Where(a => a.DependsOn.Count == 0)
            .GroupBy(a => a.RoutingKey, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<string>)g.Select(a => a.ActivityName).ToList(), StringComparer.Ordinal));
        return _roots[(command.DefinitionName, command.Version ?? "")] = roots;
    }

    /// <summary>A definition's root activities: their names by routing key.</summary>
    private sealed record Roots(WorkflowDefinition Definition, Dictionary<string, IReadOnlyList<string>> ByRoutingKey);

    private void Prune()
    {
        var now = _time.GetTimestamp();
        foreach (var (workerId, poll) in _byWorker)
        {
            if (poll.IsAnswered && _time.GetElapsedTime(poll.RegisteredAt, now) > StaleAfter)
            {
                _byWorker.TryRemove(new KeyValuePair<string, Poll>(workerId, poll));
            }
        }
    }
}
