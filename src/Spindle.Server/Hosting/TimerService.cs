namespace Spindle.Server.Hosting;

/// <summary>Hosts <see cref="TimerLoop"/>.</summary>
public sealed class TimerService(TimerLoop loop, ServerOptions options) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => loop.RunAsync(options.TimerInterval, stoppingToken);
}
