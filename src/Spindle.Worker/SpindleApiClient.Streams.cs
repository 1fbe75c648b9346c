using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Spindle.Protocol;

namespace Spindle.Worker;

/// <summary>Live activity streams: the worker side of <c>POST /api/v1/activities/{id}/ws/token|complete|error</c>.</summary>
public sealed partial class SpindleApiClient
{
    /// <summary>
    /// Posts one frame of an activity's live stream; <paramref name="kind"/> is token, complete or error. The body
    /// names this worker (<c>worker_id</c>): the server takes frames only from the holder of the activity's lease.
    /// </summary>
    /// <returns>The subscriber count the server reports (0 when it reports none).</returns>
    public async Task<int> PublishStreamAsync(string activityId, string kind, JsonObject body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        body["worker_id"] ??= _options.WorkerId;
        JsonObject answer = await SendAsync(HttpMethod.Post, ActivityPath(activityId, "ws/" + kind),
            JsonContent.Create(body, SpindleJsonContext.Default.JsonObject, JsonMediaType), SpindleJsonContext.Default.JsonObject,
            _options.RequestTimeout, authenticated: true, activityId, cancellationToken).ConfigureAwait(false);
        return answer["subscribers"] is JsonValue v && v.TryGetValue(out int count) ? count : 0;
    }
}
