using Spindle.Storage;

namespace Spindle.Server.Wakeups;

public sealed partial class PollCoordinator
{
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

        /// <summary>For the dispatch trace: why the poll has no free slot to lend, or that it has some.</summary>
        internal string TraceState()
        {
            lock (_gate)
            {
                return _free > 0 ? "poll_free" : _claiming > 0 ? "poll_claiming" : _lending > 0 ? "poll_lent_out"
                    : _handOversOpen > 0 ? "poll_handing_over" : _answered ? "poll_answered" : "poll_empty";
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
