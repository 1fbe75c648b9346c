using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Spindle.Cli.Tests;

/// <summary>
/// A pass-through HTTP proxy in front of a real server that records each request line; with
/// <c>withoutEventStreams</c> it answers the event stream routes 404, as a server from before them would.
/// </summary>
public sealed class RecordingProxy : IAsyncDisposable
{
    private static readonly string[] ForwardedHeaders = ["Accept", "Authorization", "Last-Event-ID"];
    private readonly WebApplication _app;
    private readonly HttpClient _upstream;

    private RecordingProxy(WebApplication app, HttpClient upstream)
    {
        _app = app;
        _upstream = upstream;
    }

    public string BaseUrl { get; private set; } = "";

    /// <summary>"METHOD /path?query" of every request, in arrival order.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    public static async Task<RecordingProxy> StartAsync(string upstreamUrl, bool withoutEventStreams)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var proxy = new RecordingProxy(app, new HttpClient { BaseAddress = new Uri(upstreamUrl), Timeout = Timeout.InfiniteTimeSpan });
        app.Run(context => proxy.ForwardAsync(context, withoutEventStreams));
        await app.StartAsync();
        proxy.BaseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
        return proxy;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _upstream.Dispose();
    }

    private async Task ForwardAsync(HttpContext context, bool withoutEventStreams)
    {
        var target = context.Request.Path + context.Request.QueryString;
        Requests.Enqueue($"{context.Request.Method} {target}");
        if (withoutEventStreams && context.Request.Path.Value!.EndsWith("/events/stream", StringComparison.Ordinal))
        {
            context.Response.StatusCode = 404;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"error": {"code": "NOT_FOUND", "message": "No such route"}}""");
            return;
        }

        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), target.ToString().TrimStart('/'));
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        if (body.Length > 0)
        {
            request.Content = new ByteArrayContent(body.ToArray());
            request.Content.Headers.TryAddWithoutValidation("Content-Type", context.Request.ContentType);
        }
        foreach (var name in ForwardedHeaders)
        {
            if (context.Request.Headers.TryGetValue(name, out var value))
            {
                request.Headers.TryAddWithoutValidation(name, value.ToString());
            }
        }
        try
        {
            using var response = await _upstream.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
            context.Response.StatusCode = (int)response.StatusCode;
            if (response.Content.Headers.ContentType is { } contentType)
            {
                context.Response.ContentType = contentType.ToString();
            }
            await using var answer = await response.Content.ReadAsStreamAsync(context.RequestAborted);
            // Each write is sent on at once, so a live stream stays live through the proxy.
            await answer.CopyToAsync(context.Response.Body, context.RequestAborted);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
        {
            // The client went away.
        }
    }
}
