using System.Text.Json.Nodes;
using Spindle.Protocol;
using Spindle.Worker.Std;
using Spindle.Worker.Std.Ai;
using Spindle.Worker.Tests.Support;

namespace Spindle.Worker.Tests.Ai;

public sealed class EmbeddingActivityTests : IAsyncLifetime
{
    private static readonly HttpClient Http = HttpRequestActivity.CreateDefaultHttpClient();
    private FakeProviderServer _server = null!;

    public async Task InitializeAsync() => _server = await FakeProviderServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Execute_OpenAiList_SendsEmbeddingsShapeAndOrdersByIndex()
    {
        _server.Default("/v1/embeddings", new ScriptedAnswer(200, """
            {"object": "list", "model": "text-embedding-3-small",
             "data": [{"object": "embedding", "index": 1, "embedding": [0.3, 0.4]}, {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
             "usage": {"prompt_tokens": 10, "total_tokens": 10}}
            """));

        ActivityResult result = await RunAsync("""{"model": "openai/text-embedding-3-small", "input": ["first", "second"], "dimensions": 2}""");

        RecordedRequest request = Assert.Single(_server.Requests);
        Assert.Equal("/v1/embeddings", request.Path);
        Assert.Equal("Bearer sk-openai-test", request.Header("Authorization"));
        Assert.Equal("""{"model":"text-embedding-3-small","input":["first","second"],"encoding_format":"float","dimensions":2}""", request.Body!.ToJsonString());

        Assert.Equal("[[0.1,0.2],[0.3,0.4]]", result.Output["result"]!["embeddings"]!.ToJsonString());
        Assert.Equal(2, result.Output["result"]!["dimensions"]!.GetValue<int>());
        Assert.Equal("openai/text-embedding-3-small", result.Output["result"]!["model_id"]!.GetValue<string>());
        Assert.Equal("""{"prompt_tokens":10,"total_tokens":10,"estimated":false}""", result.Output["result"]!["usage"]!.ToJsonString());

        // 10 × 0.02 / 1e6
        Assert.Equal(new UsageLine { Provider = "openai", Model = "text-embedding-3-small", InputTokens = 10, CostUsd = 0.0000002m }, Assert.Single(result.Usage));
    }

    [Fact]
    public async Task Execute_BatchSizeOne_OneRequestPerInputAndReferenceShape()
    {
        _server.Default("/v1/embeddings", new ScriptedAnswer(200, """
            {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.5]}], "usage": {"prompt_tokens": 3, "total_tokens": 3}}
            """));

        ActivityResult result = await RunAsync("""{"model": ["openai/text-embedding-3-small"], "input": ["a", "b"], "batch_size": 1}""");

        Assert.Equal(2, _server.Requests.Count);
        Assert.Equal("""["a"]""", _server.Requests[0].Body!["input"]!.ToJsonString());
        Assert.Equal("""["b"]""", _server.Requests[1].Body!["input"]!.ToJsonString());
        JsonObject answer = result.Output["result"]!.AsObject();
        Assert.Equal("[[0.5,0.5],[0.5,0.5]]", answer["embeddings"]!.ToJsonString());
        Assert.Null(answer["embeddings_file"]);
        Assert.Equal(2, answer["embedding_count"]!.GetValue<int>());
        Assert.Equal("text-embedding-3-small", answer["model"]!.GetValue<string>());
        Assert.Equal("openai", answer["provider"]!.GetValue<string>());
        Assert.Equal(6, answer["usage"]!["prompt_tokens"]!.GetValue<long>());
    }

    [Fact]
    public async Task Execute_GoogleSingle_UsesEmbedContentAndEstimatesTokens()
    {
        _server.Default("/v1beta/models/gemini-embedding-001:embedContent", new ScriptedAnswer(200, """{"embedding": {"values": [0.5, -0.5, 0.25]}}"""));

        ActivityResult result = await RunAsync("""{"model": "google/gemini-embedding-001", "input": "twelve chars"}""");

        RecordedRequest request = Assert.Single(_server.Requests);
        Assert.Equal("google-test-key", request.Header("x-goog-api-key"));
        Assert.Equal("""{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"twelve chars"}]}}""", request.Body!.ToJsonString());
        Assert.Equal("[[0.5,-0.5,0.25]]", result.Output["result"]!["embeddings"]!.ToJsonString());
        Assert.True(result.Output["result"]!["usage"]!["estimated"]!.GetValue<bool>());

        // 12 characters ≈ 3 tokens × 0.15 / 1e6
        Assert.Equal(new UsageLine { Provider = "google", Model = "gemini-embedding-001", InputTokens = 3, CostUsd = 0.00000045m }, Assert.Single(result.Usage));
    }

    [Fact]
    public async Task Execute_GoogleList_UsesBatchEmbedContents()
    {
        _server.Default("/v1beta/models/text-embedding-004:batchEmbedContents", new ScriptedAnswer(200, """{"embeddings": [{"values": [1]}, {"values": [2]}]}"""));

        ActivityResult result = await RunAsync("""{"model": "google/text-embedding-004", "input": ["a", "b"], "dimensions": 1}""");

        RecordedRequest request = Assert.Single(_server.Requests);
        Assert.Equal(
            """{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"a"}]},"outputDimensionality":1},{"model":"models/text-embedding-004","content":{"parts":[{"text":"b"}]},"outputDimensionality":1}]}""",
            request.Body!.ToJsonString());
        Assert.Equal("[[1],[2]]", result.Output["result"]!["embeddings"]!.ToJsonString());
    }

    [Fact]
    public async Task Execute_Ollama_UsesApiEmbed()
    {
        _server.Default("/api/embed", new ScriptedAnswer(200, """{"model": "nomic-embed-text", "embeddings": [[0.1, 0.2]], "prompt_eval_count": 4}"""));

        ActivityResult result = await RunAsync("""{"model": "ollama/nomic-embed-text", "input": "hello"}""");

        RecordedRequest request = Assert.Single(_server.Requests);
        Assert.Null(request.Header("Authorization"));
        Assert.Equal("""{"model":"nomic-embed-text","input":["hello"]}""", request.Body!.ToJsonString());
        Assert.Equal("[[0.1,0.2]]", result.Output["result"]!["embeddings"]!.ToJsonString());
        Assert.Equal(new UsageLine { Provider = "ollama", Model = "nomic-embed-text", InputTokens = 4, CostUsd = 0m }, Assert.Single(result.Usage));
    }

    [Fact]
    public async Task Execute_ServerErrors_RetriesOnceThenFailsRetryable()
    {
        _server.Default("/v1/embeddings", ProviderAnswers.Error(500));

        var failure = await Assert.ThrowsAsync<ActivityFailureException>(() => RunAsync("""{"model": "openai/text-embedding-3-small", "input": "x"}"""));

        Assert.Equal(AiErrorCodes.ProviderError, failure.Code);
        Assert.True(failure.Retryable);
        Assert.Equal(2, _server.Requests.Count);
    }

    [Fact]
    public async Task Execute_BadRequest_FailsWithoutRetry()
    {
        _server.Default("/v1/embeddings", ProviderAnswers.Error(400, "input too long"));

        var failure = await Assert.ThrowsAsync<ActivityFailureException>(() => RunAsync("""{"model": "openai/text-embedding-3-small", "input": "x"}"""));

        Assert.False(failure.Retryable);
        Assert.Contains("input too long", failure.Message, StringComparison.Ordinal);
        Assert.Single(_server.Requests);
    }

    [Fact]
    public async Task Execute_OverBudget_FailsWithoutRequest()
    {
        var failure = await Assert.ThrowsAsync<ActivityFailureException>(() => RunAsync("""
            {"model": "openai/text-embedding-3-large", "input": "some text to embed", "activity_budget_limit_usd": "0.0000001"}
            """));

        Assert.Equal(AiErrorCodes.BudgetExceeded, failure.Code);
        Assert.False(failure.Retryable);
        Assert.Empty(_server.Requests);
    }

    [Theory]
    [InlineData("""{"model": "anthropic/claude-haiku-4-5", "input": "x"}""", "no embeddings API")]
    [InlineData("""{"model": "openai/text-embedding-3-small"}""", "'input'")]
    [InlineData("""{"model": "openai/text-embedding-3-small", "input": []}""", "'input'")]
    [InlineData("""{"model": "openai/text-embedding-3-small", "input": ["a", 1]}""", "input[1]")]
    [InlineData("""{"model": [], "input": "x"}""", "'model'")]
    public async Task Execute_InvalidParameters_FailsNotRetryable(string parameters, string expected)
    {
        var failure = await Assert.ThrowsAsync<ActivityFailureException>(() => RunAsync(parameters));

        Assert.Equal(ErrorCodes.InvalidParameters, failure.Code);
        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
        Assert.Empty(_server.Requests);
    }

    private Task<ActivityResult> RunAsync(string parameters) =>
        new EmbeddingActivity(Http, _server.Settings()).ExecuteAsync(TestContexts.For("embedding", TestContexts.Parse(parameters)), CancellationToken.None);
}
