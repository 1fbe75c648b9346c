namespace Spindle.Server.Streams;

public static class StreamServices
{
    /// <summary>The event feed that serves the live event streams (it reads the log only while someone listens).</summary>
    public static IServiceCollection AddStreams(this IServiceCollection services)
    {
        services.AddSingleton<EventFeed>();
        services.AddHostedService(sp => sp.GetRequiredService<EventFeed>());
        return services;
    }
}
