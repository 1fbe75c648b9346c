using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using Spindle.Core.Definitions;
using Spindle.Storage;

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
public sealed class PollCoordinator
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
        while (true)
        {
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
                var handedOver = await poll.AnswerAsync(claimed.Count);
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
                return await poll.AnswerAsync(0);
            }
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
        var (poll, lent) = next is not null && pollId is not null ? Lend(workerId, pollId, fromPoll) : (null, 0);
        CompleteOutcome? outcome = null;
        try
        {
            outcome = await store.CompleteAsync(new CompleteCommand(activityId, workerId, output, costs,
                lent > 0 ? next! with { MaxActivities = next.MaxActivities + lent } : next), cancellationToken);
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
            claimed = await store.ClaimAsync(new ClaimCommand(poll.RoutingKey, poll.WorkerId, slots, poll.ActivityNames),
                CancellationToken.None);
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

    /// <summary>One poll's slots: free, reserved by its claim, lent to completions, or lent to submits' hand-overs.</summary>
    /// <remarks>
    /// Slots a completion used are gone from the poll for good (the worker counts them the same way). After a poll
    /// answers, its free slots stay lendable until the worker's next poll replaces it, because completions the worker
    /// sent before it saw the answer still offer them.
    /// </remarks>
    public sealed class Poll : IDisposable
    {
        private readonly PollCoordinator _owner;
        private readonly Lock _gate = new();
        private readonly CancellationTokenSource _answerNow = new();
        private readonly List<ClaimedActivity> _handedOver = [];
        private int _free;
        private int _claiming; // reserved by the claim statement that runs now
        private int _lending; // completions holding some of its slots
        private bool _answered;
        private bool _idle; // its last claim found nothing and it waits: nothing older is claimable for it
        private bool _owed; // work was ready for it while every free slot was lent: the first slots back claim for it
        private int _handOversOpen;
        private TaskCompletionSource? _handOversDone; // set while the handler waits for open hand-overs

        internal Poll(PollCoordinator owner, string workerId, string routingKey, string? id, IReadOnlyList<string>? activityNames,
            int max, long registeredAt)
        {
            _owner = owner;
            WorkerId = workerId;
            RoutingKey = routingKey;
            Id = id;
            ActivityNames = activityNames;
            _free = max;
            RegisteredAt = registeredAt;
        }

        /// <summary>The polling worker (the lease owner of what it is handed).</summary>
        public string WorkerId { get; }

        /// <summary>The routing key it polls.</summary>
        public string RoutingKey { get; }

        /// <summary>The poll's activity-name filter (null: any).</summary>
        public IReadOnlyList<string>? ActivityNames { get; }

        internal string? Id { get; }

        internal long RegisteredAt { get; }

        internal bool IsIdle
        {
            get
            {
                lock (_gate)
                {
                    return _idle && !_answered;
                }
            }
        }

        internal bool IsAnswered
        {
            get
            {
                lock (_gate)
                {
                    return _answered;
                }
            }
        }

        /// <summary>
        /// Cancelled when the poll should answer rather than wait: completions used every slot it held, or a submit
        /// handed it activities.
        /// </summary>
        public CancellationToken AnswerNow => _answerNow.Token;

        /// <summary>
        /// Starts a claim: reserves and answers every free slot (0: it was told to answer, because its slots went
        /// elsewhere or it was handed work). While the claim runs nobody else can take them.
        /// </summary>
        /// <remarks>
        /// Once told to answer it answers, even if a completion gave slots back meanwhile: <see cref="AnswerNow"/> stays
        /// cancelled, so a poll that claimed again and found nothing would not wait but claim over and over.
        /// </remarks>
        public int BeginClaim() => BeginClaim(out _);

        /// <summary>
        /// As <see cref="BeginClaim()"/>; <paramref name="lentOut"/>: it has no free slot only because completions in
        /// flight hold them all, so it should wait rather than answer (the first completion to give slots back claims
        /// for it). Call <see cref="EndClaim"/> as after an empty claim.
        /// </summary>
        public int BeginClaim(out bool lentOut)
        {
            lock (_gate)
            {
                _idle = false;
                lentOut = false;
                if (_handedOver.Count > 0 || _answerNow.IsCancellationRequested)
                {
                    return 0;
                }
                if (_free == 0 && _lending > 0)
                {
                    lentOut = _owed = true;
                    return 0;
                }
                _owed = false;
                _claiming += _free;
                _free = 0;
                return _claiming;
            }
        }

        /// <summary>
        /// The claim statement took <paramref name="claimed"/> activities; the rest of its slots are free again. The poll
        /// now answers with them (<paramref name="answering"/>) or waits again.
        /// </summary>
        public void EndClaim(int claimed, bool answering)
        {
            lock (_gate)
            {
                _free += Math.Max(0, _claiming - claimed);
                _claiming = 0;
                _answered |= answering;
                _idle = !_answered && claimed == 0;
            }
        }

        /// <summary>A completion reserves up to <paramref name="wanted"/> free slots (<see cref="PollCoordinator.Lend"/>).</summary>
        internal int Lend(int wanted)
        {
            lock (_gate)
            {
                var taken = Math.Min(wanted, _free);
                _free -= taken;
                if (taken > 0)
                {
                    _lending++;
                }
                return taken;
            }
        }

        /// <summary>
        /// The completion that reserved <paramref name="lent"/> slots is done and filled <paramref name="used"/> of them;
        /// the rest are free again. A waiting poll left without any slot answers instead of waiting on.
        /// </summary>
        /// <returns>Whether work became ready for the poll while the completions held its slots: the caller claims
        /// for it with the slots now free.</returns>
        public bool GiveBack(int lent, int used)
        {
            if (lent <= 0)
            {
                return false;
            }
            bool exhausted, owed = false;
            lock (_gate)
            {
                _free += lent - used;
                _lending--;
                exhausted = used > 0 && _free == 0 && _lending == 0 && _claiming == 0 && !_answered;
                if (_owed && _free > 0 && !_answered)
                {
                    (owed, _owed) = (true, false);
                }
            }
            if (exhausted)
            {
                WakeToAnswer(); // outside the lock: the handler's continuation may run inline here
            }
            return owed;
        }

        /// <summary>
        /// A submit reserves up to <paramref name="wanted"/> slots for a hand-over: none unless the poll waits after a
        /// claim that found nothing (one that has not claimed yet, or is claiming, may have older work to take first).
        /// The open hand-over is counted before anything can wake the handler, so it never answers without what the
        /// hand-over brings; every reservation must end with <see cref="EndHandOver"/>.
        /// </summary>
        public int TakeForHandOver(int wanted) => TakeForHandOver(wanted, oweIfLent: false);

        /// <summary>As <see cref="TakeForHandOver(int)"/>; with <paramref name="oweIfLent"/>, a poll whose free slots
        /// are all lent to completions in flight is owed a claim by the first of them that gives slots back.</summary>
        internal int TakeForHandOver(int wanted, bool oweIfLent)
        {
            lock (_gate)
            {
                if (!_idle || _answered || wanted <= 0)
                {
                    return 0;
                }
                if (oweIfLent && _free == 0 && _lending > 0)
                {
                    _owed = true;
                    return 0;
                }
                var taken = Math.Min(wanted, _free);
                _free -= taken;
                if (taken > 0)
                {
                    _handOversOpen++;
                    _owed = false;
                }
                return taken;
            }
        }

        private void WakeToAnswer()
        {
            try
            {
                _answerNow.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The poll answered and was disposed meanwhile: nobody waits any more.
            }
        }

        /// <summary>
        /// Ends a hand-over: the poll answers with <paramref name="activities"/> (leased to it by a committed
        /// transaction; empty when it did not commit), and <paramref name="unused"/> slots are free again.
        /// </summary>
        public void EndHandOver(IReadOnlyList<ClaimedActivity> activities, int unused)
        {
            TaskCompletionSource? done = null;
            lock (_gate)
            {
                _handedOver.AddRange(activities);
                _free += unused;
                if (--_handOversOpen == 0)
                {
                    (done, _handOversDone) = (_handOversDone, null);
                }
            }
            done?.TrySetResult();
            if (activities.Count > 0)
            {
                WakeToAnswer(); // outside the lock, after the hand-over is counted
            }
        }

        /// <summary>
        /// Ends the poll and answers what submits handed to it, once no hand-over is open any more (their transactions
        /// are short, and answering without them would strand the activities they lease until the lease runs out).
        /// Called by the handler on every answer.
        /// </summary>
        public async Task<List<ClaimedActivity>> AnswerAsync(int claimed)
        {
            Task? open = null;
            EndClaim(claimed, answering: true); // no new hand-over from here on
            lock (_gate)
            {
                if (_handOversOpen > 0)
                {
                    _handOversDone ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    open = _handOversDone.Task;
                }
            }
            if (open is not null)
            {
                await open.ConfigureAwait(false);
            }
            lock (_gate)
            {
                return [.. _handedOver];
            }
        }

        /// <summary>
        /// The handler is done with the poll (answered, or failed); it stays lendable to completions until replaced,
        /// but takes no more hand-overs.
        /// </summary>
        public void Dispose()
        {
            EndClaim(0, answering: true);
            _owner._byRoutingKey.TryRemove(new KeyValuePair<string, Poll>(RoutingKey, this));
            if (_owner._waitingByRoutingKey.TryGetValue(RoutingKey, out var waiting))
            {
                waiting.TryRemove(this, out _);
            }
            lock (_gate)
            {
                _answerNow.Dispose();
            }
        }
    }
}
