namespace Spindle.Server.Scheduling;

/// <summary>Hosts <see cref="Scheduler"/>.</summary>
public sealed class SchedulerService(Scheduler scheduler) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => scheduler.RunAsync(stoppingToken);
}
