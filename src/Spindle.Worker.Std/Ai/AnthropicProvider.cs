using System.Text;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;

namespace Spindle.Worker.Std.Ai;

/// <summary>Anthropic Messages (<c>POST /v1/messages</c>, headers <c>x-api-key</c> and <c>anthropic-version</c>).</summary>
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

        HttpRequestMessage http = JsonPost(endpoint.Url("v1/messages"), body);
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

        JsonNode? usage = body["usage"];
        var tokens = new TokenUsage(
            Count(usage?["input_tokens"]),
            Count(usage?["output_tokens"]),
            CacheReadTokens: Count(usage?["cache_read_input_tokens"]),
            CacheCreationTokens: Count(usage?["cache_creation_input_tokens"]));
        return new ChatCompletion(text.ToString(), tokens, body["stop_reason"]?.ToString());
    }
}
