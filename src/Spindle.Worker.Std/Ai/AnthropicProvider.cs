using System.Text;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;

namespace Spindle.Worker.Std.Ai;

/// <summary>
/// Anthropic Messages (<c>POST /v1/messages</c>, headers <c>x-api-key</c> and <c>anthropic-version</c>; with
/// <c>stream: true</c> as Server-Sent Events).
/// </summary>
internal sealed class AnthropicProvider(string anthropicVersion) : LlmProvider
{
    /// <summary>Anthropic requires <c>max_tokens</c>; this applies when the activity sets none (the budget estimate assumes the same).</summary>
    public const int DefaultMaxTokens = 4096;

    public override string Name => AiSettings.Anthropic;

    public override HttpRequestMessage CreateChatRequest(ProviderEndpoint endpoint, string model, ChatRequest request)
    {
        var messages = new JsonArray();
        foreach (ChatMessage message in request.ConversationMessages)
        {
            messages.Add(new JsonObject { ["role"] = message.Role, ["content"] = message.Content });
        }

        var body = new JsonObject
        {
            ["model"] = model,
            ["max_tokens"] = request.MaxTokens ?? DefaultMaxTokens,
            ["messages"] = messages,
        };

        // The Messages API has no JSON switch: the instruction goes into the system prompt and the answer is parsed.
        if (request.CombinedSystem(withJsonInstruction: true) is { } system)
        {
            body["system"] = system;
        }

        if (request.Temperature is { } temperature)
        {
            body["temperature"] = temperature;
        }

        if (request.TopP is { } topP)
        {
            body["top_p"] = topP;
        }

        if (request.StopSequences is { Count: > 0 } stop)
        {
            body["stop_sequences"] = new JsonArray([.. stop.Select(s => (JsonNode?)JsonValue.Create(s))]);
        }

        if (request.Stream)
        {
            body["stream"] = true;
        }

        HttpRequestMessage http = JsonPost(endpoint.Url("v1/messages"), body);
        if (request.Stream)
        {
            AcceptStream(http, "text/event-stream");
        }

        if (endpoint.ApiKey is { } key)
        {
            http.Headers.Add("x-api-key", key);
        }

        http.Headers.Add("anthropic-version", anthropicVersion);
        return http;
    }

    public override ChatCompletion ReadChatResponse(JsonNode body)
    {
        if (body["content"] is not JsonArray content)
        {
            throw Malformed("anthropic", "content");
        }

        var text = new StringBuilder();
        foreach (JsonNode? block in content)
        {
            if (Text(block?["type"]) == "text")
            {
                text.Append(Text(block?["text"]));
            }
        }

        return new ChatCompletion(text.ToString(), ReadUsage(body["usage"]), body["stop_reason"]?.ToString());
    }

    public override ChatStreamDecoder CreateChatStreamDecoder() => new StreamDecoder();

    private static TokenUsage ReadUsage(JsonNode? usage) => new(
        Count(usage?["input_tokens"]),
        Count(usage?["output_tokens"]),
        CacheReadTokens: Count(usage?["cache_read_input_tokens"]),
        CacheCreationTokens: Count(usage?["cache_creation_input_tokens"]));

    /// <summary>
    /// Events <c>message_start</c> (input usage), <c>content_block_delta</c> (<c>text_delta</c> pieces; thinking and
    /// tool deltas are not answer text), <c>message_delta</c> (<c>stop_reason</c>, cumulative output usage),
    /// <c>message_stop</c>, <c>ping</c>, and <c>error</c>.
    /// </summary>
    private sealed class StreamDecoder() : ChatStreamDecoder(AiSettings.Anthropic)
    {
        protected override string? Read(string eventType, string data)
        {
            if (eventType == "ping")
            {
                return null;
            }

            JsonObject ev = Parse(data);
            switch (Text(ev["type"]) is { Length: > 0 } type ? type : eventType)
            {
                case "error":
                    throw StreamError(ev["error"]);
                case "message_start":
                    Usage = ReadUsage(ev["message"]?["usage"]);
                    return null;
                case "content_block_delta" when Text(ev["delta"]?["type"]) == "text_delta":
                    return Text(ev["delta"]?["text"]);
                case "message_delta":
                    if (ev["delta"]?["stop_reason"] is JsonValue reason)
                    {
                        FinishReason = reason.ToString();
                    }

                    // The counts here are cumulative; the input ones appear only in some API versions.
                    JsonNode? usage = ev["usage"];
                    Usage = new TokenUsage(
                        usage?["input_tokens"] is null ? Usage.InputTokens : Count(usage["input_tokens"]),
                        usage?["output_tokens"] is null ? Usage.OutputTokens : Count(usage["output_tokens"]),
                        CacheReadTokens: usage?["cache_read_input_tokens"] is null ? Usage.CacheReadTokens : Count(usage["cache_read_input_tokens"]),
                        CacheCreationTokens: usage?["cache_creation_input_tokens"] is null ? Usage.CacheCreationTokens : Count(usage["cache_creation_input_tokens"]));
                    return null;
                case "message_stop":
                    Finished = true;
                    Ended = true;
                    return null;
                default:
                    return null;
            }
        }
    }
}
