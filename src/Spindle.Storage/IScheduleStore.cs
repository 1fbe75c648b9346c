using Spindle.Core.Schedules;

namespace Spindle.Storage;

/// <summary>
/// Recurring submissions (schedules). Each occurrence is submitted through the normal submit path in the same
/// transaction that advances the schedule, with the idempotency key <c>schedule:&lt;name&gt;:&lt;epoch seconds&gt;</c>,
/// so a crash between the two cannot double-fire or lose an occurrence. Servers sharing a database claim due
/// schedules with <c>SKIP LOCKED</c>, so each occurrence fires once.
/// </summary>
public interface IScheduleStore
{
    /// <returns>Conflict when the name is taken, NotFound when the definition (or the version) does not exist.</returns>
    Task<ScheduleWriteOutcome> CreateScheduleAsync(ScheduleSpec spec, string? createdBy, CancellationToken cancellationToken);

    Task<StoredSchedule?> GetScheduleAsync(string id, CancellationToken cancellationToken);

    /// <summary>Every schedule, ordered by name.</summary>
    Task<IReadOnlyList<StoredSchedule>> ListSchedulesAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Replaces the schedule's fields (its name stays). A changed cadence or re-enabling recomputes the next run from
    /// now. <paramref name="pauseNote"/> is kept while the schedule is disabled and cleared when it is enabled.
    /// </summary>
    Task<ScheduleWriteOutcome> UpdateScheduleAsync(string id, ScheduleSpec spec, string? pauseNote, CancellationToken cancellationToken);

    Task<bool> DeleteScheduleAsync(string id, CancellationToken cancellationToken);

    /// <summary>The schedule's latest occurrences (submitted, skipped, buffered…), newest first.</summary>
    Task<IReadOnlyList<ScheduleRun>> GetScheduleRunsAsync(string id, int limit, CancellationToken cancellationToken);

    /// <summary>Fires every occurrence due at the engine clock's now; answers when the next one is due.</summary>
    Task<ScheduleFireOutcome> FireDueSchedulesAsync(CancellationToken cancellationToken);

    /// <summary>Submits an occurrence now; with <paramref name="ignoreOverlap"/> as if the policy were <c>allow</c>.</summary>
    Task<ScheduleTriggerOutcome> TriggerScheduleAsync(string id, bool ignoreOverlap, CancellationToken cancellationToken);

    /// <summary>Submits the occurrences in [<paramref name="from"/>, <paramref name="to"/>), oldest first, regardless of overlap.</summary>
    Task<ScheduleBackfillOutcome> BackfillScheduleAsync(string id, long from, long to, int max, CancellationToken cancellationToken);

    /// <summary>
    /// Makes the schedules a definition declares (its YAML <c>schedules:</c>) exist as given; those it declared before
    /// and no longer does are disabled. A name held by a schedule that is not the definition's own is a conflict.
    /// </summary>
    Task<ScheduleSyncOutcome> SyncDeclaredSchedulesAsync(string definitionName, IReadOnlyList<ScheduleSpec> specs,
        CancellationToken cancellationToken);
}

/// <summary>Told after commit that schedules changed, so that this process's scheduler re-plans its sleep.</summary>
public interface IScheduleNotifier
{
    void SchedulesChanged();
}

/// <summary>A schedule with its state. Times are engine microseconds.</summary>
/// <param name="AnchorAt">The interval phase (the creation time).</param>
/// <param name="NextRunAt">The next occurrence, or null when disabled or finished (end_at reached, no runs left).</param>
/// <param name="DueAt">When that occurrence fires: <paramref name="NextRunAt"/> plus its jitter.</param>
/// <param name="BufferedAt">An occurrence waiting for the running workflow to end (overlap_policy buffer_one).</param>
/// <param name="DeclaredBy">The definition whose YAML declares this schedule, if any.</param>
public sealed record StoredSchedule(
    string Id, ScheduleSpec Spec, long AnchorAt, long? NextRunAt, long? DueAt, long? LastRunAt, string? LastWorkflowId,
    long? BufferedAt, int RunCount, int SkippedCount, string? PauseNote, string? DeclaredBy, string? CreatedBy, long CreatedAt,
    long UpdatedAt);

public static class ScheduleRunOutcomes
{
    public const string Submitted = "submitted";
    public const string Skipped = "skipped";
    public const string Buffered = "buffered";

    /// <summary>The occurrence's key was already held by a live workflow (it had been submitted before).</summary>
    public const string Duplicate = "duplicate";

    /// <summary>The submit was refused (the definition was deleted, say); the schedule moves on.</summary>
    public const string Failed = "failed";
}

public sealed record ScheduleRun(long OccurrenceAt, string Outcome, string? WorkflowId, string? Message, long CreatedAt);

public sealed record ScheduleWriteOutcome(StoreStatus Status, string? Message, StoredSchedule? Schedule);

/// <param name="NextDueAt">The earliest due time over all enabled schedules, or null when none is due ever.</param>
/// <param name="WaitsForFinish">Some occurrence is buffered behind a running workflow: its end should wake the scheduler.</param>
public sealed record ScheduleFireOutcome(int Submitted, int Skipped, long? NextDueAt, bool WaitsForFinish);

public sealed record ScheduleTriggerOutcome(StoreStatus Status, string Outcome, string? WorkflowId, string? Message);

public sealed record ScheduleBackfillOutcome(StoreStatus Status, IReadOnlyList<ScheduleRun> Runs);

public sealed record ScheduleSyncOutcome(StoreStatus Status, string? Message, IReadOnlyList<string> Created, IReadOnlyList<string> Updated,
    IReadOnlyList<string> Disabled);
