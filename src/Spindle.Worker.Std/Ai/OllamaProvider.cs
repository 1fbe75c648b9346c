using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;

namespace Spindle.Worker.Std.Ai;

/// <summary>
/// Ollama (<c>POST /api/chat</c>, with <c>stream: true</c> answered as newline-delimited JSON; <c>POST /api/embed</c>);
/// no key unless one is configured for a proxy.
/// </summary>
internal sealed class OllamaProvider : LlmProvider
{
    public override string Name => AiSettings.Ollama;

    public override bool RequiresApiKey => false;

    public override bool SupportsEmbeddings => true;

    public override HttpRequestMessage CreateChatRequest(ProviderEndpoint endpoint, string model, ChatRequest request)
    {
        var messages = new JsonArray();
        if (!string.IsNullOrEmpty(request.System))
        {
            messages.Add(new JsonObject { ["role"] = "system", ["content"] = request.System });
        }

        foreach (ChatMessage message in request.Messages)
        {
            messages.Add(new JsonObject { ["role"] = message.Role, ["content"] = message.Content });
        }

        var body = new JsonObject { ["model"] = model, ["messages"] = messages, ["stream"] = request.Stream };
        if (request.Json)
        {
            body["format"] = "json";
        }

        var options = new JsonObject();
        if (request.MaxTokens is { } maxTokens)
        {
            options["num_predict"] = maxTokens;
        }

        if (request.Temperature is { } temperature)
        {
            options["temperature"] = temperature;
        }

        if (request.TopP is { } topP)
        {
            options["top_p"] = topP;
        }

        if (request.StopSequences is { Count: > 0 } stop)
        {
            options["stop"] = new JsonArray([.. stop.Select(s => (JsonNode?)JsonValue.Create(s))]);
        }

        if (options.Count > 0)
        {
            body["options"] = options;
        }

        HttpRequestMessage http = JsonPost(endpoint.Url("api/chat"), body);
        return Authorized(request.Stream ? AcceptStream(http, "application/x-ndjson") : http, endpoint);
    }

    public override ChatCompletion ReadChatResponse(JsonNode body)
    {
        if (body["message"] is not JsonObject message)
        {
            throw Malformed("ollama", "message");
        }

        return new ChatCompletion(Text(message["content"]), ReadUsage(body), body["done_reason"]?.ToString());
    }

    public override ChatStreamDecoder CreateChatStreamDecoder() => new StreamDecoder();

    private static TokenUsage ReadUsage(JsonNode body) => new(Count(body["prompt_eval_count"]), Count(body["eval_count"]));

    public override HttpRequestMessage CreateEmbeddingRequest(ProviderEndpoint endpoint, string model, IReadOnlyList<string> inputs, int? dimensions)
    {
        var body = new JsonObject
        {
            ["model"] = model,
            ["input"] = new JsonArray([.. inputs.Select(i => (JsonNode?)JsonValue.Create(i))]),
        };
        if (dimensions is { } d)
        {
            body["dimensions"] = d;
        }

        return Authorized(JsonPost(endpoint.Url("api/embed"), body), endpoint);
    }

    public override EmbeddingBatch ReadEmbeddingResponse(JsonNode body, IReadOnlyList<string> inputs)
    {
        if (body["embeddings"] is not JsonArray embeddings || embeddings.Count != inputs.Count)
        {
            throw Malformed("ollama", $"one embedding per input ({inputs.Count})");
        }

        List<JsonArray> vectors = [.. embeddings.Select(e => e as JsonArray ?? throw Malformed("ollama", "an embedding vector")).Select(v => (JsonArray)v.DeepClone())];
        long reported = Count(body["prompt_eval_count"]);
        return reported > 0
            ? new EmbeddingBatch(vectors, reported, UsageEstimated: false)
            : new EmbeddingBatch(vectors, inputs.Sum(i => BudgetEstimator.TokensForCharacters(i.Length)), UsageEstimated: true);
    }

    private static HttpRequestMessage Authorized(HttpRequestMessage request, ProviderEndpoint endpoint)
    {
        if (endpoint.ApiKey is { } key)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return request;
    }

    /// <summary>One JSON object per line, <c>{"message": {"content"}, "done": false}</c>, until the one with <c>done: true</c> and the counts.</summary>
    private sealed class StreamDecoder() : ChatStreamDecoder(AiSettings.Ollama)
    {
        protected override bool LineDelimited => true;

        protected override string? Read(string eventType, string data)
        {
            JsonObject chunk = Parse(data);
            if (chunk["error"] is { } error)
            {
                throw StreamError(error);
            }

            if (chunk["done"] is JsonValue done && done.TryGetValue(out bool isDone) && isDone)
            {
                Usage = ReadUsage(chunk);
                FinishReason = chunk["done_reason"]?.ToString();
                Finished = true;
                Ended = true;
            }

            return Text(chunk["message"]?["content"]);
        }
    }
}
