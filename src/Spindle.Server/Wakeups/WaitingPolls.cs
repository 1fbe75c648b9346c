using System.Collections.Concurrent;

namespace Spindle.Server.Wakeups;

/// <summary>
/// The slots each worker's latest long-poll holds in this process, so that a completion by the same worker
/// (claim-next, <c>claim_next_from_poll</c>) can use them for the work its result unblocked instead of leaving that
/// work to a poll: a fan-out is then leased in the completing transaction, not one wake-up and one claim later.
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
    /// Registers a poll of <paramref name="workerId"/> asking for <paramref name="max"/> activities. Only a long-poll
    /// that the worker named (<paramref name="pollId"/>) lends its slots: a poll that answers at once has none to spare.
    /// </summary>
    public Poll Register(string workerId, string? pollId, int max, bool waits)
    {
        var poll = new Poll(pollId, max, _time.GetTimestamp());
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

    public sealed class Poll : IDisposable
    {
        private readonly Lock _gate = new();
        private readonly CancellationTokenSource _exhausted = new();
        private int _max;
        private bool _answered;
        private TaskCompletionSource? _claiming; // set while the claim statement runs

        internal Poll(string? id, int max, long registeredAt)
        {
            Id = id;
            _max = max;
            RegisteredAt = registeredAt;
        }

        internal string? Id { get; }

        internal long RegisteredAt { get; }

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

        /// <summary>Cancelled when completions took every slot: the poll should answer (empty) rather than wait holding none.</summary>
        public CancellationToken Exhausted => _exhausted.Token;

        /// <summary>Starts a claim: how many activities the poll may still take (0: its slots went elsewhere).</summary>
        public int BeginClaim()
        {
            lock (_gate)
            {
                _claiming ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                return _max;
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
                try
                {
                    _exhausted.Cancel();
                }
                catch (ObjectDisposedException)
                {
                    // The poll answered and was disposed meanwhile: nobody waits any more.
                }
            }
            return taken;
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

        /// <summary>The handler is done with the poll (answered, or gave up); it stays lendable until replaced.</summary>
        public void Dispose()
        {
            EndClaim(0, answering: true);
            lock (_gate)
            {
                _exhausted.Dispose();
            }
        }
    }
}
