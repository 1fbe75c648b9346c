using System.Text.Json.Nodes;
using Spindle.Protocol;
using Spindle.Worker.Std;
using Spindle.Worker.Std.Ai;
using Spindle.Worker.Tests.Support;

namespace Spindle.Worker.Tests.Ai;

public sealed class LlmPromptActivityTests : IAsyncLifetime
{
    private static readonly HttpClient Http = HttpRequestActivity.CreateDefaultHttpClient();
    private FakeProviderServer _server = null!;

    public async Task InitializeAsync() => _server = await FakeProviderServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Execute_OpenAi_SendsChatCompletionsShapeAndPricesCachedTokens()
    {
        _server.Default(ProviderAnswers.OpenAiPath, ProviderAnswers.OpenAi());

        ActivityResult result = await RunAsync("""
            {"model": "openai/gpt-4o", "system": "Be brief.", "prompt": "Say hello", "max_tokens": 300, "temperature": 0.2}
            """);

        RecordedRequest request = Assert.Single(_server.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal(ProviderAnswers.OpenAiPath, request.Path);
        Assert.Equal("Bearer sk-openai-test", request.Header("Authorization"));
        Assert.StartsWith("application/json", request.Header("Content-Type"), StringComparison.Ordinal);
        Assert.Equal("gpt-4o", request.Body!["model"]!.GetValue<string>());
        Assert.Equal("""[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello"}]""", request.Body["messages"]!.ToJsonString());
        Assert.Equal(300, request.Body["max_completion_tokens"]!.GetValue<int>());
        Assert.Equal(0.2, request.Body["temperature"]!.GetValue<double>());
        Assert.Null(request.Body["response_format"]);
        Assert.Null(request.Body["stream"]);

        Assert.Equal("Hello from OpenAI", result.Output["result"]!["response"]!.GetValue<string>());
        Assert.Equal("openai/gpt-4o", result.Output["result"]!["model_id"]!.GetValue<string>());
        Assert.Equal("stop", result.Output["result"]!["finish_reason"]!.GetValue<string>());
        Assert.Equal("""{"prompt_tokens":1200,"output_tokens":150,"total_tokens":1350,"cached_tokens":200,"cache_creation_tokens":0}""", result.Output["result"]!["usage"]!.ToJsonString());
        Assert.Empty(result.Output["result"]!["fallback_attempts"]!.AsArray());

        // (1000 × 2.50 + 150 × 10.00 + 200 × 1.25) / 1e6
        UsageLine line = Assert.Single(result.Usage);
        Assert.Equal(new UsageLine { Provider = "openai", Model = "gpt-4o", InputTokens = 1000, OutputTokens = 150, CacheReadTokens = 200, CostUsd = 0.00425m }, line);
        Assert.Null(result.CostUsd);
        Assert.Equal(0.00425m, result.Output["result"]!["cost_usd"]!.GetValue<decimal>());
    }

    [Fact]
    public async Task Execute_ReferenceParameters_SentAndAnsweredInReferenceShape()
    {
        _server.Default(ProviderAnswers.OpenAiPath, ProviderAnswers.OpenAi());

        ActivityResult result = await RunAsync("""
            {"model": ["openai/gpt-4o"], "system_prompt": "Be brief.", "prompt": "Say hello", "top_p": 0.9, "stop_sequences": ["END"]}
            """);

        RecordedRequest request = Assert.Single(_server.Requests);
        Assert.Equal("""[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello"}]""", request.Body!["messages"]!.ToJsonString());
        Assert.Equal(0.9, request.Body["top_p"]!.GetValue<double>());
        Assert.Equal("""["END"]""", request.Body["stop"]!.ToJsonString());

        JsonObject answer = Assert.Single(result.Output).Value!.AsObject();
        Assert.Equal("result", result.Output.Single().Key);
        Assert.Equal("Hello from OpenAI", answer["content"]!.GetValue<string>());
        Assert.Equal("gpt-4o", answer["model"]!.GetValue<string>());
        Assert.Equal("openai", answer["provider"]!.GetValue<string>());
        Assert.Equal("stop", answer["finish_reason"]!.GetValue<string>());
        Assert.Equal(0.00425m, answer["cost_usd"]!.GetValue<decimal>());
        Assert.Empty(answer["budget_skipped_models"]!.AsArray());
        Assert.Equal(1200, answer["usage"]!["prompt_tokens"]!.GetValue<long>());
        Assert.Equal(200, answer["usage"]!["cached_tokens"]!.GetValue<long>());
    }

    [Fact]
    public async Task Execute_Anthropic_SendsMessagesShapeWithHeadersAndCacheUsage()
    {
        _server.Default(ProviderAnswers.AnthropicPath, ProviderAnswers.Anthropic());

        ActivityResult result = await RunAsync("""
            {"model": "anthropic/claude-haiku-4-5", "system": "Be kind.",
             "messages": [{"role": "system", "content": "Answer in English."}, {"role": "user", "content": "Hi"},
                          {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "How are you?"}]}
            """);

        RecordedRequest request = Assert.Single(_server.Requests);
        Assert.Equal(ProviderAnswers.AnthropicPath, request.Path);
        Assert.Equal("sk-ant-test", request.Header("x-api-key"));
        Assert.Equal("2023-06-01", request.Header("anthropic-version"));
        Assert.Null(request.Header("Authorization"));
        Assert.Equal("claude-haiku-4-5", request.Body!["model"]!.GetValue<string>());
        Assert.Equal(4096, request.Body["max_tokens"]!.GetValue<int>());
        Assert.Equal("Be kind.\n\nAnswer in English.", request.Body["system"]!.GetValue<string>());
        Assert.Equal(
            """[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"},{"role":"user","content":"How are you?"}]""",
            request.Body["messages"]!.ToJsonString());

        Assert.Equal("Hello from Claude", result.Output["result"]!["response"]!.GetValue<string>());
        Assert.Equal("end_turn", result.Output["result"]!["finish_reason"]!.GetValue<string>());

        // (1200 × 1.00 + 150 × 5.00 + 1000 × 0.10 + 500 × 1.25) / 1e6
        UsageLine line = Assert.Single(result.Usage);
        Assert.Equal(new UsageLine { Provider = "anthropic", Model = "claude-haiku-4-5", InputTokens = 1200, OutputTokens = 150, CacheReadTokens = 1000, CacheCreationTokens = 500, CostUsd = 0.002675m }, line);
    }

    [Fact]
    public async Task Execute_Google_SendsGenerateContentShapeAndParsesJson()
    {
        _server.Default(ProviderAnswers.GooglePath("gemini-2.5-flash"), ProviderAnswers.Google("""{"answer": 42}"""));

        ActivityResult result = await RunAsync("""
            {"model": "google/gemini-2.5-flash", "system": "Reply in JSON.", "max_tokens": 256, "temperature": 0, "json": true,
             "messages": [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}]}
            """);

        RecordedRequest request = Assert.Single(_server.Requests);
        Assert.Equal("/v1beta/models/gemini-2.5-flash:generateContent", request.Path);
        Assert.Equal("google-test-key", request.Header("x-goog-api-key"));
        Assert.DoesNotContain("google-test-key", request.Query, StringComparison.Ordinal);
        Assert.Equal(
            """[{"role":"user","parts":[{"text":"Q1"}]},{"role":"model","parts":[{"text":"A1"}]},{"role":"user","parts":[{"text":"Q2"}]}]""",
            request.Body!["contents"]!.ToJsonString());
        Assert.Equal("""{"parts":[{"text":"Reply in JSON."}]}""", request.Body["systemInstruction"]!.ToJsonString());
        Assert.Equal("""{"maxOutputTokens":256,"temperature":0,"responseMimeType":"application/json"}""", request.Body["generationConfig"]!.ToJsonString());

        Assert.Equal("""{"answer":42}""", result.Output["result"]!["response"]!.ToJsonString());
        Assert.Equal("STOP", result.Output["result"]!["finish_reason"]!.GetValue<string>());

        // prompt 1000 of which 400 cached; output 100 + 50 thinking: (600 × 0.30 + 150 × 2.50 + 400 × 0.03) / 1e6
        UsageLine line = Assert.Single(result.Usage);
        Assert.Equal(new UsageLine { Provider = "google", Model = "gemini-2.5-flash", InputTokens = 600, OutputTokens = 150, CacheReadTokens = 400, CostUsd = 0.000567m }, line);
    }

    [Fact]
    public async Task Execute_Ollama_SendsChatWithStreamOffAndCostsNothing()
    {
        _server.Default(ProviderAnswers.OllamaPath, ProviderAnswers.Ollama("""{"ok": true}"""));

        ActivityResult result = await RunAsync("""
            {"model": "ollama/llama3.2:3b", "system": "sys", "prompt": "hi", "max_tokens": 64, "temperature": 0.5, "response_format": "json"}
            """);

        RecordedRequest request = Assert.Single(_server.Requests);
        Assert.Equal("/api/chat", request.Path);
        Assert.Null(request.Header("Authorization"));
        Assert.Equal("llama3.2:3b", request.Body!["model"]!.GetValue<string>());
        Assert.False(request.Body["stream"]!.GetValue<bool>());
        Assert.Equal("json", request.Body["format"]!.GetValue<string>());
        Assert.Equal("""{"num_predict":64,"temperature":0.5}""", request.Body["options"]!.ToJsonString());
        Assert.Equal("""[{"role":"system","content":"sys"},{"role":"user","content":"hi"}]""", request.Body["messages"]!.ToJsonString());

        Assert.Equal("""{"ok":true}""", result.Output["result"]!["response"]!.ToJsonString());
        Assert.Equal(new UsageLine { Provider = "ollama", Model = "llama3.2:3b", InputTokens = 30, OutputTokens = 12, CostUsd = 0m }, Assert.Single(result.Usage));
    }

    [Fact]
    public async Task Execute_OpenAiJsonModeWithFencedAnswer_SetsResponseFormatAndParses()
    {
        _server.Default(ProviderAnswers.OpenAiPath, ProviderAnswers.OpenAi("```json\n{\"items\": [1, 2]}\n```"));

        ActivityResult result = await RunAsync("""{"model": "openai/gpt-4o-mini", "prompt": "list", "response_format": {"type": "json_object"}}""");

        RecordedRequest request = Assert.Single(_server.Requests);
        Assert.Equal("""{"type":"json_object"}""", request.Body!["response_format"]!.ToJsonString());
        Assert.Contains("JSON", request.Body["messages"]![0]!["content"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("""{"items":[1,2]}""", result.Output["result"]!["response"]!.ToJsonString());
    }

    [Fact]
    public async Task Execute_JsonModeAnswerNotJson_FailsRetryableAndReportsUsage()
    {
        _server.Default(ProviderAnswers.AnthropicPath, ProviderAnswers.Anthropic("Sure! Here it is: {oops"));

        ActivityFailureException failure = await FailAsync("""{"model": "anthropic/claude-haiku-4-5", "prompt": "json please", "json": true}""");

        Assert.Equal(AiErrorCodes.InvalidJson, failure.Code);
        Assert.True(failure.Retryable);
        Assert.Equal(0.002675m, Assert.Single(failure.Usage!).CostUsd);
        Assert.Contains(ChatRequestJsonInstruction, _server.Requests[0].Body!["system"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Execute_RetryableErrorOnFirstModel_RetriesOnceThenFallsBackInOrder()
    {
        _server.Script(ProviderAnswers.OpenAiPath, ProviderAnswers.Error(503), ProviderAnswers.Error(500));
        _server.Default(ProviderAnswers.AnthropicPath, ProviderAnswers.Anthropic());
        _server.Default(ProviderAnswers.OllamaPath, ProviderAnswers.Ollama());

        ActivityResult result = await RunAsync("""
            {"models": ["openai/gpt-4o", "anthropic/claude-haiku-4-5", "ollama/llama3.2"], "prompt": "hi"}
            """);

        Assert.Equal([ProviderAnswers.OpenAiPath, ProviderAnswers.OpenAiPath, ProviderAnswers.AnthropicPath], _server.Requests.Select(r => r.Path));
        Assert.Equal("anthropic/claude-haiku-4-5", result.Output["result"]!["model_id"]!.GetValue<string>());
        JsonObject attempt = Assert.Single(result.Output["result"]!["fallback_attempts"]!.AsArray())!.AsObject();
        Assert.Equal("openai/gpt-4o", attempt["model"]!.GetValue<string>());
        Assert.Equal("failed", attempt["outcome"]!.GetValue<string>());
        Assert.Equal(500, attempt["status"]!.GetValue<int>());
        Assert.Equal(2, attempt["tries"]!.GetValue<int>());
        Assert.Equal("anthropic", Assert.Single(result.Usage).Provider);
    }

    [Fact]
    public async Task Execute_429ThenSuccess_RetriesSameModel()
    {
        _server.Script(ProviderAnswers.OpenAiPath, ProviderAnswers.Error(429, "rate limited", new Dictionary<string, string> { ["Retry-After"] = "0" }));
        _server.Default(ProviderAnswers.OpenAiPath, ProviderAnswers.OpenAi());

        ActivityResult result = await RunAsync("""{"models": ["openai/gpt-4o", "anthropic/claude-haiku-4-5"], "prompt": "hi"}""");

        Assert.Equal(2, _server.Requests.Count);
        Assert.All(_server.Requests, r => Assert.Equal(ProviderAnswers.OpenAiPath, r.Path));
        Assert.Equal("openai/gpt-4o", result.Output["result"]!["model_id"]!.GetValue<string>());
        Assert.Empty(result.Output["result"]!["fallback_attempts"]!.AsArray());
    }

    [Fact]
    public async Task Execute_RetryAfterWithinLimit_WaitsBeforeTheSecondTry()
    {
        _server.Script(ProviderAnswers.AnthropicPath, ProviderAnswers.Error(529, "Overloaded", new Dictionary<string, string> { ["Retry-After"] = "1" }));
        _server.Default(ProviderAnswers.AnthropicPath, ProviderAnswers.Anthropic());
        var clock = System.Diagnostics.Stopwatch.StartNew();

        ActivityResult result = await RunAsync("""{"model": "anthropic/claude-haiku-4-5", "prompt": "hi"}""");

        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(950), $"second try after {clock.Elapsed.TotalMilliseconds} ms");
        Assert.Equal(2, _server.Requests.Count);
        Assert.Equal("anthropic/claude-haiku-4-5", result.Output["result"]!["model_id"]!.GetValue<string>());
    }

    [Fact]
    public async Task Execute_ServerError_BacksOffWithJitterBeforeRetrying()
    {
        _server.Script(ProviderAnswers.OpenAiPath, ProviderAnswers.Error(500));
        _server.Default(ProviderAnswers.OpenAiPath, ProviderAnswers.OpenAi());
        AiSettings settings = _server.Settings();
        settings.RetryBackoff = new Backoff(TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(1), jitter: 0.5);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        await RunAsync("""{"model": "openai/gpt-4o", "prompt": "hi"}""", settings);

        // The first wait is 400 ms scaled by a jitter factor in [0.5, 1].
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(190), $"second try after {clock.Elapsed.TotalMilliseconds} ms");
        Assert.Equal(2, _server.Requests.Count);
    }

    [Fact]
    public async Task Execute_RetryAfterLongerThanAllowed_FallsBackWithoutWaiting()
    {
        _server.Script(ProviderAnswers.OpenAiPath, ProviderAnswers.Error(429, "slow down", new Dictionary<string, string> { ["Retry-After"] = "3600" }));
        _server.Default(ProviderAnswers.OllamaPath, ProviderAnswers.Ollama());

        ActivityResult result = await RunAsync("""{"models": ["openai/gpt-4o", "ollama/llama3.2"], "prompt": "hi"}""");

        Assert.Equal([ProviderAnswers.OpenAiPath, ProviderAnswers.OllamaPath], _server.Requests.Select(r => r.Path));
        Assert.Equal("ollama/llama3.2", result.Output["result"]!["model_id"]!.GetValue<string>());
    }

    [Theory]
    [InlineData(400)]
    [InlineData(401)]
    [InlineData(404)]
    public async Task Execute_Non429ClientError_FailsAtOnceWithoutRetryOrFallback(int status)
    {
        _server.Script(ProviderAnswers.OpenAiPath, ProviderAnswers.Error(status, "Invalid value for 'temperature'"));
        _server.Default(ProviderAnswers.AnthropicPath, ProviderAnswers.Anthropic());

        ActivityFailureException failure = await FailAsync("""{"models": ["openai/gpt-4o", "anthropic/claude-haiku-4-5"], "prompt": "hi"}""");

        Assert.Equal(AiErrorCodes.ProviderError, failure.Code);
        Assert.False(failure.Retryable);
        Assert.Contains("Invalid value for 'temperature'", failure.Message, StringComparison.Ordinal);
        Assert.Contains(status.ToString(System.Globalization.CultureInfo.InvariantCulture), failure.Message, StringComparison.Ordinal);
        Assert.Equal(ProviderAnswers.OpenAiPath, Assert.Single(_server.Requests).Path);
    }

    [Fact]
    public async Task Execute_AllModelsFailRetryably_FailsRetryable()
    {
        _server.Default(ProviderAnswers.OpenAiPath, ProviderAnswers.Error(502));
        _server.Default(ProviderAnswers.AnthropicPath, ProviderAnswers.Error(529, "Overloaded"));

        ActivityFailureException failure = await FailAsync("""{"models": ["openai/gpt-4o", "anthropic/claude-haiku-4-5"], "prompt": "hi"}""");

        Assert.Equal(AiErrorCodes.ProviderError, failure.Code);
        Assert.True(failure.Retryable);
        Assert.Contains("Overloaded", failure.Message, StringComparison.Ordinal);
        Assert.Equal(4, _server.Requests.Count);
    }

    [Fact]
    public async Task Execute_UnreachableProvider_FallsBackAsRetryable()
    {
        AiSettings settings = _server.Settings().SetBaseUrl(AiSettings.Google, new Uri("http://127.0.0.1:1/"));
        _server.Default(ProviderAnswers.OllamaPath, ProviderAnswers.Ollama());

        ActivityResult result = await RunAsync("""{"models": ["google/gemini-2.5-flash", "ollama/llama3.2"], "prompt": "hi"}""", settings);

        Assert.Equal("ollama/llama3.2", result.Output["result"]!["model_id"]!.GetValue<string>());
        JsonObject attempt = Assert.Single(result.Output["result"]!["fallback_attempts"]!.AsArray())!.AsObject();
        Assert.Null(attempt["status"]);
        Assert.True(attempt["retryable"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Execute_ProviderSlowerThanTimeout_FailsRetryable()
    {
        _server.Default(ProviderAnswers.OpenAiPath, ProviderAnswers.OpenAi() with { Delay = TimeSpan.FromSeconds(5) });
        AiSettings settings = _server.Settings();
        settings.MaxTriesPerModel = 1;

        ActivityFailureException failure = await FailAsync("""{"model": "openai/gpt-4o", "prompt": "hi", "timeout_seconds": 0.2}""", settings);

        Assert.True(failure.Retryable);
        Assert.Contains("did not answer within 0.2 s", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Execute_NoModelFitsBudget_FailsBudgetExceededWithoutAnyRequest()
    {
        _server.Default(ProviderAnswers.OpenAiPath, ProviderAnswers.OpenAi());

        // gpt-4o-mini: 1 prompt token at 0.15/M + 4,096 output tokens at 0.60/M = 0.00245775 USD > 0.001
        ActivityFailureException failure = await FailAsync("""
            {"models": ["openai/gpt-4o", "openai/gpt-4o-mini"], "prompt": "hi",
             "activity_budget_limit_usd": "0.001", "cumulative_activity_cost_usd": "0"}
            """);

        Assert.Equal(AiErrorCodes.BudgetExceeded, failure.Code);
        Assert.False(failure.Retryable);
        Assert.StartsWith("Budget exceeded before execution", failure.Message, StringComparison.Ordinal);
        Assert.Contains("openai/gpt-4o-mini is estimated at 0.00245775 USD (1 input + 4096 output tokens)", failure.Message, StringComparison.Ordinal);
        Assert.Null(failure.Usage);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task Execute_ExpensiveModelOverBudget_SkipsToCheaperModel()
    {
        _server.Default(ProviderAnswers.AnthropicPath, ProviderAnswers.Anthropic());
        _server.Default(ProviderAnswers.OpenAiPath, ProviderAnswers.OpenAi(prompt: 10, completion: 20, cached: 0));

        ActivityResult result = await RunAsync("""
            {"models": ["anthropic/claude-opus-4-1", "openai/gpt-4o-mini"], "prompt": "hi", "max_tokens": 1000,
             "activity_budget_limit_usd": 0.01, "cumulative_activity_cost_usd": 0}
            """);

        Assert.Equal(ProviderAnswers.OpenAiPath, Assert.Single(_server.Requests).Path);
        Assert.Equal("openai/gpt-4o-mini", result.Output["result"]!["model_id"]!.GetValue<string>());
        JsonObject skipped = Assert.Single(result.Output["result"]!["fallback_attempts"]!.AsArray())!.AsObject();
        Assert.Equal("anthropic/claude-opus-4-1", skipped["model"]!.GetValue<string>());
        Assert.Equal("skipped_budget", skipped["outcome"]!.GetValue<string>());
        Assert.Equal("""["anthropic/claude-opus-4-1"]""", result.Output["result"]!["budget_skipped_models"]!.ToJsonString());

        // opus: (1 × 15 + 1000 × 75) / 1e6
        Assert.Equal(0.075015m, skipped["estimated_cost_usd"]!.GetValue<decimal>());
        Assert.Equal(0.01m, skipped["budget_remaining_usd"]!.GetValue<decimal>());

        // (10 × 0.15 + 20 × 0.60) / 1e6
        Assert.Equal(0.0000135m, Assert.Single(result.Usage).CostUsd);
    }

    [Fact]
    public async Task Execute_SpendSoFarNearLimit_FailsBudgetExceeded()
    {
        ActivityFailureException failure = await FailAsync("""
            {"model": "openai/gpt-4o-mini", "prompt": "hi", "max_tokens": 100,
             "activity_budget_limit_usd": "0.05", "cumulative_activity_cost_usd": "0.04999"}
            """);

        Assert.Equal(AiErrorCodes.BudgetExceeded, failure.Code);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task Execute_WorkflowLimitTighterThanActivity_Enforced()
    {
        ActivityFailureException failure = await FailAsync("""
            {"model": "openai/gpt-4o", "prompt": "hi", "max_tokens": 1000,
             "activity_budget_limit_usd": "1.00", "workflow_budget_limit_usd": "0.005"}
            """);

        Assert.Equal(AiErrorCodes.BudgetExceeded, failure.Code);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task Execute_EstimateExactlyAtLimit_IsSent()
    {
        _server.Default(ProviderAnswers.OpenAiPath, ProviderAnswers.OpenAi());

        // 8 characters → 2 tokens × 2.50/M + 100 × 10/M = 0.000005 + 0.001
        await RunAsync("""
            {"model": "openai/gpt-4o", "prompt": "12345678", "max_tokens": 100, "activity_budget_limit_usd": "0.001005"}
            """);

        Assert.Single(_server.Requests);
    }

    [Fact]
    public async Task Execute_ModelPricingFromServer_WinsOverCatalog()
    {
        _server.Default(ProviderAnswers.OpenAiPath, ProviderAnswers.OpenAi(prompt: 1000, completion: 1000, cached: 0));

        ActivityResult result = await RunAsync("""
            {"model": "openai/gpt-4o-mini", "prompt": "hi", "max_tokens": 1000,
             "model_pricing": {"openai/gpt-4o-mini": {"input_price_per_million": "1", "output_price_per_million": "3"}},
             "activity_budget_limit_usd": "0.0031"}
            """);

        Assert.Equal(0.004m, Assert.Single(result.Usage).CostUsd);
    }

    [Fact]
    public async Task Execute_BudgetActionContinue_NeverBlocks()
    {
        _server.Default(ProviderAnswers.OpenAiPath, ProviderAnswers.OpenAi());

        ActivityResult result = await RunAsync("""
            {"model": "openai/gpt-4o", "prompt": "hi", "activity_budget_limit_usd": "0.000001", "budget_action": "continue"}
            """);

        Assert.Single(_server.Requests);
        Assert.Equal("openai/gpt-4o", result.Output["result"]!["model_id"]!.GetValue<string>());
    }

    [Fact]
    public async Task Execute_UnpricedModelUnderBudget_IsSkipped()
    {
        _server.Default(ProviderAnswers.OllamaPath, ProviderAnswers.Ollama());

        ActivityResult result = await RunAsync("""
            {"models": ["openai/brand-new-model", "ollama/llama3.2"], "prompt": "hi", "activity_budget_limit_usd": "1"}
            """);

        Assert.Equal("ollama/llama3.2", result.Output["result"]!["model_id"]!.GetValue<string>());
        Assert.Contains("no known price", result.Output["result"]!["fallback_attempts"]![0]!["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Execute_UnpricedModelWithoutBudget_ReportsUsageWithoutCost()
    {
        _server.Default(ProviderAnswers.OpenAiPath, ProviderAnswers.OpenAi());

        ActivityResult result = await RunAsync("""{"model": "openai/brand-new-model", "prompt": "hi"}""");

        UsageLine line = Assert.Single(result.Usage);
        Assert.Null(line.CostUsd);
        Assert.Equal(1000, line.InputTokens);
    }

    [Fact]
    public async Task Execute_ProviderWithoutKey_IsSkippedForNextModel()
    {
        AiSettings settings = _server.Settings().SetApiKey(AiSettings.OpenAi, null);
        _server.Default(ProviderAnswers.AnthropicPath, ProviderAnswers.Anthropic());

        ActivityResult result = await RunAsync("""{"models": ["openai/gpt-4o", "anthropic/claude-haiku-4-5"], "prompt": "hi"}""", settings);

        Assert.Equal(ProviderAnswers.AnthropicPath, Assert.Single(_server.Requests).Path);
        JsonObject skipped = result.Output["result"]!["fallback_attempts"]![0]!.AsObject();
        Assert.Equal("skipped_not_configured", skipped["outcome"]!.GetValue<string>());
        Assert.Contains("SPINDLE_OPENAI_API_KEY", skipped["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Execute_NoProviderConfigured_FailsNotRetryableWithoutRequest()
    {
        AiSettings settings = _server.Settings().SetApiKey(AiSettings.OpenAi, null);

        ActivityFailureException failure = await FailAsync("""{"model": "openai/gpt-4o", "prompt": "hi"}""", settings);

        Assert.Equal(AiErrorCodes.ProviderNotConfigured, failure.Code);
        Assert.False(failure.Retryable);
        Assert.Empty(_server.Requests);
    }

    [Fact]
    public async Task Execute_ApiKeyParameter_IsUsedAndRedactedFromErrors()
    {
        _server.Default(ProviderAnswers.OpenAiPath, ProviderAnswers.Error(401, "Incorrect API key provided: sk-from-secret-123."));

        ActivityFailureException failure = await FailAsync("""{"model": "openai/gpt-4o", "prompt": "hi", "api_key": "sk-from-secret-123"}""");

        Assert.Equal("Bearer sk-from-secret-123", Assert.Single(_server.Requests).Header("Authorization"));
        Assert.False(failure.Retryable);
        Assert.DoesNotContain("sk-from-secret-123", failure.Message, StringComparison.Ordinal);
        Assert.Contains("***", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Execute_ApiKeyObjectByProvider_AppliesPerProvider()
    {
        _server.Default(ProviderAnswers.AnthropicPath, ProviderAnswers.Anthropic());

        await RunAsync("""{"model": "anthropic/claude-haiku-4-5", "prompt": "hi", "api_key": {"anthropic": "sk-ant-secret", "openai": "x"}}""");

        Assert.Equal("sk-ant-secret", Assert.Single(_server.Requests).Header("x-api-key"));
    }

    [Fact]
    public async Task Execute_BaseUrlEndingInV1_DoesNotDoubleTheVersion()
    {
        AiSettings settings = _server.Settings().SetBaseUrl(AiSettings.OpenAi, new Uri(_server.BaseAddress, "v1"));
        _server.Default(ProviderAnswers.OpenAiPath, ProviderAnswers.OpenAi());

        await RunAsync("""{"model": "openai/gpt-4o", "prompt": "hi"}""", settings);

        Assert.Equal(ProviderAnswers.OpenAiPath, Assert.Single(_server.Requests).Path);
    }

    [Theory]
    [InlineData("""{"prompt": "hi"}""", "'model'")]
    [InlineData("""{"model": "gpt-4o", "prompt": "hi"}""", "provider/name")]
    [InlineData("""{"model": "azure/gpt-4o", "prompt": "hi"}""", "unknown provider 'azure'")]
    [InlineData("""{"models": [], "prompt": "hi"}""", "at least one model")]
    [InlineData("""{"model": "openai/gpt-4o"}""", "'prompt'")]
    [InlineData("""{"model": "openai/gpt-4o", "messages": [{"role": "system", "content": "x"}]}""", "'prompt'")]
    [InlineData("""{"model": "openai/gpt-4o", "messages": [{"role": "tool", "content": "x"}]}""", "role")]
    [InlineData("""{"model": "openai/gpt-4o", "messages": [{"role": "user", "content": 3}]}""", "content must be a string")]
    [InlineData("""{"model": "openai/gpt-4o", "prompt": "hi", "temperature": 3}""", "temperature")]
    [InlineData("""{"model": "openai/gpt-4o", "prompt": "hi", "max_tokens": 0}""", "max_tokens")]
    [InlineData("""{"model": "openai/gpt-4o", "prompt": "hi", "response_format": "xml"}""", "response_format")]
    public async Task Execute_InvalidParameters_FailsNotRetryableWithoutRequest(string parameters, string expected)
    {
        ActivityFailureException failure = await FailAsync(parameters);

        Assert.Equal(ErrorCodes.InvalidParameters, failure.Code);
        Assert.False(failure.Retryable);
        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
        Assert.Empty(_server.Requests);
    }

    private const string ChatRequestJsonInstruction = "Respond with a single valid JSON value";

    private Task<ActivityResult> RunAsync(string parameters, AiSettings? settings = null) =>
        new LlmPromptActivity(Http, settings ?? _server.Settings()).ExecuteAsync(TestContexts.For("llm_prompt", TestContexts.Parse(parameters)), CancellationToken.None);

    private Task<ActivityFailureException> FailAsync(string parameters, AiSettings? settings = null) =>
        Assert.ThrowsAsync<ActivityFailureException>(() => RunAsync(parameters, settings));
}
