using Spindle.Server.Wakeups;
using Spindle.Storage;

namespace Spindle.Server.Hosting;

/// <summary>
/// Time-driven work: expired leases, signal timeouts, workflow deadlines, and re-arming wake-ups for delayed
/// activities. Nothing on the submit/claim/complete path waits for this loop.
/// </summary>
public sealed partial class TimerLoop
{
    private readonly IWorkflowStore _store;
    private readonly WakeupHub _hub;
    private readonly ILogger<TimerLoop> _logger;

    public TimerLoop(IWorkflowStore store, WakeupHub hub, ILogger<TimerLoop> logger)
    {
        _store = store;
        _hub = hub;
        _logger = logger;
    }

    public async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        var outcome = await _store.RunTimersAsync(cancellationToken);
        if (outcome.ExpiredLeases + outcome.SignalTimeouts + outcome.Deadlines > 0)
        {
            LogTimersFired(outcome.ExpiredLeases, outcome.SignalTimeouts, outcome.Deadlines);
        }
        foreach (var failure in outcome.Failures)
        {
            // Logged in full once; afterwards the same timer failing again every pass is only a debug line.
            if (failure.FirstReport)
            {
                LogTimerSkipped(failure.Error, failure.Timer, failure.WorkflowId, failure.ActivityKey);
            }
            else
            {
                LogTimerStillFailing(failure.Timer, failure.WorkflowId, failure.ActivityKey, failure.Error.Message);
            }
        }
        foreach (var (routingKey, readyAt) in await _store.GetDelayedAsync(cancellationToken))
        {
            _hub.ActivitiesDelayed(routingKey, readyAt);
        }
    }

    public async Task RunAsync(TimeSpan interval, CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunOnceAsync(stoppingToken);
                await timer.WaitForNextTickAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogTimerError(ex);
                await Task.Delay(interval, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Timers fired: {ExpiredLeases} expired leases, {SignalTimeouts} signal timeouts, {Deadlines} deadlines")]
    private partial void LogTimersFired(int expiredLeases, int signalTimeouts, int deadlines);

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Timer {Timer} of workflow {WorkflowId} (activity {ActivityKey}) failed and was skipped; the other workflows' timers still fire")]
    private partial void LogTimerSkipped(Exception exception, string timer, string workflowId, string? activityKey);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Timer {Timer} of workflow {WorkflowId} (activity {ActivityKey}) still fails: {Error}")]
    private partial void LogTimerStillFailing(string timer, string workflowId, string? activityKey, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Timer pass failed; retrying")]
    private partial void LogTimerError(Exception exception);
}
