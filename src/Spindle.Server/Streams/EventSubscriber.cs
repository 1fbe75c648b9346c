using System.Threading.Channels;
using Spindle.Storage;

namespace Spindle.Server.Streams;

/// <summary>
/// One event-stream connection's filter and bounded buffer. The feed never waits for a subscriber: when the buffer
/// is full the subscriber is marked slow and its buffer closed, and the connection ends with the slow-client code.
/// </summary>
public sealed class EventSubscriber : IDisposable
{
    /// <summary>Live events buffered per connection before it counts as slow.</summary>
    public const int BufferSize = 1000;

    /// <summary>
    /// How long a connection that overflowed has to take its error frame and close before it is cut: a client that
    /// stopped reading altogether would otherwise hold the connection (and what is queued for it) until TCP gives up.
    /// </summary>
    public static readonly TimeSpan SlowGrace = TimeSpan.FromSeconds(5);

    private readonly CancellationTokenSource _cut = new();

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

    /// <summary>Cancelled <see cref="SlowGrace"/> after an overflow: sends to the client stop waiting then.</summary>
    public CancellationToken Cut => _cut.Token;

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
            CutAfterGrace(_cut);
        }
    }

    public void Dispose() => _cut.Dispose();

    internal static void CutAfterGrace(CancellationTokenSource cut)
    {
        try
        {
            cut.CancelAfter(SlowGrace);
        }
        catch (ObjectDisposedException)
        {
            // The connection has already ended.
        }
    }

    /// <summary>Ends the buffer (server shutdown): the reader drains what is there and stops.</summary>
    internal void End() => _buffer.Writer.TryComplete();
}
