using System.Text;
using System.Text.Json.Nodes;
using Spindle.Core.Costs;

namespace Spindle.Worker.Std.Ai;

/// <summary>
/// Google Gemini (<c>POST /v1beta/models/{model}:generateContent</c>, <c>:streamGenerateContent?alt=sse</c>, <c>:embedContent</c>,
/// <c>:batchEmbedContents</c>), authenticated with the <c>x-goog-api-key</c> header so the key stays out of URLs and logs.
/// </summary>
internal sealed class GoogleProvider : LlmProvider
{
    public override string Name => AiSettings.Google;

    public override bool SupportsEmbeddings => true;

    public override HttpRequestMessage CreateChatRequest(ProviderEndpoint endpoint, string model, ChatRequest request)
    {
        var contents = new JsonArray();
        foreach (ChatMessage message in request.ConversationMessages)
        {
            contents.Add(new JsonObject
            {
                ["role"] = message.Role == "assistant" ? "model" : "user",
                ["parts"] = new JsonArray(new JsonObject { ["text"] = message.Content }),
            });
        }

        var body = new JsonObject { ["contents"] = contents };

        // responseMimeType is Gemini's own JSON switch, so no instruction is added.
        if (request.CombinedSystem(withJsonInstruction: false) is { } system)
        {
            body["systemInstruction"] = new JsonObject { ["parts"] = new JsonArray(new JsonObject { ["text"] = system }) };
        }

        var config = new JsonObject();
        if (request.MaxTokens is { } maxTokens)
        {
            config["maxOutputTokens"] = maxTokens;
        }

        if (request.Temperature is { } temperature)
        {
            config["temperature"] = temperature;
        }

        if (request.TopP is { } topP)
        {
            config["topP"] = topP;
        }

        if (request.StopSequences is { Count: > 0 } stop)
        {
            config["stopSequences"] = new JsonArray([.. stop.Select(s => (JsonNode?)JsonValue.Create(s))]);
        }

        if (request.Json)
        {
            config["responseMimeType"] = "application/json";
        }

        if (config.Count > 0)
        {
            body["generationConfig"] = config;
        }

        return request.Stream
            ? Authorized(AcceptStream(JsonPost(endpoint.Url($"v1beta/models/{ModelPath(model)}:streamGenerateContent?alt=sse"), body), "text/event-stream"), endpoint)
            : Authorized(JsonPost(endpoint.Url($"v1beta/models/{ModelPath(model)}:generateContent"), body), endpoint);
    }

    public override ChatCompletion ReadChatResponse(JsonNode body)
    {
        CheckNotBlocked(body);
        if (body["candidates"] is not JsonArray { Count: > 0 } candidates || candidates[0] is not JsonObject candidate)
        {
            throw Malformed("google", "candidates");
        }

        return new ChatCompletion(AnswerText(candidate), ReadUsage(body["usageMetadata"]), candidate["finishReason"]?.ToString());
    }

    public override ChatStreamDecoder CreateChatStreamDecoder() => new StreamDecoder();

    private static void CheckNotBlocked(JsonNode body)
    {
        if (body["promptFeedback"]?["blockReason"] is JsonValue blocked)
        {
            // A blocked prompt is blocked again on another try: not retryable, like a 4xx.
            throw new ProviderCallException($"google blocked the prompt: {blocked}", statusCode: null, retryable: false);
        }
    }

    private static string AnswerText(JsonObject candidate)
    {
        var text = new StringBuilder();
        if (candidate["content"]?["parts"] is JsonArray parts)
        {
            foreach (JsonNode? part in parts)
            {
                // Thought summaries are not part of the answer.
                if (part?["thought"] is JsonValue thought && thought.TryGetValue(out bool isThought) && isThought)
                {
                    continue;
                }

                text.Append(Text(part?["text"]));
            }
        }

        return text.ToString();
    }

    private static TokenUsage ReadUsage(JsonNode? usage)
    {
        long prompt = Count(usage?["promptTokenCount"]);
        long cached = Math.Min(prompt, Count(usage?["cachedContentTokenCount"]));

        // Thinking tokens are billed as output.
        long output = Count(usage?["candidatesTokenCount"]) + Count(usage?["thoughtsTokenCount"]);
        return new TokenUsage(prompt - cached, output, CacheReadTokens: cached);
    }

    public override HttpRequestMessage CreateEmbeddingRequest(ProviderEndpoint endpoint, string model, IReadOnlyList<string> inputs, int? dimensions)
    {
        string path = ModelPath(model);
        JsonObject Request(string input)
        {
            var request = new JsonObject
            {
                ["model"] = "models/" + path,
                ["content"] = new JsonObject { ["parts"] = new JsonArray(new JsonObject { ["text"] = input }) },
            };
            if (dimensions is { } d)
            {
                request["outputDimensionality"] = d;
            }

            return request;
        }

        return inputs.Count == 1
            ? Authorized(JsonPost(endpoint.Url($"v1beta/models/{path}:embedContent"), Request(inputs[0])), endpoint)
            : Authorized(JsonPost(endpoint.Url($"v1beta/models/{path}:batchEmbedContents"), new JsonObject { ["requests"] = new JsonArray([.. inputs.Select(i => (JsonNode)Request(i))]) }), endpoint);
    }

    public override EmbeddingBatch ReadEmbeddingResponse(JsonNode body, IReadOnlyList<string> inputs)
    {
        IEnumerable<JsonNode?> embeddings = body["embeddings"] is JsonArray list ? list : new[] { body["embedding"] };
        List<JsonArray> vectors = [.. embeddings.Select(e => e?["values"] as JsonArray ?? throw Malformed("google", "embedding values")).Select(v => (JsonArray)v.DeepClone())];
        if (vectors.Count != inputs.Count)
        {
            throw Malformed("google", $"one embedding per input ({inputs.Count})");
        }

        // The embedding API reports no token counts: estimate them from the text so the call can still be priced.
        long reported = Count(body["usageMetadata"]?["promptTokenCount"]);
        return reported > 0
            ? new EmbeddingBatch(vectors, reported, UsageEstimated: false)
            : new EmbeddingBatch(vectors, inputs.Sum(i => BudgetEstimator.TokensForCharacters(i.Length)), UsageEstimated: true);
    }

    /// <summary>The model name as a path segment; a leading <c>models/</c> written by the user is dropped.</summary>
    private static string ModelPath(string model) =>
        Uri.EscapeDataString(model.StartsWith("models/", StringComparison.Ordinal) ? model["models/".Length..] : model);

    private static HttpRequestMessage Authorized(HttpRequestMessage request, ProviderEndpoint endpoint)
    {
        if (endpoint.ApiKey is { } key)
        {
            request.Headers.Add("x-goog-api-key", key);
        }

        return request;
    }

    /// <summary>
    /// Each event is a whole <c>GenerateContentResponse</c> holding the next piece of the answer; the last one has the
    /// <c>finishReason</c> and the final <c>usageMetadata</c>. The stream simply ends after it.
    /// </summary>
    private sealed class StreamDecoder() : ChatStreamDecoder(AiSettings.Google)
    {
        protected override string? Read(string eventType, string data)
        {
            JsonObject chunk = Parse(data);
            if (chunk["error"] is { } error)
            {
                throw StreamError(error);
            }

            CheckNotBlocked(chunk);
            if (chunk["usageMetadata"] is JsonObject usage)
            {
                Usage = ReadUsage(usage);
            }

            if (chunk["candidates"] is not JsonArray { Count: > 0 } candidates || candidates[0] is not JsonObject candidate)
            {
                return null;
            }

            if (candidate["finishReason"] is JsonValue reason)
            {
                FinishReason = reason.ToString();
                Finished = true;
            }

            return AnswerText(candidate);
        }
    }
}
