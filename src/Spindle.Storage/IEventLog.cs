namespace Spindle.Storage;

/// <summary>A stored event with its position in the server-wide log (commit order per workflow).</summary>
public sealed record LoggedEvent(long Seq, StoredEvent Event);

/// <summary>
/// Events after a position, and the writers that were still in flight when they were read: a gap in the positions
/// may be one of those writers' uncommitted events (PostgreSQL allocates positions before commit), or a rolled-back
/// one once they have all finished.
/// </summary>
public sealed record EventTail(IReadOnlyList<LoggedEvent> Events, IReadOnlySet<ulong> InFlight);

/// <summary>
/// The workflow event log read in position order, for live event streams: one reader per server tails it, and
/// subscribers that resume replay from it.
/// </summary>
public interface IEventLog
{
    /// <summary>The highest position, and the writers in flight when it was read.</summary>
    Task<(long Head, IReadOnlySet<ulong> InFlight)> HeadAsync(CancellationToken cancellationToken);

    /// <summary>Whether any of <paramref name="writers"/> is still in flight.</summary>
    Task<bool> AnyInFlightAsync(IReadOnlySet<ulong> writers, CancellationToken cancellationToken);

    Task<EventTail> ReadAfterAsync(long afterSeq, int limit, CancellationToken cancellationToken);

    /// <returns>The position of the event with id <paramref name="eventId"/>, or null when there is none.</returns>
    Task<long?> SeqOfAsync(string eventId, CancellationToken cancellationToken);

    /// <summary>Events with a position in (<paramref name="afterSeq"/>, <paramref name="upToSeq"/>], filtered, oldest first.</summary>
    Task<IReadOnlyList<LoggedEvent>> ReplayAsync(long afterSeq, long upToSeq, IReadOnlySet<string>? workflowIds, IReadOnlySet<string>? eventTypes,
        int limit, CancellationToken cancellationToken);
}
