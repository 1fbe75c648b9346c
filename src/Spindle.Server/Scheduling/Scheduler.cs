using Spindle.Core.Common;
using Spindle.Server.Wakeups;
using Spindle.Storage;

namespace Spindle.Server.Scheduling;

/// <summary>
/// Fires due schedule occurrences, then sleeps until the next one is due: no polling tick. A schedule created or
/// changed here or on another server (PostgreSQL NOTIFY) wakes it at once to re-plan, and so does a workflow's end
/// while an occurrence is buffered behind it. The sleep is capped as a safety net against a lost wake-up.
/// </summary>
public sealed partial class Scheduler(IScheduleStore store, WakeupHub hub, ServerOptions options, ILogger<Scheduler> logger)
{
    public static readonly TimeSpan MaxSleep = TimeSpan.FromSeconds(60);

    /// <summary>When an occurrence is due but another server holds its row (it is firing it), look again this soon.</summary>
    private static readonly TimeSpan HeldRetry = TimeSpan.FromMilliseconds(100);

    private static readonly TimeSpan ErrorBackoff = TimeSpan.FromSeconds(5);

    private TimeProvider Clock => options.Clock;

    /// <summary>One pass: fires what is due and answers how long to sleep before the next.</summary>
    public async Task<TimeSpan> RunOnceAsync(CancellationToken cancellationToken)
    {
        var outcome = await store.FireDueSchedulesAsync(cancellationToken);
        hub.SchedulesWaitForFinish = outcome.WaitsForFinish;
        if (outcome.Submitted + outcome.Skipped > 0)
        {
            LogFired(outcome.Submitted, outcome.Skipped);
        }
        return SleepFor(outcome.NextDueAt);
    }

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            // Taken before the pass, so that a change committed during the pass still wakes the next sleep.
            var changed = hub.Schedules.Current;
            TimeSpan sleep;
            try
            {
                sleep = await RunOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogPassFailed(ex);
                sleep = ErrorBackoff;
            }
            try
            {
                await Task.WhenAny(changed, Task.Delay(sleep, Clock, stoppingToken));
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private TimeSpan SleepFor(long? nextDueAt)
    {
        if (nextDueAt is not { } due)
        {
            return MaxSleep;
        }
        var wait = Timestamps.FromMicros(due) - Clock.GetUtcNow();
        if (wait <= TimeSpan.Zero)
        {
            return HeldRetry;
        }
        // A millisecond late rather than early: the clock's reading when we wake must have reached the due time.
        wait += TimeSpan.FromMilliseconds(1);
        return wait < MaxSleep ? wait : MaxSleep;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Schedules: {Submitted} occurrence(s) submitted, {Skipped} skipped")]
    private partial void LogFired(int submitted, int skipped);

    [LoggerMessage(Level = LogLevel.Error, Message = "Schedules: a firing pass failed; retrying in 5 s")]
    private partial void LogPassFailed(Exception exception);
}
