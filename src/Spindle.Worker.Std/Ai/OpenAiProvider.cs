using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;

namespace Spindle.Worker.Std.Ai;

/// <summary>
/// OpenAI Chat Completions (<c>POST /v1/chat/completions</c>, streamed as Server-Sent Events with <c>stream: true</c>)
/// and Embeddings (<c>POST /v1/embeddings</c>).
/// </summary>
internal sealed class OpenAiProvider : LlmProvider
{
    public override string Name => AiSettings.OpenAi;

    public override bool SupportsEmbeddings => true;

    public override HttpRequestMessage CreateChatRequest(ProviderEndpoint endpoint, string model, ChatRequest request)
    {
        var messages = new JsonArray();
        // The system text and the JSON instruction lead; system messages of the list stay where they were written.
        // json_object mode also requires the word "JSON" in the conversation, which the instruction provides.
        string? leading = string.Join("\n\n", new[] { request.System, request.Json ? ChatRequest.JsonInstruction : null }.Where(s => !string.IsNullOrEmpty(s)));
        if (leading.Length > 0)
        {
            messages.Add(new JsonObject { ["role"] = "system", ["content"] = leading });
        }

        foreach (ChatMessage message in request.Messages)
        {
            messages.Add(new JsonObject { ["role"] = message.Role, ["content"] = message.Content });
        }

        var body = new JsonObject { ["model"] = model, ["messages"] = messages };
        if (request.MaxTokens is { } maxTokens)
        {
            // max_tokens is deprecated and rejected by reasoning models; max_completion_tokens works for all.
            body["max_completion_tokens"] = maxTokens;
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
            body["stop"] = new JsonArray([.. stop.Select(s => (JsonNode?)JsonValue.Create(s))]);
        }

        if (request.Json)
        {
            body["response_format"] = new JsonObject { ["type"] = "json_object" };
        }

        if (request.Stream)
        {
            // Without include_usage the stream reports no tokens, and the call could not be priced.
            body["stream"] = true;
            body["stream_options"] = new JsonObject { ["include_usage"] = true };
            return Authorized(AcceptStream(JsonPost(endpoint.Url("v1/chat/completions"), body), "text/event-stream"), endpoint);
        }

        return Authorized(JsonPost(endpoint.Url("v1/chat/completions"), body), endpoint);
    }

    public override ChatStreamDecoder CreateChatStreamDecoder() => new StreamDecoder();

    public override ChatCompletion ReadChatResponse(JsonNode body)
    {
        if (body["choices"] is not JsonArray { Count: > 0 } choices || choices[0] is not JsonObject choice)
        {
            throw Malformed("openai", "choices");
        }

        return new ChatCompletion(Text(choice["message"]?["content"]), ReadUsage(body["usage"]), choice["finish_reason"]?.ToString());
    }

    public override HttpRequestMessage CreateEmbeddingRequest(ProviderEndpoint endpoint, string model, IReadOnlyList<string> inputs, int? dimensions)
    {
        var body = new JsonObject
        {
            ["model"] = model,
            ["input"] = new JsonArray([.. inputs.Select(i => (JsonNode?)JsonValue.Create(i))]),
            ["encoding_format"] = "float",
        };
        if (dimensions is { } d)
        {
            body["dimensions"] = d;
        }

        return Authorized(JsonPost(endpoint.Url("v1/embeddings"), body), endpoint);
    }

    public override EmbeddingBatch ReadEmbeddingResponse(JsonNode body, IReadOnlyList<string> inputs)
    {
        if (body["data"] is not JsonArray data || data.Count != inputs.Count)
        {
            throw Malformed("openai", $"one embedding per input ({inputs.Count})");
        }

        var vectors = data
            .OfType<JsonObject>()
            .OrderBy(item => Count(item["index"]))
            .Select(item => item["embedding"] as JsonArray ?? throw Malformed("openai", "an embedding vector"))
            .Select(vector => (JsonArray)vector.DeepClone())
            .ToList();
        return new EmbeddingBatch(vectors, Count(body["usage"]?["prompt_tokens"]), UsageEstimated: false);
    }

    /// <summary>OpenAI counts cached tokens inside <c>prompt_tokens</c>; the usage line keeps them apart.</summary>
    internal static TokenUsage ReadUsage(JsonNode? usage)
    {
        long prompt = Count(usage?["prompt_tokens"]);
        long cached = Math.Min(prompt, Count(usage?["prompt_tokens_details"]?["cached_tokens"]));
        return new TokenUsage(prompt - cached, Count(usage?["completion_tokens"]), CacheReadTokens: cached);
    }

    private static HttpRequestMessage Authorized(HttpRequestMessage request, ProviderEndpoint endpoint)
    {
        if (endpoint.ApiKey is { } key)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return request;
    }

    /// <summary>
    /// <c>data: {"choices": [{"delta": {"content"}, "finish_reason"}]}</c> chunks, a last chunk with <c>usage</c> and no
    /// choices, then <c>data: [DONE]</c>.
    /// </summary>
    private sealed class StreamDecoder() : ChatStreamDecoder(AiSettings.OpenAi)
    {
        protected override string? Read(string eventType, string data)
        {
            if (data.Trim() == "[DONE]")
            {
                Finished = true;
                Ended = true;
                return null;
            }

            JsonObject chunk = Parse(data);
            if (chunk["error"] is { } error)
            {
                throw StreamError(error);
            }

            if (chunk["usage"] is JsonObject usage)
            {
                Usage = ReadUsage(usage);
            }

            if (chunk["choices"] is not JsonArray { Count: > 0 } choices || choices[0] is not JsonObject choice)
            {
                return null;
            }

            if (choice["finish_reason"] is JsonValue reason)
            {
                FinishReason = reason.ToString();
            }

            return Text(choice["delta"]?["content"]);
        }
    }
}
