using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Spindle.Worker.Std.Ai;
using Spindle.Worker.Tests.Support;

namespace Spindle.Worker.Tests.Ai;

/// <summary>One request as the fake provider received it.</summary>
internal sealed record RecordedRequest(string Method, string Path, string Query, IReadOnlyDictionary<string, string> Headers, JsonNode? Body)
{
    public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out string? value) ? value : null;
}

/// <summary>
/// A scripted answer: status, JSON body, extra headers, and an optional delay before answering. A streamed answer
/// has <see cref="Parts"/> instead, written and flushed one at a time (<see cref="BeforePart"/>, when set, is awaited
/// before each part, so a test can hold the stream), and with <see cref="AbortAfterParts"/> the connection is then
/// cut instead of ended (after <see cref="BeforeEnd"/>, so that the client has read the parts before the cut).
/// </summary>
internal sealed record ScriptedAnswer(int Status, string Body, IReadOnlyDictionary<string, string>? Headers = null, TimeSpan? Delay = null)
{
    public IReadOnlyList<string>? Parts { get; init; }

    public string ContentType { get; init; } = "application/json";

    public Func<int, Task>? BeforePart { get; init; }

    public bool AbortAfterParts { get; init; }

    public Func<Task>? BeforeEnd { get; init; }
}

/// <summary>
/// A local HTTP server that speaks whatever provider path it is asked on (streamed or not): it records every request
/// and answers from a per-path script, falling back to a fixed answer per path, or 404.
/// </summary>
internal sealed class FakeProviderServer : IAsyncDisposable
{
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentDictionary<string, ConcurrentQueue<ScriptedAnswer>> _scripts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ScriptedAnswer> _defaults = new(StringComparer.Ordinal);
    private LoopbackServer? _server;

    public Uri BaseAddress => _server!.BaseAddress;

    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    public static async Task<FakeProviderServer> StartAsync()
    {
        var fake = new FakeProviderServer();
        fake._server = await LoopbackServer.StartAsync(app => app.Run(fake.HandleAsync));
        return fake;
    }

    /// <summary>Answers requests to <paramref name="path"/> with these answers in order, then with the default.</summary>
    public FakeProviderServer Script(string path, params ScriptedAnswer[] answers)
    {
        ConcurrentQueue<ScriptedAnswer> queue = _scripts.GetOrAdd(path, _ => new ConcurrentQueue<ScriptedAnswer>());
        foreach (ScriptedAnswer answer in answers)
        {
            queue.Enqueue(answer);
        }

        return this;
    }

    public FakeProviderServer Default(string path, ScriptedAnswer answer)
    {
        _defaults[path] = answer;
        return this;
    }

    /// <summary>Settings whose four providers all point at this server, with keys set and a tiny retry backoff.</summary>
    public AiSettings Settings()
    {
        var settings = new AiSettings
        {
            RetryBackoff = new Backoff(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(5)),
        };
        foreach (string provider in AiSettings.SupportedProviders)
        {
            settings.SetBaseUrl(provider, BaseAddress);
        }

        settings.SetApiKey(AiSettings.OpenAi, "sk-openai-test");
        settings.SetApiKey(AiSettings.Anthropic, "sk-ant-test");
        settings.SetApiKey(AiSettings.Google, "google-test-key");
        return settings;
    }

    public ValueTask DisposeAsync() => _server?.DisposeAsync() ?? ValueTask.CompletedTask;

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        string text = await reader.ReadToEndAsync();
        JsonNode? body = text.Length == 0 ? null : JsonNode.Parse(text);
        var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString(), StringComparer.Ordinal);
        string path = context.Request.Path.Value ?? "";
        _requests.Enqueue(new RecordedRequest(context.Request.Method, path, context.Request.QueryString.Value ?? "", headers, body));

        ScriptedAnswer? answer = _scripts.TryGetValue(path, out ConcurrentQueue<ScriptedAnswer>? queue) && queue.TryDequeue(out ScriptedAnswer? next)
            ? next
            : _defaults.GetValueOrDefault(path);
        if (answer is null)
        {
            context.Response.StatusCode = 404;
            await context.Response.WriteAsync("""{"error":{"message":"no such path"}}""");
            return;
        }

        if (answer.Delay is { } delay)
        {
            await Task.Delay(delay, context.RequestAborted);
        }

        context.Response.StatusCode = answer.Status;
        context.Response.ContentType = answer.ContentType;
        foreach ((string name, string value) in answer.Headers ?? new Dictionary<string, string>())
        {
            context.Response.Headers[name] = value;
        }

        if (answer.Parts is null)
        {
            await context.Response.WriteAsync(answer.Body);
            return;
        }

        for (int i = 0; i < answer.Parts.Count; i++)
        {
            if (answer.BeforePart is { } gate)
            {
                await gate(i);
            }

            await context.Response.WriteAsync(answer.Parts[i]);
            await context.Response.Body.FlushAsync();
        }

        if (answer.BeforeEnd is { } end)
        {
            await end();
        }

        if (answer.AbortAfterParts)
        {
            context.Abort();
        }
    }
}
