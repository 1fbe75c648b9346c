using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace Spindle.Worker;

public sealed partial class SpindleWorker
{
    /// <summary>
    /// Ends the live stream of an activity whose handler published chunks: <c>complete</c> with the output, or
    /// <c>error</c>. Best effort: the result is reported as usual either way.
    /// </summary>
    private async Task EndStreamAsync(string activityId, JsonObject? output, string? error)
    {
        try
        {
            if (error is null)
            {
                await _api.PublishStreamAsync(activityId, "complete", new JsonObject { ["result"] = output?.DeepClone() }, CancellationToken.None)
                    .ConfigureAwait(false);
            }
            else
            {
                await _api.PublishStreamAsync(activityId, "error", new JsonObject { ["error"] = error }, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or SpindleApiException or TaskCanceledException)
        {
            LogStreamEndFailed(_logger, ex, activityId);
        }
    }

    [LoggerMessage(EventId = 60, Level = LogLevel.Warning, Message = "Activity {ActivityId}: could not end its live stream")]
    private static partial void LogStreamEndFailed(ILogger logger, Exception exception, string activityId);
}
