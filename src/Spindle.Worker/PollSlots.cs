using System.Globalization;

namespace Spindle.Worker;

/// <summary>
/// The slots a worker's long-poll holds while it waits, which a claim-next completion may offer the server for the
/// work its result unblocked (<c>claim_next_from_poll</c>). The server takes offered slots from the poll itself, so
/// between them the poll's answer and the completions' answers never bring more activities than the poll held; this
/// ledger makes the worker count the same way whichever answer arrives first.
/// </summary>
internal sealed class PollSlots
{
    private readonly Lock _gate = new();
    private readonly Action<int> _release;
    private Reservation? _waiting;
    private long _polls;

    /// <param name="release">Gives slots back to the worker's pool.</param>
    public PollSlots(Action<int> release)
    {
        _release = release;
    }

    /// <summary>One long-poll's slots.</summary>
    public sealed class Reservation
    {
        /// <summary>The poll's name on the wire (<c>poll_id</c>).</summary>
        public required string Id { get; init; }

        /// <summary>Whether the server lends its slots: only a named long-poll does, a poll that answers at once not.</summary>
        public required bool Lends { get; init; }

        internal int Slots;
        internal int OpenOffers;
        internal bool Answered;
    }

    /// <summary>
    /// A poll is about to be sent holding <paramref name="slots"/> slots; <paramref name="lends"/>: it is a long-poll,
    /// whose slots the server lends to this worker's completions.
    /// </summary>
    public Reservation Begin(int slots, bool lends)
    {
        lock (_gate)
        {
            return _waiting = new Reservation { Id = (++_polls).ToString(CultureInfo.InvariantCulture), Slots = slots, Lends = lends };
        }
    }

    /// <summary>
    /// The poll answered with <paramref name="activities"/> activities (0 when it failed): how many of them own one
    /// of its slots. The slots left over go back now, or once the last completion that offered them has its answer.
    /// </summary>
    public int End(Reservation poll, int activities)
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
    /// A completion offers the waiting poll's slots: from which poll (null: no long-poll that lends waits) and how many.
    /// </summary>
    public (Reservation? Poll, int Slots) Offer()
    {
        lock (_gate)
        {
            if (_waiting is { Slots: > 0, Lends: true } poll)
            {
                poll.OpenOffers++;
                return (poll, poll.Slots);
            }
            return (null, 0);
        }
    }

    /// <summary>
    /// The offering completion got its answer (or failed): <paramref name="taken"/> of its activities came beyond its
    /// own slots, i.e. from the poll. Answers how many of them own a slot from the poll's reservation.
    /// </summary>
    public int Settle(Reservation poll, int taken)
    {
        int covered, release = 0;
        lock (_gate)
        {
            covered = Math.Min(taken, poll.Slots);
            poll.Slots -= covered;
            poll.OpenOffers--;
            if (poll.Answered && poll.OpenOffers == 0)
            {
                (release, poll.Slots) = (poll.Slots, 0);
            }
        }
        Release(release);
        return covered;
    }

    private void Release(int slots)
    {
        if (slots > 0)
        {
            _release(slots);
        }
    }
}
