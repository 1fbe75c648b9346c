namespace Spindle.Storage;

/// <summary>An activity execution's status and lease as stored (<c>LeaseUntil</c> in epoch microseconds).</summary>
public sealed record ActivityLease(string Status, string? Owner, long? LeaseUntil);

/// <summary>
/// Reads the lease of one activity execution by its id: who may publish into its live stream. A plain read outside
/// any write transaction.
/// </summary>
public interface IActivityLeases
{
    /// <returns>null when no execution has that id.</returns>
    Task<ActivityLease?> GetLeaseAsync(string activityId, CancellationToken cancellationToken);
}
