using Spindle.Core.Common;
using Spindle.Core.Orchestration;
using Spindle.Core.Schedules;
using Spindle.Storage.Schedules;

namespace Spindle.Storage;

/// <summary>
/// Schedules, shared by both backends: each firing locks the schedule row, decides (catch-up, overlap, remaining
/// runs), and submits the occurrence through the normal submit path in the same transaction that advances the row,
/// so that the two commit together or not at all.
/// </summary>
public abstract partial class TransactionalWorkflowStore : IScheduleStore
{
    /// <summary>Firings per pass; a pass that reaches it is followed at once by another.</summary>
    private const int MaxFiringsPerPass = 500;

    private static readonly long MicrosPerSecond = Timestamps.FromSeconds(1);

    /// <summary>The schedule rows of a write transaction of this backend.</summary>
    private protected abstract IScheduleRows ScheduleRows(IWriteTransaction tx);

    public Task<ScheduleWriteOutcome> CreateScheduleAsync(ScheduleSpec spec, string? createdBy, CancellationToken cancellationToken) =>
        AnnouncedAsync(async (tx, ct) =>
        {
            if (await tx.ReadDefinitionAsync(spec.DefinitionName, spec.DefinitionVersion, ct) is null)
            {
                return new ScheduleWriteOutcome(StoreStatus.NotFound, DefinitionMissing(spec), null);
            }
            var now = Now();
            var schedule = Planned(new StoredSchedule(Ids.New(), spec, now, null, null, null, null, null, 0, 0, null, null, createdBy, now, now),
                now);
            var rows = ScheduleRows(tx);
            if (!await rows.InsertAsync(schedule, ct))
            {
                return new ScheduleWriteOutcome(StoreStatus.Conflict, $"A schedule named '{spec.Name}' already exists", null);
            }
            await rows.AnnounceChangeAsync(ct);
            return new ScheduleWriteOutcome(StoreStatus.Ok, null, schedule);
        }, cancellationToken);

    public Task<StoredSchedule?> GetScheduleAsync(string id, CancellationToken cancellationToken) =>
        WriteAsync((tx, ct) => ScheduleRows(tx).GetAsync(id, forUpdate: false, ct), cancellationToken);

    public Task<IReadOnlyList<StoredSchedule>> ListSchedulesAsync(CancellationToken cancellationToken) =>
        WriteAsync((tx, ct) => ScheduleRows(tx).ListAsync(null, ct), cancellationToken);

    public Task<IReadOnlyList<ScheduleRun>> GetScheduleRunsAsync(string id, int limit, CancellationToken cancellationToken) =>
        WriteAsync((tx, ct) => ScheduleRows(tx).RunsAsync(id, limit, ct), cancellationToken);

    public Task<ScheduleWriteOutcome> UpdateScheduleAsync(string id, ScheduleSpec spec, string? pauseNote, CancellationToken cancellationToken) =>
        AnnouncedAsync(async (tx, ct) =>
        {
            var rows = ScheduleRows(tx);
            var current = await rows.GetAsync(id, forUpdate: true, ct);
            if (current is null)
            {
                return new ScheduleWriteOutcome(StoreStatus.NotFound, $"Schedule {id} not found", null);
            }
            if ((spec.DefinitionName != current.Spec.DefinitionName || spec.DefinitionVersion != current.Spec.DefinitionVersion)
                && await tx.ReadDefinitionAsync(spec.DefinitionName, spec.DefinitionVersion, ct) is null)
            {
                return new ScheduleWriteOutcome(StoreStatus.NotFound, DefinitionMissing(spec), null);
            }
            var updated = Changed(current, spec with { Name = current.Spec.Name }, pauseNote, Now());
            await rows.UpdateAsync(updated, ct);
            await rows.AnnounceChangeAsync(ct);
            return new ScheduleWriteOutcome(StoreStatus.Ok, null, updated);
        }, cancellationToken);

    public Task<bool> DeleteScheduleAsync(string id, CancellationToken cancellationToken) =>
        AnnouncedAsync(async (tx, ct) =>
        {
            var rows = ScheduleRows(tx);
            var deleted = await rows.DeleteAsync(id, ct);
            if (deleted)
            {
                await rows.AnnounceChangeAsync(ct);
            }
            return deleted;
        }, cancellationToken);

    public Task<ScheduleSyncOutcome> SyncDeclaredSchedulesAsync(string definitionName, IReadOnlyList<ScheduleSpec> specs,
        CancellationToken cancellationToken) =>
        AnnouncedAsync(async (tx, ct) =>
        {
            var rows = ScheduleRows(tx);
            var now = Now();
            var found = new List<(ScheduleSpec Spec, StoredSchedule? Current)>();
            foreach (var spec in specs)
            {
                var current = await rows.LockByNameAsync(spec.Name, ct);
                if (current is not null && current.DeclaredBy != definitionName)
                {
                    // Checked before anything is written: a refused deploy changes no schedule.
                    return new ScheduleSyncOutcome(StoreStatus.Conflict,
                        $"A schedule named '{spec.Name}' already exists and is not declared by definition '{definitionName}'", [], [], []);
                }
                found.Add((spec, current));
            }
            List<string> created = [], updated = [], disabled = [];
            foreach (var (spec, current) in found)
            {
                if (current is null)
                {
                    var schedule = Planned(new StoredSchedule(Ids.New(), spec, now, null, null, null, null, null, 0, 0, null, definitionName,
                        $"definition:{definitionName}", now, now), now);
                    await rows.InsertAsync(schedule, ct);
                    created.Add(spec.Name);
                }
                else if (current.Spec.ToJson().ToJsonString() != spec.ToJson().ToJsonString())
                {
                    await rows.UpdateAsync(Changed(current, spec, null, now), ct);
                    updated.Add(spec.Name);
                }
            }
            var declared = specs.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var gone in await rows.ListAsync(definitionName, ct))
            {
                if (!declared.Contains(gone.Spec.Name) && gone.Spec.Enabled)
                {
                    await rows.UpdateAsync(Changed(gone, gone.Spec with { Enabled = false },
                        $"Removed from the schedules of definition '{definitionName}'", now), ct);
                    disabled.Add(gone.Spec.Name);
                }
            }
            if (created.Count + updated.Count + disabled.Count > 0)
            {
                await rows.AnnounceChangeAsync(ct);
            }
            return new ScheduleSyncOutcome(StoreStatus.Ok, null, created, updated, disabled);
        }, cancellationToken);

    /// <summary>A schedule write; after it commits, this process's scheduler is told to re-plan.</summary>
    private async Task<T> AnnouncedAsync<T>(Func<IWriteTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        var result = await WriteAsync(work, cancellationToken);
        (Notifier as IScheduleNotifier)?.SchedulesChanged();
        return result;
    }

    // ---- firing -----------------------------------------------------------------------------------------------

    public async Task<ScheduleFireOutcome> FireDueSchedulesAsync(CancellationToken cancellationToken)
    {
        int submitted = 0, skipped = 0;
        for (var i = 0; i < MaxFiringsPerPass; i++)
        {
            FireStep step;
            try
            {
                step = await WriteAsync(FireOneAsync, cancellationToken);
            }
            catch (UniqueKeyConflictException)
            {
                continue; // the occurrence's key was taken between the check and the insert; the next try records it
            }
            if (step.Kind == StepKind.Idle)
            {
                break;
            }
            if (step.CancelWorkflowId is { } blocking)
            {
                // cancel_other: the cancel is its own transaction (it decides about another workflow); the occurrence
                // stays due until the next step submits it, so a crash in between loses nothing.
                await CancelAsync(blocking, step.Message, cancellationToken);
                continue;
            }
            Committed(step);
            submitted += step.Kind == StepKind.Submitted ? 1 : 0;
            skipped += step.Kind == StepKind.Skipped ? 1 : 0;
        }
        var (next, buffered) = await WriteAsync((tx, ct) => ScheduleRows(tx).PlanAsync(ct), cancellationToken);
        return new ScheduleFireOutcome(submitted, skipped, next, buffered);
    }

    private async Task<FireStep> FireOneAsync(IWriteTransaction tx, CancellationToken ct)
    {
        var rows = ScheduleRows(tx);
        var now = Now();
        var s = await rows.LockDueAsync(now, ct);
        if (s is null)
        {
            return FireStep.Idle;
        }
        var running = await RunningAsync(rows, s, ct);
        if (s.BufferedAt is { } buffered && !running)
        {
            return await SubmitOccurrenceAsync(tx, rows, s with { BufferedAt = null }, buffered, now, ct);
        }
        if (s.NextRunAt is not { } occurrence || s.DueAt > now)
        {
            return FireStep.Idle; // buffered behind a run that is still going (a race with its end): its end wakes us again
        }
        var spec = s.Spec;
        long? next;
        if (spec.CatchupWindowSeconds is { } window)
        {
            var oldest = now - window * MicrosPerSecond;
            if (occurrence < oldest)
            {
                // Missed beyond the window: move on to the first occurrence inside it, which the next step fires.
                var first = ScheduleCadence.Next(spec, s.AnchorAt, oldest - 1);
                await rows.UpdateAsync(WithNext(s, first, now), ct);
                return FireStep.Advanced;
            }
            next = ScheduleCadence.Next(spec, s.AnchorAt, occurrence);
        }
        else
        {
            // As the reference: after downtime, at most one catch-up run, then the next future occurrence.
            next = ScheduleCadence.Next(spec, s.AnchorAt, Math.Max(occurrence, now));
        }
        var advanced = WithNext(s, next, now);
        if (running)
        {
            switch (spec.OverlapPolicy)
            {
                case OverlapPolicies.CancelOther:
                    return FireStep.Cancel(s.LastWorkflowId!,
                        $"Cancelled by schedule '{spec.Name}': its next occurrence is due (overlap_policy cancel_other)");
                case OverlapPolicies.BufferOne when advanced.BufferedAt is null:
                    await rows.UpdateAsync(advanced with { BufferedAt = occurrence }, ct);
                    await rows.AddRunAsync(s.Id, new ScheduleRun(occurrence, ScheduleRunOutcomes.Buffered, null,
                        $"Waiting for workflow {s.LastWorkflowId} to finish", now), ct);
                    return FireStep.Advanced;
                case OverlapPolicies.Skip or OverlapPolicies.BufferOne:
                    await rows.UpdateAsync(advanced with { SkippedCount = advanced.SkippedCount + 1 }, ct);
                    await rows.AddRunAsync(s.Id, new ScheduleRun(occurrence, ScheduleRunOutcomes.Skipped, null,
                        $"Workflow {s.LastWorkflowId} was still running", now), ct);
                    return FireStep.Skipped;
            }
        }
        return await SubmitOccurrenceAsync(tx, rows, advanced, occurrence, now, ct);
    }

    public async Task<ScheduleTriggerOutcome> TriggerScheduleAsync(string id, bool ignoreOverlap, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var step = await WriteAsync(async (tx, ct) =>
            {
                var rows = ScheduleRows(tx);
                var s = await rows.GetAsync(id, forUpdate: true, ct);
                if (s is null)
                {
                    return FireStep.NotFound;
                }
                var now = Now();
                var occurrence = now;
                if (!ignoreOverlap && await RunningAsync(rows, s, ct))
                {
                    switch (s.Spec.OverlapPolicy)
                    {
                        case OverlapPolicies.CancelOther when attempt == 0:
                            return FireStep.Cancel(s.LastWorkflowId!, $"Cancelled by a trigger of schedule '{s.Spec.Name}' (overlap_policy cancel_other)");
                        case OverlapPolicies.BufferOne when s.BufferedAt is null:
                            await rows.UpdateAsync(s with { BufferedAt = occurrence, UpdatedAt = now }, ct);
                            await rows.AddRunAsync(s.Id, new ScheduleRun(occurrence, ScheduleRunOutcomes.Buffered, null,
                                $"Triggered; waiting for workflow {s.LastWorkflowId} to finish", now), ct);
                            return FireStep.Advanced;
                        case OverlapPolicies.Skip or OverlapPolicies.BufferOne:
                            await rows.UpdateAsync(s with { SkippedCount = s.SkippedCount + 1, UpdatedAt = now }, ct);
                            await rows.AddRunAsync(s.Id, new ScheduleRun(occurrence, ScheduleRunOutcomes.Skipped, null,
                                $"Triggered while workflow {s.LastWorkflowId} was still running", now), ct);
                            return FireStep.Skipped with { Message = $"Workflow {s.LastWorkflowId} is still running (overlap_policy {s.Spec.OverlapPolicy})" };
                    }
                }
                // Its own key space: a trigger in the same second as a scheduled occurrence must not take that one's key.
                return await SubmitOccurrenceAsync(tx, rows, s, occurrence, now, ct, key: ScheduleCadence.TriggerKey(s.Spec.Name, now));
            }, cancellationToken);
            if (step.CancelWorkflowId is { } blocking)
            {
                await CancelAsync(blocking, step.Message, cancellationToken);
                continue;
            }
            Committed(step);
            return step.Kind switch
            {
                StepKind.NotFound => new ScheduleTriggerOutcome(StoreStatus.NotFound, "not_found", null, $"Schedule {id} not found"),
                StepKind.Submitted => new ScheduleTriggerOutcome(StoreStatus.Ok, ScheduleRunOutcomes.Submitted, step.WorkflowId, null),
                StepKind.Skipped => new ScheduleTriggerOutcome(StoreStatus.Ok, ScheduleRunOutcomes.Skipped, null, step.Message),
                StepKind.Advanced => new ScheduleTriggerOutcome(StoreStatus.Ok, ScheduleRunOutcomes.Buffered, null, null),
                _ => new ScheduleTriggerOutcome(StoreStatus.Conflict, step.Outcome ?? ScheduleRunOutcomes.Failed, null, step.Message),
            };
        }
    }

    public async Task<ScheduleBackfillOutcome> BackfillScheduleAsync(string id, long from, long to, int max, CancellationToken cancellationToken)
    {
        var schedule = await GetScheduleAsync(id, cancellationToken);
        if (schedule is null)
        {
            return new ScheduleBackfillOutcome(StoreStatus.NotFound, []);
        }
        var runs = new List<ScheduleRun>();
        foreach (var occurrence in ScheduleCadence.Between(schedule.Spec, schedule.AnchorAt, from, to, max))
        {
            FireStep step;
            try
            {
                step = await WriteAsync(async (tx, ct) =>
                {
                    var rows = ScheduleRows(tx);
                    return await rows.GetAsync(id, forUpdate: true, ct) is { } s
                        ? await SubmitOccurrenceAsync(tx, rows, s, occurrence, Now(), ct, backfill: true)
                        : FireStep.NotFound;
                }, cancellationToken);
            }
            catch (UniqueKeyConflictException)
            {
                step = FireStep.Refused(ScheduleRunOutcomes.Duplicate, "The occurrence's key is already held");
            }
            if (step.Kind == StepKind.NotFound)
            {
                break;
            }
            Committed(step);
            runs.Add(new ScheduleRun(occurrence, step.Outcome ?? ScheduleRunOutcomes.Submitted, step.WorkflowId, step.Message, Now()));
        }
        return new ScheduleBackfillOutcome(StoreStatus.Ok, runs);
    }

    /// <summary>
    /// Submits one occurrence with the key <c>schedule:&lt;name&gt;:&lt;epoch&gt;</c>, writing <paramref name="after"/>
    /// (the schedule as it is once this occurrence is dealt with) in the same transaction. A refused submit (a held
    /// key, a deleted definition) still advances the schedule and is recorded.
    /// </summary>
    private async Task<FireStep> SubmitOccurrenceAsync(IWriteTransaction tx, IScheduleRows rows, StoredSchedule after, long occurrence,
        long now, CancellationToken ct, bool backfill = false, string? key = null)
    {
        var spec = after.Spec;
        var command = new SubmitCommand(spec.DefinitionName, spec.DefinitionVersion, spec.Input.DeepClone().AsObject(),
            key ?? ScheduleCadence.UniqueKey(spec.Name, occurrence), ScheduleId: after.Id, ScheduledAt: occurrence);
        var (outcome, machine, started) = await SubmitInTransactionAsync(tx, command, async (wf, c) =>
        {
            // On PostgreSQL the submit's persist commits: the schedule's writes go first.
            if (!backfill)
            {
                await rows.UpdateAsync(Counted(after, wf.Id, now), c);
            }
            await rows.AddRunAsync(after.Id, new ScheduleRun(occurrence, ScheduleRunOutcomes.Submitted, wf.Id, backfill ? "backfill" : null, now), c);
        }, ct);
        if (outcome.Status == StoreStatus.Ok)
        {
            return new FireStep(StepKind.Submitted, null, null, outcome.Workflow!.Id, machine) { Others = started };
        }
        var kind = outcome.Status == StoreStatus.Conflict ? ScheduleRunOutcomes.Duplicate : ScheduleRunOutcomes.Failed;
        if (!backfill)
        {
            await rows.UpdateAsync(after with { UpdatedAt = now }, ct);
        }
        await rows.AddRunAsync(after.Id, new ScheduleRun(occurrence, kind, null, outcome.Message, now), ct);
        return FireStep.Refused(kind, outcome.Message);
    }

    private void Committed(FireStep step)
    {
        if (step.Machine is not null)
        {
            NotifyCommitted(step.WorkflowId!, step.Machine);
        }
        foreach (var other in step.Others)
        {
            NotifyCommitted(other.Workflow.Id, other.Machine);
        }
    }

    private static async Task<bool> RunningAsync(IScheduleRows rows, StoredSchedule s, CancellationToken ct) =>
        s.LastWorkflowId is { } last && await rows.WorkflowStatusAsync(last, ct) is { } status && !WorkflowStatus.IsTerminal(status);

    // ---- state transitions --------------------------------------------------------------------------------------

    /// <summary>The schedule with its next occurrence computed from <paramref name="now"/>.</summary>
    private static StoredSchedule Planned(StoredSchedule s, long now)
    {
        var next = s.Spec.Enabled && s.Spec.RemainingRuns is not 0 ? ScheduleCadence.Next(s.Spec, s.AnchorAt, now) : null;
        return WithNext(s, next, now);
    }

    private static StoredSchedule WithNext(StoredSchedule s, long? next, long now) =>
        s with { NextRunAt = next, DueAt = next is { } n ? ScheduleCadence.DueAt(s.Spec, n) : null, UpdatedAt = now };

    /// <summary>
    /// New fields for a schedule. Re-enabling or a changed cadence recomputes the next run from now (a changed
    /// interval also re-anchors its phase at now); otherwise the planned occurrence stays.
    /// </summary>
    private static StoredSchedule Changed(StoredSchedule current, ScheduleSpec spec, string? pauseNote, long now)
    {
        var anchor = spec.IntervalSeconds != current.Spec.IntervalSeconds ? now : current.AnchorAt;
        var next = current with
        {
            Spec = spec,
            AnchorAt = anchor,
            PauseNote = spec.Enabled ? null : pauseNote ?? current.PauseNote,
            UpdatedAt = now,
        };
        var replan = !spec.SameCadence(current.Spec) || (spec.Enabled && !current.Spec.Enabled)
            || spec.RemainingRuns != current.Spec.RemainingRuns || (spec.Enabled && current.NextRunAt is null);
        return !spec.Enabled ? WithNext(next, null, now) : replan ? Planned(next, now) : next;
    }

    /// <summary>After a submitted occurrence: the last run, the count, and one run fewer left (none left: finished).</summary>
    private static StoredSchedule Counted(StoredSchedule s, string workflowId, long now)
    {
        var counted = s with { LastRunAt = now, LastWorkflowId = workflowId, RunCount = s.RunCount + 1, UpdatedAt = now };
        if (s.Spec.RemainingRuns is { } left)
        {
            counted = counted with { Spec = s.Spec with { RemainingRuns = Math.Max(left - 1, 0) } };
            if (left <= 1)
            {
                counted = WithNext(counted, null, now);
            }
        }
        return counted;
    }

    private static string DefinitionMissing(ScheduleSpec spec) => spec.DefinitionVersion is null
        ? $"Workflow definition '{spec.DefinitionName}' not found"
        : $"Workflow definition '{spec.DefinitionName}' version {spec.DefinitionVersion} not found";

    private enum StepKind
    {
        Idle,
        NotFound,
        Advanced,
        Skipped,
        Submitted,
        Refused,
    }

    /// <summary>What one firing transaction did; a cancel_other overlap asks for a cancel first.</summary>
    private sealed record FireStep(StepKind Kind, string? Outcome, string? Message, string? WorkflowId, WorkflowMachine? Machine,
        string? CancelWorkflowId = null)
    {
        /// <summary>Other workflows the submit wrote: children, and queued runs it started (to be woken too).</summary>
        public IReadOnlyList<Linked> Others { get; init; } = [];

        public static readonly FireStep Idle = new(StepKind.Idle, null, null, null, null);
        public static readonly FireStep NotFound = new(StepKind.NotFound, null, null, null, null);
        public static readonly FireStep Advanced = new(StepKind.Advanced, null, null, null, null);
        public static readonly FireStep Skipped = new(StepKind.Skipped, ScheduleRunOutcomes.Skipped, null, null, null);

        public static FireStep Cancel(string workflowId, string reason) => new(StepKind.Advanced, null, reason, null, null, workflowId);

        public static FireStep Refused(string outcome, string? message) => new(StepKind.Refused, outcome, message, null, null);
    }
}
