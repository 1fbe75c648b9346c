using Microsoft.Extensions.Logging;

namespace Spindle.Worker.Std.Ai;

/// <summary>
/// Publishes the pieces of a streamed answer to the activity's live stream, in order. Best effort: when a publish
/// fails (the server is unreachable, or the stream has already ended) publishing stops for this execution, since a
/// gap would garble the text subscribers assemble, and the answer is still recorded as the activity's result.
/// </summary>
internal sealed class LiveAnswer(ActivityContext context, ILogger logger, CancellationToken cancellationToken)
{
    /// <summary>The server's limit on one chunk (64 KiB characters); a longer piece goes out in parts.</summary>
    private const int MaxChunkChars = 64 * 1024;

    // A context outside a worker (a direct call) has no stream to publish to.
    private bool _stopped = context.Publisher is null;

    /// <summary>Characters of answer text received so far, published or not.</summary>
    public long Characters { get; private set; }

    public async Task PublishAsync(string text)
    {
        Characters += text.Length;
        if (_stopped)
        {
            return;
        }

        try
        {
            for (int start = 0; start < text.Length;)
            {
                int length = Math.Min(MaxChunkChars, text.Length - start);
                if (start + length < text.Length && char.IsHighSurrogate(text[start + length - 1]))
                {
                    length--; // never split a surrogate pair
                }

                await context.StreamAsync(text.Substring(start, length), cancellationToken).ConfigureAwait(false);
                start += length;
            }
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            _stopped = true;
            logger.StreamPublishFailed(context.ActivityId, ex.Message);
        }
    }
}
