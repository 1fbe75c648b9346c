using System.Collections.Concurrent;
using Spindle.Storage;

namespace Spindle.Server.Wakeups;

/// <summary>
/// The long-polls waiting in this process and the slots they hold. A completion by the same worker (claim-next,
/// <c>claim_next_from_poll</c>) can use them for the work its result unblocked instead of leaving that work to a
/// poll: a fan-out is then leased in the completing transaction, not one wake-up and one claim later. A submit can
/// lease its workflow's first activities to the latest long-poll waiting for their routing key, and hand them over
/// once it commits: no wake-up and no claim statement between submit and first step.
/// </summary>
/// <remarks>
/// The worker names each long-poll (<c>poll_id</c>) and a completion names the poll whose slots it offers, so slots
/// are only ever taken from the poll the worker counted them in. Slots taken are gone from that poll for good (the
/// worker counts them the same way): its claim asks for fewer, and a poll never lends while its claim statement
/// runs. After a poll answers, what it did not use stays lendable until the worker's next poll replaces it, because
/// completions the worker sent before it saw the answer still offer those slots.
/// </remarks>
public sealed class WaitingPolls
{
    /// <summary>Above this many workers, answered polls older than <see cref="StaleAfter"/> are forgotten.</summary>
    private const int PruneAbove = 10_000;

    private static readonly TimeSpan StaleAfter = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, Poll> _byWorker = new(StringComparer.Ordinal);

    // The latest long-poll waiting for each routing key: a submit hands the new workflow's first steps to it.
    private readonly ConcurrentDictionary<string, Poll> _byRoutingKey = new(StringComparer.Ordinal);
    private readonly TimeSpan _claimWait;
    private readonly TimeProvider _time;

    /// <param name="claimWait">
    /// The longest a completion waits for a poll's claim statement before it goes on without its slots (default 20 ms):
    /// a claim that takes longer means a loaded machine, where the poll will find the work soon anyway.
    /// </param>
    public WaitingPolls(TimeSpan? claimWait = null, TimeProvider? time = null)
    {
        _claimWait = claimWait ?? TimeSpan.FromMilliseconds(20);
        _time = time ?? TimeProvider.System;
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
    public IWaitingPoll? WaitingFor(string routingKey) =>
        _byRoutingKey.TryGetValue(routingKey, out var poll) && poll.IsIdle ? poll : null;

    /// <summary>
    /// Takes up to <paramref name="wanted"/> slots from the worker's poll <paramref name="pollId"/>: the poll they came
    /// from (to give back what goes unused) and how many. A poll in the middle of its claim statement is waited for
    /// (one statement, at most the claim wait): a worker re-polls right after each answer, so its completions often
    /// arrive during a claim.
    /// </summary>
    public async Task<(Poll? From, int Slots)> TakeAsync(string workerId, string pollId, int wanted, CancellationToken cancellationToken)
    {
        if (wanted > 0 && _byWorker.TryGetValue(workerId, out var poll) && poll.Id == pollId
            && await poll.TakeAsync(wanted, _claimWait, cancellationToken).ConfigureAwait(false) is var taken and > 0)
        {
            return (poll, taken);
        }
        return (null, 0);
    }

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

    public sealed class Poll : IDisposable, IWaitingPoll
    {
        private readonly WaitingPolls _owner;
        private readonly string _routingKey;
        private readonly Lock _gate = new();
        private readonly CancellationTokenSource _answerNow = new();
        private readonly List<ClaimedActivity> _handedOver = [];
        private int _max;
        private bool _answered;
        private bool _idle; // its last claim found nothing and it waits: nothing older is claimable for it
        private TaskCompletionSource? _claiming; // set while the claim statement runs
        private int _handOversOpen;
        private TaskCompletionSource? _handOversDone; // set while the handler waits for open hand-overs

        internal Poll(WaitingPolls owner, string workerId, string routingKey, string? id, IReadOnlyList<string>? activityNames,
            int max, long registeredAt)
        {
            _owner = owner;
            WorkerId = workerId;
            _routingKey = routingKey;
            Id = id;
            ActivityNames = activityNames;
            _max = max;
            RegisteredAt = registeredAt;
        }

        public string WorkerId { get; }

        public IReadOnlyList<string>? ActivityNames { get; }

        internal string? Id { get; }

        internal long RegisteredAt { get; }

        internal bool IsIdle
        {
            get
            {
                lock (_gate)
                {
                    return _idle;
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
        /// Cancelled when the poll should answer rather than wait: completions took every slot it held, or a submit
        /// handed it activities.
        /// </summary>
        public CancellationToken AnswerNow => _answerNow.Token;

        /// <summary>
        /// Starts a claim: how many activities the poll may still take (0: it was told to answer, because its slots
        /// went elsewhere or it was handed work).
        /// </summary>
        /// <remarks>
        /// Once told to answer it answers, even if a completion gave slots back meanwhile: <see cref="AnswerNow"/> stays
        /// cancelled, so a poll that claimed again and found nothing would not wait but claim over and over.
        /// </remarks>
        public int BeginClaim()
        {
            lock (_gate)
            {
                _claiming ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _idle = false;
                return _handedOver.Count > 0 || _answerNow.IsCancellationRequested ? 0 : _max;
            }
        }

        /// <summary>
        /// The claim statement took <paramref name="claimed"/> activities; the poll now answers with them
        /// (<paramref name="answering"/>) or waits again. Either way its other slots may be taken once more.
        /// </summary>
        public void EndClaim(int claimed, bool answering)
        {
            TaskCompletionSource? claim;
            lock (_gate)
            {
                _max -= claimed;
                _answered |= answering;
                _idle = !_answered && claimed == 0;
                claim = _claiming;
                _claiming = null;
            }
            claim?.TrySetResult();
        }

        internal async Task<int> TakeAsync(int wanted, TimeSpan claimWait, CancellationToken cancellationToken)
        {
            Task? claim = null;
            int taken = 0;
            bool exhausted = false;
            lock (_gate)
            {
                if (_claiming is null)
                {
                    taken = TakeLocked(wanted, out exhausted);
                }
                else
                {
                    claim = _claiming.Task;
                }
            }
            if (claim is null)
            {
                return Taken(taken, exhausted);
            }
            try
            {
                await claim.WaitAsync(claimWait, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return 0;
            }
            lock (_gate)
            {
                if (_claiming is not null)
                {
                    return 0; // claiming again: its slots are spoken for
                }
                taken = TakeLocked(wanted, out exhausted);
            }
            return Taken(taken, exhausted);
        }

        /// <inheritdoc />
        /// <remarks>
        /// Only a poll that waits after a claim that found nothing takes hand-overs: one that has not claimed yet, or
        /// is claiming, may have older work to take first. The open hand-over is counted before anything can wake
        /// the handler, so it never answers without what the hand-over brings. Taking its last slot does not wake
        /// it: the hand-over does once it commits, or gives the slots back if it does not.
        /// </remarks>
        public int TakeSlots(int wanted)
        {
            lock (_gate)
            {
                if (!_idle || _answered || _claiming is not null || wanted <= 0)
                {
                    return 0;
                }
                var taken = TakeLocked(wanted, out _);
                if (taken > 0)
                {
                    _handOversOpen++;
                }
                return taken;
            }
        }

        private int TakeLocked(int wanted, out bool exhausted)
        {
            var taken = Math.Min(wanted, _max);
            _max -= taken;
            exhausted = taken > 0 && _max == 0 && !_answered;
            return taken;
        }

        /// <summary>
        /// Wakes the handler when no slot is left, outside the lock: the handler's continuation may run inline here
        /// (answer, dispose), and must neither run under this lock nor dispose the token source in the middle of its
        /// own cancellation.
        /// </summary>
        private int Taken(int taken, bool exhausted)
        {
            if (exhausted)
            {
                WakeToAnswer();
            }
            return taken;
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

        /// <inheritdoc />
        public void EndHandOver(IReadOnlyList<ClaimedActivity> activities, int unused)
        {
            TaskCompletionSource? done = null;
            lock (_gate)
            {
                _handedOver.AddRange(activities);
                _max += unused;
                if (--_handOversOpen == 0)
                {
                    (done, _handOversDone) = (_handOversDone, null);
                }
            }
            done?.TrySetResult();
            if (activities.Count > 0)
            {
                WakeToAnswer(); // outside the lock, after the hand-over is counted (see Taken)
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

        /// <summary>Gives back slots taken with <see cref="WaitingPolls.TakeAsync"/> that the completion did not fill.</summary>
        public void GiveBack(int slots)
        {
            if (slots <= 0)
            {
                return;
            }
            lock (_gate)
            {
                _max += slots;
            }
        }

        /// <summary>
        /// The handler is done with the poll (answered, or failed); it stays lendable to completions until replaced,
        /// but takes no more hand-overs.
        /// </summary>
        public void Dispose()
        {
            EndClaim(0, answering: true);
            _owner._byRoutingKey.TryRemove(new KeyValuePair<string, Poll>(_routingKey, this));
            lock (_gate)
            {
                _answerNow.Dispose();
            }
        }
    }
}
