using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Worker.Std.Ai;

/// <summary>
/// The wire format of one provider: builds HTTP requests for completions and embeddings and reads the answers.
/// Pure translation; sending, retries and fallback live in <see cref="ProviderCaller"/> and the activities.
/// </summary>
internal abstract class LlmProvider
{
    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json") { CharSet = "utf-8" };

    public abstract string Name { get; }

    /// <summary>True when calls carry an API key (Ollama runs without one).</summary>
    public virtual bool RequiresApiKey => true;

    public virtual bool SupportsEmbeddings => false;

    public abstract HttpRequestMessage CreateChatRequest(ProviderEndpoint endpoint, string model, ChatRequest request);

    public abstract ChatCompletion ReadChatResponse(JsonNode body);

    /// <summary>A reader for one streaming answer to a request made with <see cref="ChatRequest.Stream"/>.</summary>
    public abstract ChatStreamDecoder CreateChatStreamDecoder();

    public virtual HttpRequestMessage CreateEmbeddingRequest(ProviderEndpoint endpoint, string model, IReadOnlyList<string> inputs, int? dimensions) =>
        throw new NotSupportedException($"{Name} has no embeddings API.");

    public virtual EmbeddingBatch ReadEmbeddingResponse(JsonNode body, IReadOnlyList<string> inputs) =>
        throw new NotSupportedException($"{Name} has no embeddings API.");

    /// <summary>The provider's error text from an error body (<c>{"error": {"message"}}</c> or <c>{"error": "…"}</c>).</summary>
    public virtual string? ReadErrorMessage(JsonNode? body) => body?["error"] switch
    {
        JsonObject error when error["message"] is JsonValue message => message.ToString(),
        JsonValue text when text.GetValueKind() == JsonValueKind.String => text.GetValue<string>(),
        _ => null,
    };

    protected static HttpRequestMessage JsonPost(Uri url, JsonObject body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8),
        };
        request.Content.Headers.ContentType = JsonMediaType;
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return request;
    }

    /// <summary>Asks for a streaming body (<c>text/event-stream</c>, or Ollama's <c>application/x-ndjson</c>) instead of JSON.</summary>
    protected static HttpRequestMessage AcceptStream(HttpRequestMessage request, string mediaType)
    {
        request.Headers.Accept.Clear();
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(mediaType));
        return request;
    }

    protected static long Count(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue(out long count) ? Math.Max(0, count)
        : node is JsonValue d && d.TryGetValue(out double number) && number >= 0 ? (long)number
        : 0;

    protected static string Text(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : "";

    /// <summary>A response shape the provider does not document: the provider misbehaved, so another try may work.</summary>
    protected static ProviderCallException Malformed(string provider, string what) =>
        new($"{provider} answered without {what}", statusCode: null, retryable: true);
}
