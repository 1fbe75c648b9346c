using System.Threading.Channels;

namespace Spindle.Server.Streams;

/// <summary>
/// The frames of one activity's stream (tokens or custom chunks, then <c>complete</c> or <c>error</c>), kept in memory
/// for the activity's lifetime up to a bound so that a late subscriber gets what was produced so far, then the live
/// ones. Subscribers have bounded buffers; a full one marks that subscriber slow instead of slowing the publisher.
/// </summary>
public sealed class ActivityStream(string activityId, Action? subscribersChanged = null)
{
    /// <summary>Frames kept for late subscribers (their total size is bounded too).</summary>
    public const int MaxRetainedFrames = 10_000;

    public const long MaxRetainedBytes = 4 * 1024 * 1024;

    /// <summary>Frames buffered per subscriber before it counts as slow.</summary>
    public const int SubscriberBuffer = 1000;

    /// <summary>Characters of live frames buffered per subscriber before it counts as slow (chunks may be 64 KiB each).</summary>
    public const long SubscriberBufferChars = 4 * 1024 * 1024;

    private readonly Lock _lock = new();
    private readonly List<string> _frames = [];
    private readonly List<Subscriber> _subscribers = [];
    private long _bytes;

    public string ActivityId { get; } = activityId;

    /// <summary>Set by the <c>complete</c> or <c>error</c> frame; nothing is appended after it.</summary>
    public bool Finished { get; private set; }

    /// <summary>When the stream last changed (for expiry), in <see cref="Environment.TickCount64"/> milliseconds.</summary>
    public long TouchedAt { get; private set; } = Environment.TickCount64;

    /// <summary>Whether frames were dropped from the retained history (late subscribers miss some).</summary>
    public bool Truncated { get; private set; }

    public int SubscriberCount
    {
        get
        {
            lock (_lock)
            {
                return _subscribers.Count;
            }
        }
    }

    /// <returns>How many subscribers (on this server) the frame was handed to; -1 when the stream had already finished.</returns>
    public int Append(string frame, bool terminal)
    {
        lock (_lock)
        {
            if (Finished)
            {
                return -1;
            }
            TouchedAt = Environment.TickCount64;
            if ((_frames.Count < MaxRetainedFrames && _bytes + frame.Length <= MaxRetainedBytes) || terminal)
            {
                _frames.Add(frame);
                _bytes += frame.Length;
            }
            else
            {
                Truncated = true;
            }
            foreach (var s in _subscribers)
            {
                s.Offer(frame);
            }
            var count = _subscribers.Count;
            if (terminal)
            {
                Finished = true;
                foreach (var s in _subscribers)
                {
                    s.End();
                }
            }
            return count;
        }
    }

    /// <summary>A subscriber whose buffer already holds the frames so far (as many as fit).</summary>
    public Subscriber Subscribe()
    {
        Subscriber subscriber;
        lock (_lock)
        {
            subscriber = new Subscriber(_frames.Count);
            foreach (var frame in _frames)
            {
                subscriber.Offer(frame);
            }
            if (Finished)
            {
                subscriber.End();
            }
            else
            {
                _subscribers.Add(subscriber);
            }
        }
        subscribersChanged?.Invoke();
        return subscriber;
    }

    public void Unsubscribe(Subscriber subscriber)
    {
        lock (_lock)
        {
            _subscribers.Remove(subscriber);
        }
        subscriber.Dispose();
        subscribersChanged?.Invoke();
    }

    /// <summary>
    /// One connection's buffer: room for the replayed frames plus <see cref="SubscriberBuffer"/> live ones, and at most
    /// <see cref="MaxRetainedBytes"/> + <see cref="SubscriberBufferChars"/> characters queued.
    /// </summary>
    public sealed class Subscriber(int replayed) : IDisposable
    {
        private long _queuedChars;

        private readonly Channel<string> _buffer = Channel.CreateBounded<string>(
            new BoundedChannelOptions(replayed + SubscriberBuffer) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

        private readonly CancellationTokenSource _cut = new();

        public ChannelReader<string> Reader => _buffer.Reader;

        /// <summary>Cancelled <see cref="EventSubscriber.SlowGrace"/> after an overflow: sends stop waiting then.</summary>
        public CancellationToken Cut => _cut.Token;

        public bool Overflowed { get; private set; }

        /// <summary>Takes the next buffered frame (use this, not the reader's TryRead, so the buffer's size is kept).</summary>
        public bool TryTake(out string frame)
        {
            if (!_buffer.Reader.TryRead(out frame!))
            {
                return false;
            }
            Interlocked.Add(ref _queuedChars, -frame.Length);
            return true;
        }

        internal void Offer(string frame)
        {
            if (Overflowed)
            {
                return;
            }
            if (Interlocked.Add(ref _queuedChars, frame.Length) > MaxRetainedBytes + SubscriberBufferChars || !_buffer.Writer.TryWrite(frame))
            {
                Overflowed = true;
                _buffer.Writer.TryComplete();
                EventSubscriber.CutAfterGrace(_cut);
            }
        }

        public void Dispose() => _cut.Dispose();

        internal void End() => _buffer.Writer.TryComplete();
    }
}
