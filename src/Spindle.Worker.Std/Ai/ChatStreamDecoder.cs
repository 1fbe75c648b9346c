using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;

namespace Spindle.Worker.Std.Ai;

/// <summary>
/// Reads one provider's streaming answer (Server-Sent Events, or newline-delimited JSON for Ollama): yields the text
/// pieces in order as they arrive and keeps what the final <see cref="ChatCompletion"/> needs (the whole text, the
/// usage, why the model stopped). One instance per response. Errors the provider reports inside the stream come out
/// as <see cref="ProviderCallException"/>.
/// </summary>
internal abstract class ChatStreamDecoder(string provider)
{
    private readonly StringBuilder _text = new();

    protected string Provider { get; } = provider;

    /// <summary>True when each line of the body is one JSON object (Ollama) rather than Server-Sent Events.</summary>
    protected virtual bool LineDelimited => false;

    /// <summary>Set once the provider has marked the answer as complete; a stream that ends before is broken off.</summary>
    protected bool Finished { get; set; }

    /// <summary>Set by the event after which nothing more is read (<c>[DONE]</c>, <c>message_stop</c>, <c>done: true</c>).</summary>
    protected bool Ended { get; set; }

    /// <summary>The usage reported so far (providers send it with the first or the last events).</summary>
    public TokenUsage Usage { get; protected set; }

    protected string? FinishReason { get; set; }

    /// <summary>Characters of answer text received so far.</summary>
    public int Characters => _text.Length;

    /// <summary>Reads one event (its SSE type, "message" by default, and data) and returns the answer text it adds, if any.</summary>
    protected abstract string? Read(string eventType, string data);

    public async IAsyncEnumerable<string> ReadAsync(Stream body, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach ((string type, string data) in EventsAsync(body, cancellationToken).ConfigureAwait(false))
        {
            if (Read(type, data) is { Length: > 0 } piece)
            {
                _text.Append(piece);
                yield return piece;
            }

            if (Ended)
            {
                yield break;
            }
        }
    }

    /// <summary>The answer once the stream has ended; a stream that stopped before the provider finished is an error.</summary>
    public ChatCompletion Complete() => Finished
        ? new ChatCompletion(_text.ToString(), Usage, FinishReason)
        : throw new ProviderCallException($"{Provider} ended the stream before the answer was finished", statusCode: null, retryable: true);

    /// <summary>Parses an event's JSON data; data that is not a JSON object means the provider misbehaved.</summary>
    protected JsonObject Parse(string data)
    {
        try
        {
            return JsonNode.Parse(data) as JsonObject ?? throw NotJson(data);
        }
        catch (JsonException)
        {
            throw NotJson(data);
        }
    }

    /// <summary>An error reported inside the stream (<c>{"error": {"message", "type"}}</c> or <c>{"error": "…"}</c>).</summary>
    protected ProviderCallException StreamError(JsonNode? error)
    {
        string? message = error switch
        {
            JsonObject e => e["message"]?.ToString(),
            JsonValue v => v.ToString(),
            _ => null,
        };
        string? type = error is JsonObject o ? (o["type"] ?? o["status"])?.ToString() : null;

        // Errors about the request itself are rejected again on another try; anything else is the provider's trouble.
        bool retryable = type?.ToLowerInvariant() is not ("invalid_request_error" or "authentication_error" or "permission_error"
            or "not_found_error" or "invalid_argument" or "permission_denied" or "unauthenticated");
        return new ProviderCallException($"{Provider} reported an error in the stream: {(type is null ? "" : type + ": ")}{message ?? error?.ToJsonString() ?? "no details"}",
            statusCode: null, retryable);
    }

    private ProviderCallException NotJson(string data) =>
        new($"{Provider} sent a stream event that is not a JSON object: {(data.Length <= 200 ? data : data[..200] + "…")}", statusCode: null, retryable: true);

    private async IAsyncEnumerable<(string Type, string Data)> EventsAsync(Stream body, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!LineDelimited)
        {
            await foreach (SseItem<string> item in SseParser.Create(body).EnumerateAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return (item.EventType, item.Data);
            }

            yield break;
        }

        using var reader = new StreamReader(body, Encoding.UTF8);
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (!string.IsNullOrWhiteSpace(line))
            {
                yield return ("message", line);
            }
        }
    }
}
