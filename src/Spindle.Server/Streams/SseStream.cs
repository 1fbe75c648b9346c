using System.Net.ServerSentEvents;
using Microsoft.AspNetCore.Http.Features;

namespace Spindle.Server.Streams;

/// <summary>
/// A Server-Sent Events response whose status and headers go out at once, before the first event: a live stream
/// may have nothing to say for a while, and a client (or a proxy) must see the 200 when it connects, not at the
/// first event or ping. Otherwise what <c>TypedResults.ServerSentEvents</c> does.
/// </summary>
public sealed class SseStream(IAsyncEnumerable<SseItem<string>> items, Action? ended = null) : IResult
{
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache,no-store";
        response.Headers.Pragma = "no-cache";
        response.Headers.ContentEncoding = "identity";
        // Proxies must not buffer a stream.
        response.Headers["X-Accel-Buffering"] = "no";
        httpContext.Features.GetRequiredFeature<IHttpResponseBodyFeature>().DisableBuffering();
        try
        {
            await response.StartAsync(httpContext.RequestAborted);
            await response.Body.FlushAsync(httpContext.RequestAborted);
            await SseFormatter.WriteAsync(items, response.Body, httpContext.RequestAborted);
        }
        catch (OperationCanceledException) when (httpContext.RequestAborted.IsCancellationRequested)
        {
            // The client went away.
        }
        finally
        {
            ended?.Invoke();
        }
    }
}
