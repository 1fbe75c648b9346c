using System.Threading.Channels;
using Spindle.Storage;

namespace Spindle.Server.Streams;

/// <summary>
/// One event-stream connection's filter and bounded buffer. The feed never waits for a subscriber: when the buffer
/// is full the subscriber is marked slow and its buffer closed, and the connection ends with the slow-client code.
/// </summary>
public sealed class EventSubscriber
{
    /// <summary>Live events buffered per connection before it counts as slow.</summary>
    public const int BufferSize = 1000;

    private readonly Channel<LoggedEvent> _buffer = Channel.CreateBounded<LoggedEvent>(
        new BoundedChannelOptions(BufferSize) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });

    public EventSubscriber(IReadOnlySet<string>? workflowIds, IReadOnlySet<string>? eventTypes)
    {
        WorkflowIds = workflowIds;
        EventTypes = eventTypes;
    }

    public IReadOnlySet<string>? WorkflowIds { get; }

    public IReadOnlySet<string>? EventTypes { get; }

    /// <summary>Set when the buffer overflowed; the reader then sees the end of the buffer.</summary>
    public bool Overflowed { get; private set; }

    public ChannelReader<LoggedEvent> Reader => _buffer.Reader;

    public bool Matches(StoredEvent e) =>
        (WorkflowIds is not { Count: > 0 } || WorkflowIds.Contains(e.WorkflowId)) &&
        (EventTypes is not { Count: > 0 } || EventTypes.Contains(e.EventType));

    public void Offer(LoggedEvent e)
    {
        if (Overflowed || !Matches(e.Event))
        {
            return;
        }
        if (!_buffer.Writer.TryWrite(e))
        {
            Overflowed = true;
            _buffer.Writer.TryComplete();
        }
    }

    /// <summary>Ends the buffer (server shutdown): the reader drains what is there and stops.</summary>
    internal void End() => _buffer.Writer.TryComplete();
}
