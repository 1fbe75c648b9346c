namespace Spindle.Storage;

/// <summary>A worker's long-poll waiting in this process, which a transaction may lease activities to directly.</summary>
public interface IWaitingPoll
{
    /// <summary>The polling worker (the lease owner of what it is handed).</summary>
    string WorkerId { get; }

    /// <summary>The poll's activity-name filter (null: any).</summary>
    IReadOnlyList<string>? ActivityNames { get; }

    /// <summary>
    /// Takes up to <paramref name="wanted"/> of the poll's slots for a hand-over (none unless the poll waits after a
    /// claim that found nothing); the poll then waits for <see cref="EndHandOver"/> before it answers.
    /// </summary>
    int TakeSlots(int wanted);

    /// <summary>
    /// Ends a hand-over that took slots: the poll answers with <paramref name="activities"/> (leased to it by a
    /// committed transaction; empty when the transaction did not commit), and <paramref name="unused"/> slots go back.
    /// </summary>
    void EndHandOver(IReadOnlyList<ClaimedActivity> activities, int unused);
}
