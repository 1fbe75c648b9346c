using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;

namespace Spindle.Cli;

/// <summary>The Server-Sent Events routes: a run's live events and an activity's live output (docs/api.md, Streams).</summary>
public sealed partial class SpindleClient
{
    /// <summary>
    /// A run's whole history, then its live events (<c>GET /api/v1/workflows/{id}/events/stream</c>); with
    /// <paramref name="lastEventId"/> only the events after it. The stream does not end by itself.
    /// </summary>
    public IAsyncEnumerable<SseItem<string>> StreamWorkflowEventsAsync(string id, string? lastEventId, CancellationToken cancellationToken) =>
        StreamAsync($"api/v1/workflows/{Escape(id)}/events/stream", lastEventId, cancellationToken);

    /// <summary>
    /// The live output of a run's activity (<c>GET /api/v1/workflows/{id}/activities/{key}/stream</c>): the chunks so
    /// far, then the live ones, until a <c>complete</c> or <c>error</c> frame, after which the server ends it.
    /// </summary>
    public IAsyncEnumerable<SseItem<string>> StreamActivityAsync(string id, string activityKey, CancellationToken cancellationToken) =>
        StreamAsync($"api/v1/workflows/{Escape(id)}/activities/{Escape(activityKey)}/stream", null, cancellationToken);

    /// <summary>
    /// Opens an SSE route and yields its items as they arrive. An error answer becomes <see cref="ApiCallException"/>
    /// (also an answer that is not an event stream: an older server or a proxy page); a dropped connection surfaces as
    /// <see cref="IOException"/> or <see cref="HttpRequestException"/> while reading.
    /// </summary>
    private async IAsyncEnumerable<SseItem<string>> StreamAsync(string path, string? lastEventId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null)
        {
            request.Headers.TryAddWithoutValidation("Last-Event-ID", lastEventId);
        }
        if (_credentials is not null)
        {
            _token ??= await FetchTokenAsync(_credentials, cancellationToken);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        }

        HttpResponseMessage response;
        try
        {
            // Only the headers are awaited under the client's timeout; the body is read as long as it flows.
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            throw new ServerUnreachableException(BaseUrl, ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ServerUnreachableException(BaseUrl, ex, timedOut: true);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                var text = await response.Content.ReadAsStringAsync(cancellationToken);
                throw ApiCallException.FromResponse((int)response.StatusCode, TryParse(text), text);
            }
            if (response.Content.Headers.ContentType?.MediaType != "text/event-stream")
            {
                throw new ApiCallException((int)response.StatusCode, "BAD_RESPONSE", $"{BaseUrl} answered {path} with something that is not an event stream");
            }
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            await foreach (var item in SseParser.Create(body).EnumerateAsync(cancellationToken))
            {
                yield return item;
            }
        }
    }
}
