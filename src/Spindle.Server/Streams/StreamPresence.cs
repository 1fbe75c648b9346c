namespace Spindle.Server.Streams;

/// <summary>How many subscribers an activity's stream has: on one server, or across a PostgreSQL cluster.</summary>
public interface IStreamPresence
{
    Task<int> ActivitySubscribersAsync(string activityId, CancellationToken cancellationToken);
}

/// <summary>One server (SQLite): the counts are this server's.</summary>
public sealed class LocalStreamPresence(ActivityStreamHub hub) : IStreamPresence
{
    public Task<int> ActivitySubscribersAsync(string activityId, CancellationToken cancellationToken) =>
        Task.FromResult(hub.SubscriberCount(activityId));
}
