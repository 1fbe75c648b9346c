namespace Spindle.Storage.Schedules;

/// <summary>
/// The schedule rows of one write transaction, as the shared schedule logic uses them. Locks are held until the
/// transaction ends. On PostgreSQL a submit's persist commits the transaction, so every schedule write of a firing
/// comes before it.
/// </summary>
internal interface IScheduleRows
{
    /// <summary>
    /// One schedule with work to do at <paramref name="now"/>, locked, skipping those another transaction holds: due
    /// (<c>due_at ≤ now</c>), or enabled with a buffered occurrence whose blocking workflow has ended.
    /// </summary>
    Task<StoredSchedule?> LockDueAsync(long now, CancellationToken cancellationToken);

    /// <summary>One schedule; with <paramref name="forUpdate"/> locked until the transaction ends.</summary>
    Task<StoredSchedule?> GetAsync(string id, bool forUpdate, CancellationToken cancellationToken);

    Task<StoredSchedule?> LockByNameAsync(string name, CancellationToken cancellationToken);

    Task<IReadOnlyList<StoredSchedule>> ListAsync(string? declaredBy, CancellationToken cancellationToken);

    /// <returns>false when the name is taken.</returns>
    Task<bool> InsertAsync(StoredSchedule schedule, CancellationToken cancellationToken);

    Task UpdateAsync(StoredSchedule schedule, CancellationToken cancellationToken);

    Task<bool> DeleteAsync(string id, CancellationToken cancellationToken);

    /// <summary>Records an occurrence's outcome, keeping the latest few hundred per schedule.</summary>
    Task AddRunAsync(string scheduleId, ScheduleRun run, CancellationToken cancellationToken);

    Task<IReadOnlyList<ScheduleRun>> RunsAsync(string scheduleId, int limit, CancellationToken cancellationToken);

    Task<string?> WorkflowStatusAsync(string workflowId, CancellationToken cancellationToken);

    /// <summary>The earliest due time of an enabled schedule, and whether any enabled one has a buffered occurrence.</summary>
    Task<(long? NextDueAt, bool AnyBuffered)> PlanAsync(CancellationToken cancellationToken);

    /// <summary>Tells the other servers on the database to re-plan (PostgreSQL NOTIFY, delivered at commit).</summary>
    Task AnnounceChangeAsync(CancellationToken cancellationToken);
}
