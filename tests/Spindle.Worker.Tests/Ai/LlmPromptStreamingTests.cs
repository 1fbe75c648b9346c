using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Spindle.Protocol;
using Spindle.Worker.Std;
using Spindle.Worker.Std.Ai;
using Spindle.Worker.Tests.Support;

namespace Spindle.Worker.Tests.Ai;

/// <summary><c>llm_prompt</c> with <c>streaming: true</c> against a local server speaking each provider's streaming wire format.</summary>
public sealed class LlmPromptStreamingTests : IAsyncLifetime
{
    private static readonly HttpClient Http = HttpRequestActivity.CreateDefaultHttpClient();
    private readonly ConcurrentQueue<(string Text, long Index)> _published = new();
    private FakeProviderServer _server = null!;

    public async Task InitializeAsync() => _server = await FakeProviderServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public static TheoryData<string> Providers => [AiSettings.OpenAi, AiSettings.Anthropic, AiSettings.Google, AiSettings.Ollama];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Execute_Streaming_PublishesPiecesInOrderAndAnswersAsWithoutStreaming(string provider)
    {
        (string model, string path, ScriptedAnswer plain, string text) = provider switch
        {
            AiSettings.OpenAi => ("openai/gpt-4o", ProviderAnswers.OpenAiPath, ProviderAnswers.OpenAi(), "Hello from OpenAI"),
            AiSettings.Anthropic => ("anthropic/claude-haiku-4-5", ProviderAnswers.AnthropicPath, ProviderAnswers.Anthropic(), "Hello from Claude"),
            AiSettings.Google => ("google/gemini-2.5-flash", ProviderAnswers.GooglePath("gemini-2.5-flash"), ProviderAnswers.Google(), "Hello from Gemini"),
            _ => ("ollama/llama3.2", ProviderAnswers.OllamaPath, ProviderAnswers.Ollama(), "Hello from Llama"),
        };
        string[] pieces = ["Hello", " from", " " + text.Split(' ')[^1]];
        _server.Default(path, plain);
        string parameters = $$"""{"model": "{{model}}", "prompt": "Say hello", "max_tokens": 300}""";
        ActivityResult expected = await RunAsync(parameters);
        Script(provider, StreamEnd.Finished, pieces);

        ActivityResult streamed = await RunAsync(parameters.Replace("{", """{"streaming": true, """, StringComparison.Ordinal), publish: true);

        Assert.Equal(expected.Output.ToJsonString(), streamed.Output.ToJsonString());
        Assert.Equal(expected.Usage, streamed.Usage);
        Assert.Equal(text, streamed.Output["result"]!["content"]!.GetValue<string>());
        Assert.Equal(pieces, _published.Select(p => p.Text));
        Assert.Equal([0L, 1L, 2L], _published.Select(p => p.Index));

        RecordedRequest request = _server.Requests[^1];
        switch (provider)
        {
            case AiSettings.OpenAi:
                Assert.True(request.Body!["stream"]!.GetValue<bool>());
                Assert.True(request.Body["stream_options"]!["include_usage"]!.GetValue<bool>());
                Assert.Equal("text/event-stream", request.Header("Accept"));
                break;
            case AiSettings.Anthropic:
                Assert.True(request.Body!["stream"]!.GetValue<bool>());
                Assert.Equal("text/event-stream", request.Header("Accept"));
                break;
            case AiSettings.Google:
                Assert.Equal(StreamedAnswers.GoogleStreamPath("gemini-2.5-flash"), request.Path);
                Assert.Equal("?alt=sse", request.Query);
                Assert.Equal("text/event-stream", request.Header("Accept"));
                break;
            default:
                Assert.True(request.Body!["stream"]!.GetValue<bool>());
                Assert.Equal("application/x-ndjson", request.Header("Accept"));
                break;
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Execute_StreamCutAfterSomeText_FailsStreamErrorWithoutRetryOrFallback(string provider)
    {
        // The connection is cut once the client has read (and published) both pieces.
        Script(provider, StreamEnd.Cut, ["Hel", "lo"], beforeEnd: () => Eventually(() => _published.Count == 2));
        _server.Default(ProviderAnswers.OpenAiPath, ProviderAnswers.OpenAi());

        ActivityFailureException failure = await FailAsync($$"""
            {"models": ["{{ModelOf(provider)}}", "openai/gpt-4o-mini"], "prompt": "hi", "streaming": true}
            """);

        Assert.True(failure.Code == AiErrorCodes.StreamError, failure.Message);
        Assert.True(failure.Retryable);
        Assert.Contains("broke off after 5 characters", failure.Message, StringComparison.Ordinal);
        Assert.Single(_server.Requests);
        Assert.Equal(["Hel", "lo"], _published.Select(p => p.Text));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Execute_ErrorReportedInsideTheStream_FailsStreamErrorWithTheProviderMessage(string provider)
    {
        Script(provider, StreamEnd.Error, ["Par", "tial"]);

        ActivityFailureException failure = await FailAsync($$"""{"model": "{{ModelOf(provider)}}", "prompt": "hi", "streaming": true}""");

        Assert.Equal(AiErrorCodes.StreamError, failure.Code);
        Assert.True(failure.Retryable);
        Assert.Contains("reported an error in the stream", failure.Message, StringComparison.Ordinal);
        Assert.Single(_server.Requests);
        if (provider == AiSettings.Anthropic)
        {
            // message_start reported the input tokens before the error: that spend is still recorded.
            Assert.Contains("Overloaded", failure.Message, StringComparison.Ordinal);
            UsageLine line = Assert.Single(failure.Usage!);
            Assert.Equal(1200, line.InputTokens);
            Assert.Equal(1000, line.CacheReadTokens);
        }
    }

    [Fact]
    public async Task Execute_StreamRefusedBeforeAnyText_RetriedLikeAPlainCall()
    {
        _server.Script(ProviderAnswers.OpenAiPath, ProviderAnswers.Error(503), StreamedAnswers.OpenAi(["Hi", "!"]));

        ActivityResult result = await RunAsync("""{"model": "openai/gpt-4o", "prompt": "hi", "streaming": true}""", publish: true);

        Assert.Equal("Hi!", result.Output["result"]!["content"]!.GetValue<string>());
        Assert.Equal(2, _server.Requests.Count);
        Assert.Equal(["Hi", "!"], _published.Select(p => p.Text));
    }

    [Fact]
    public async Task Execute_StreamFailsBeforeAnyText_FallsBackToTheNextModel()
    {
        _server.Default(ProviderAnswers.AnthropicPath, ProviderAnswers.Error(529, "Overloaded"));
        _server.Default(ProviderAnswers.OpenAiPath, StreamedAnswers.OpenAi(["Fallback", " answer"]));

        ActivityResult result = await RunAsync("""
            {"models": ["anthropic/claude-haiku-4-5", "openai/gpt-4o"], "prompt": "hi", "streaming": true}
            """, publish: true);

        Assert.Equal("Fallback answer", result.Output["result"]!["content"]!.GetValue<string>());
        Assert.Equal("anthropic/claude-haiku-4-5", result.Output["result"]!["fallback_attempts"]![0]!["model"]!.GetValue<string>());
        Assert.Equal(["Fallback", " answer"], _published.Select(p => p.Text));
    }

    [Fact]
    public async Task Execute_PublishingFails_StopsPublishingAndStillAnswers()
    {
        _server.Default(ProviderAnswers.OpenAiPath, StreamedAnswers.OpenAi(["a", "b", "c"]));
        int calls = 0;
        ActivityContext context = Context("""{"model": "openai/gpt-4o", "prompt": "hi", "streaming": true}""");
        context.Publisher = (_, _, _) =>
        {
            calls++;
            throw new HttpRequestException("server gone");
        };

        ActivityResult result = await new LlmPromptActivity(Http, _server.Settings()).ExecuteAsync(context, CancellationToken.None);

        Assert.Equal("abc", result.Output["result"]!["content"]!.GetValue<string>());
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task Execute_StreamingJsonMode_ParsesTheAssembledAnswer()
    {
        _server.Default(ProviderAnswers.OllamaPath, StreamedAnswers.Ollama(["{\"answer\"", ": 4", "2}"]));

        ActivityResult result = await RunAsync("""{"model": "ollama/llama3.2", "prompt": "hi", "json": true, "streaming": true}""");

        Assert.Equal(42, result.Output["result"]!["response"]!["answer"]!.GetValue<int>());
        Assert.Equal("json", Assert.Single(_server.Requests).Body!["format"]!.GetValue<string>());
    }

    [Fact]
    public async Task Execute_StreamingNotABoolean_FailsInvalidParameters()
    {
        ActivityFailureException failure = await FailAsync("""{"model": "openai/gpt-4o", "prompt": "hi", "streaming": "yes"}""");

        Assert.Equal(ErrorCodes.InvalidParameters, failure.Code);
        Assert.Contains("'streaming'", failure.Message, StringComparison.Ordinal);
        Assert.Empty(_server.Requests);
    }

    private static string ModelOf(string provider) => provider switch
    {
        AiSettings.OpenAi => "openai/gpt-4o",
        AiSettings.Anthropic => "anthropic/claude-haiku-4-5",
        AiSettings.Google => "google/gemini-2.5-flash",
        _ => "ollama/llama3.2",
    };

    private void Script(string provider, StreamEnd end, IReadOnlyList<string> pieces, Func<Task>? beforeEnd = null)
    {
        (string path, ScriptedAnswer answer) = provider switch
        {
            AiSettings.OpenAi => (ProviderAnswers.OpenAiPath, StreamedAnswers.OpenAi(pieces, end)),
            AiSettings.Anthropic => (ProviderAnswers.AnthropicPath, StreamedAnswers.Anthropic(pieces, end)),
            AiSettings.Google => (StreamedAnswers.GoogleStreamPath("gemini-2.5-flash"), StreamedAnswers.Google(pieces, end)),
            _ => (ProviderAnswers.OllamaPath, StreamedAnswers.Ollama(pieces, end)),
        };
        _server.Script(path, answer with { BeforeEnd = beforeEnd });
    }

    private static async Task Eventually(Func<bool> condition)
    {
        for (int i = 0; i < 1000 && !condition(); i++)
        {
            await Task.Delay(10);
        }
    }

    private static ActivityContext Context(string parameters) => TestContexts.For("llm_prompt", TestContexts.Parse(parameters));

    private Task<ActivityResult> RunAsync(string parameters, bool publish = false)
    {
        ActivityContext context = Context(parameters);
        if (publish)
        {
            context.Publisher = (text, index, _) =>
            {
                _published.Enqueue((text, index));
                return Task.FromResult(1);
            };
        }

        return new LlmPromptActivity(Http, _server.Settings()).ExecuteAsync(context, CancellationToken.None);
    }

    private Task<ActivityFailureException> FailAsync(string parameters) => Assert.ThrowsAsync<ActivityFailureException>(() => RunAsync(parameters, publish: true));
}
