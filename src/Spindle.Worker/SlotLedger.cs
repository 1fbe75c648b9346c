using System.Globalization;

namespace Spindle.Worker;

/// <summary>
/// The worker's slots (its concurrency) and who holds them: running activities, a poll in flight, and a claim-next
/// completion in flight. A long-poll's slots may be offered to the server by this worker's completions
/// (<c>claim_next_from_poll</c>); the server takes offered slots from the poll itself, so between them the poll's answer
/// and the completions' answers never bring more activities than the poll held, and this ledger counts the same way
/// whichever answer arrives first. Everything is synchronous except waiting for a first free slot before a poll.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable",
    Justification = "The semaphore has no wait handle (only WaitAsync and Wait(0) are used), and a late handler may still release a slot.")]
internal sealed class SlotLedger
{
    private readonly SemaphoreSlim _free;
    private readonly Lock _gate = new();
    private Poll? _waiting;
    private long _polls;

    public SlotLedger(int capacity)
    {
        _free = new SemaphoreSlim(capacity, capacity);
    }

    /// <summary>One poll's slots, from when it is sent until its answer and every offer of its slots have settled.</summary>
    public sealed class Poll
    {
        /// <summary>The poll's name on the wire (<c>poll_id</c>).</summary>
        public required string Id { get; init; }

        /// <summary>Whether the server lends its slots: only a named long-poll does, a poll that answers at once not.</summary>
        public required bool Lends { get; init; }

        /// <summary>The slots it asks for (<c>max_activities</c>).</summary>
        public required int Asked { get; init; }

        internal int Slots;
        internal int OpenOffers;
        internal bool Answered;
    }

    /// <summary>What a claim-next completion asks for, and the slots it holds until its answer.</summary>
    public sealed class ClaimNext
    {
        /// <summary><c>claim_next</c>: the completed activity's own slot and the free slots taken up front.</summary>
        public required int Own { get; init; }

        /// <summary><c>claim_next_from_poll</c>: slots of the waiting long-poll <see cref="PollId"/> offered as well.</summary>
        public int FromPoll { get; init; }

        public string? PollId => Poll?.Id;

        internal int Extra { get; init; }

        internal Poll? Poll { get; init; }
    }

    /// <summary>
    /// A poll is about to be sent: waits for one free slot, then takes whatever else is free up to
    /// <paramref name="batch"/>; <paramref name="lends"/>: it is a long-poll, whose slots the server lends to this
    /// worker's completions.
    /// </summary>
    public async Task<Poll> BeginPollAsync(int batch, bool lends, CancellationToken cancellationToken)
    {
        await _free.WaitAsync(cancellationToken).ConfigureAwait(false);
        int slots = 1 + TakeFree(batch - 1);
        lock (_gate)
        {
            return _waiting = new Poll { Id = (++_polls).ToString(CultureInfo.InvariantCulture), Lends = lends, Asked = slots, Slots = slots };
        }
    }

    /// <summary>
    /// The poll answered with <paramref name="activities"/> activities (0 when it failed): how many of them own one
    /// of its slots. The slots left over go back now, or once the last completion that offered them has its answer.
    /// </summary>
    public int EndPoll(Poll poll, int activities)
    {
        int owned, release = 0;
        lock (_gate)
        {
            poll.Answered = true;
            if (ReferenceEquals(_waiting, poll))
            {
                _waiting = null;
            }
            owned = Math.Min(activities, poll.Slots);
            poll.Slots -= owned;
            if (poll.OpenOffers == 0)
            {
                (release, poll.Slots) = (poll.Slots, 0);
            }
        }
        Release(release);
        return owned;
    }

    /// <summary>
    /// A completion that may claim its next activities is about to be sent. It offers the waiting long-poll's slots;
    /// only when no long-poll lends does it take free slots up front (up to <paramref name="batch"/> with its own).
    /// With <paramref name="dependents"/> (how many activities wait on the completed one, from the claim) it takes free
    /// slots up front for those only, whether a poll lends or not. Every <see cref="ClaimNext"/> must end with
    /// <see cref="EndClaimNext"/>.
    /// </summary>
    /// <remarks>
    /// Free slots taken up front are held until the answer, used or not. Taken by every completion in flight, they
    /// starved the poll and the fan-outs of other workflows (the ten branches of a fan-out reporting at once held
    /// them all), while most completions unblock one activity or none. Knowing the dependents, a fan-out's parent
    /// reserves what its branches need and a chain step or a branch reserves nothing beyond its own slot; a waiting
    /// poll lends only while it is idle, which under load it rarely is, so without the reservation most branches waited
    /// for the worker's next poll.
    /// </remarks>
    public ClaimNext BeginClaimNext(int batch, int? dependents = null)
    {
        Poll? lending = null;
        int offered = 0;
        lock (_gate)
        {
            if (_waiting is { Slots: > 0, Lends: true } poll)
            {
                poll.OpenOffers++;
                (lending, offered) = (poll, poll.Slots);
            }
        }
        int wanted = dependents is { } d ? Math.Min(batch, Math.Max(1, d)) : lending is null ? batch : 1;
        int extra = TakeFree(wanted - 1);
        return new ClaimNext { Own = 1 + extra, Extra = extra, Poll = lending, FromPoll = offered };
    }

    /// <summary>
    /// The completion's answer brought <paramref name="activities"/> activities (0 when it failed): how many of them own
    /// a slot, the completed activity's own slot first. The server took every one beyond <see cref="ClaimNext.Own"/>
    /// from the poll; the free slots taken up front and not filled go back.
    /// </summary>
    public int EndClaimNext(ClaimNext claim, int activities)
    {
        int own = Math.Min(activities, claim.Own);
        int owned = own;
        if (claim.Poll is { } poll)
        {
            int release = 0;
            lock (_gate)
            {
                int covered = Math.Min(Math.Max(0, activities - claim.Own), poll.Slots);
                poll.Slots -= covered;
                poll.OpenOffers--;
                if (poll.Answered && poll.OpenOffers == 0)
                {
                    (release, poll.Slots) = (poll.Slots, 0);
                }
                owned += covered;
            }
            Release(release);
        }
        Release(claim.Extra - Math.Max(0, own - 1));
        return owned;
    }

    /// <summary>Gives back <paramref name="slots"/> slots (an activity ended, or was not started).</summary>
    public void Release(int slots = 1)
    {
        if (slots > 0)
        {
            _free.Release(slots);
        }
    }

    /// <summary>Takes up to <paramref name="max"/> slots that are free right now, without waiting.</summary>
    private int TakeFree(int max)
    {
        int taken = 0;
        while (taken < max && _free.Wait(0, CancellationToken.None))
        {
            taken++;
        }

        return taken;
    }
}
