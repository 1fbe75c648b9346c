using System.Text.Json.Nodes;
using Spindle.TestSupport;
using Spindle.Worker.Std;
using Spindle.Worker.Std.Ai;

namespace Spindle.Worker.Tests.Ai;

/// <summary>
/// <c>llm_prompt</c> with <c>streaming: true</c> run by a real worker against a real server, with a local server
/// speaking each provider's streaming format and Server-Sent Events subscribers on the activity's stream.
/// </summary>
public sealed class LlmStreamingEndToEndTests(ServerFixture server) : IClassFixture<ServerFixture>, IAsyncLifetime
{
    private static readonly HttpClient Http = HttpRequestActivity.CreateDefaultHttpClient();
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private FakeProviderServer _provider = null!;

    public async Task InitializeAsync() => _provider = await FakeProviderServer.StartAsync();

    public async Task DisposeAsync() => await _provider.DisposeAsync();

    public static TheoryData<string> Providers => [AiSettings.OpenAi, AiSettings.Anthropic, AiSettings.Google, AiSettings.Ollama];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task StreamingPrompt_Subscribers_GetEachTokenLiveInOrderThenTheRecordedResult(string provider)
    {
        string[] pieces = ["Once", " upon", " a", " time"];

        // Piece i is sent only after the first subscriber has received piece i - 1: each token reaches the subscriber
        // while the provider is still answering.
        var received = pieces.Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        Task BeforePart(int i) => i == 0 ? Task.CompletedTask : received[i - 1].Task.WaitAsync(Patience);
        string model = Script(provider, pieces, StreamEnd.Finished, BeforePart, beforeEnd: null);

        await using var run = await StartAsync(model);
        await using SseSubscription early = await SseSubscription.OpenAsync(server.Http, $"/api/v1/workflows/{run.WorkflowId}/activities/ask/stream");
        var earlyFrames = new List<JsonObject>();
        SseSubscription? late = null;
        try
        {
            while (true)
            {
                JsonObject frame = (await early.ReadUntilAsync(_ => true))[^1].Frame;
                earlyFrames.Add(frame);
                if (frame["type"]!.GetValue<string>() != "token")
                {
                    break;
                }

                int index = frame["index"]!.GetValue<int>();
                if (index == 1)
                {
                    // A late subscriber, joining after two tokens went out, gets those first.
                    late = await SseSubscription.OpenAsync(server.Http, $"/api/v1/workflows/{run.WorkflowId}/activities/ask/stream");
                }

                received[index].TrySetResult();
            }

            var lateFrames = (await late!.ReadUntilAsync(f => f["type"]!.GetValue<string>() != "token")).Select(f => f.Frame).ToList();

            string text = string.Concat(pieces);
            foreach (List<JsonObject> frames in new[] { earlyFrames, lateFrames })
            {
                Assert.Equal([.. pieces.Select(_ => "token"), "complete"], frames.Select(f => f["type"]!.GetValue<string>()));
                Assert.Equal(pieces, frames.Take(pieces.Length).Select(f => f["text"]!.GetValue<string>()));
                Assert.Equal(Enumerable.Range(0, pieces.Length), frames.Take(pieces.Length).Select(f => f["index"]!.GetValue<int>()));
                Assert.Equal(text, frames[^1]["result"]!["result"]!["content"]!.GetValue<string>());
            }

            JsonObject workflow = await run.WaitTerminalAsync();
            Assert.True(workflow["status"]!.GetValue<string>() == "completed", workflow.ToJsonString());
            var (_, output) = await server.GetAsync($"/api/v1/workflows/{run.WorkflowId}/activities/ask/output");
            JsonObject result = output["output"]!.AsArray().Single(o => o!["name"]!.GetValue<string>() == "result")!["value"]!.AsObject();
            Assert.Equal(text, result["content"]!.GetValue<string>());
            Assert.Equal(model, result["model_id"]!.GetValue<string>());

            // The usage of the streamed call is recorded as a cost line, priced like a plain call.
            var (_, history) = await server.GetAsync($"/api/v1/workflows/{run.WorkflowId}/cost/history");
            JsonNode line = Assert.Single(history["_"]!.AsArray())!;
            Assert.Equal(result["usage"]!["prompt_tokens"]!.GetValue<long>(), line["prompt_tokens"]!.GetValue<long>());
            Assert.Equal(result["usage"]!["output_tokens"]!.GetValue<long>(), line["output_tokens"]!.GetValue<long>());
            Assert.True(result["usage"]!["output_tokens"]!.GetValue<long>() > 0);
            Assert.Equal(result["cost_usd"]!.GetValue<decimal>(), decimal.Parse(line["cost_usd"]!.ToString(), System.Globalization.CultureInfo.InvariantCulture));
        }
        finally
        {
            if (late is not null)
            {
                await late.DisposeAsync();
            }
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task StreamingPrompt_ProviderBreaksOffMidStream_FailsTheActivityAndEndsTheStreamWithAnError(string provider)
    {
        string[] pieces = ["Half", " an", " answer"];
        var subscriberHasAll = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        StreamEnd end = provider == AiSettings.OpenAi ? StreamEnd.Cut : StreamEnd.Error;
        string model = Script(provider, pieces, end, beforePart: null, beforeEnd: () => subscriberHasAll.Task.WaitAsync(Patience));

        await using var run = await StartAsync(model);
        await using SseSubscription subscriber = await SseSubscription.OpenAsync(server.Http, $"/api/v1/workflows/{run.WorkflowId}/activities/ask/stream");
        var frames = new List<JsonObject>();
        while (true)
        {
            JsonObject frame = (await subscriber.ReadUntilAsync(_ => true))[^1].Frame;
            frames.Add(frame);
            if (frames.Count == pieces.Length)
            {
                subscriberHasAll.TrySetResult();
            }

            if (frame["type"]!.GetValue<string>() != "token")
            {
                break;
            }
        }

        Assert.Equal([.. pieces.Select(_ => "token"), "error"], frames.Select(f => f["type"]!.GetValue<string>()));
        Assert.Equal(pieces, frames.Take(pieces.Length).Select(f => f["text"]!.GetValue<string>()));
        Assert.Contains("broke off", frames[^1]["error"]!.GetValue<string>(), StringComparison.Ordinal);

        JsonObject workflow = await run.WaitTerminalAsync();
        Assert.Equal("failed", workflow["status"]!.GetValue<string>());
        JsonNode activity = workflow["activities"]!.AsArray().Single(a => a!["activity_key"]!.GetValue<string>() == "ask")!;
        Assert.Equal(AiErrorCodes.StreamError, activity["error_detail"]!["code"]!.GetValue<string>());
    }

    private string Script(string provider, string[] pieces, StreamEnd end, Func<int, Task>? beforePart, Func<Task>? beforeEnd)
    {
        (string model, string path, ScriptedAnswer answer) = provider switch
        {
            AiSettings.OpenAi => ("openai/gpt-4o", ProviderAnswers.OpenAiPath, StreamedAnswers.OpenAi(pieces, end, beforePart)),
            AiSettings.Anthropic => ("anthropic/claude-haiku-4-5", ProviderAnswers.AnthropicPath, StreamedAnswers.Anthropic(pieces, end, beforePart)),
            AiSettings.Google => ("google/gemini-2.5-flash", StreamedAnswers.GoogleStreamPath("gemini-2.5-flash"), StreamedAnswers.Google(pieces, end, beforePart)),
            _ => ("ollama/llama3.2", ProviderAnswers.OllamaPath, StreamedAnswers.Ollama(pieces, end, beforePart)),
        };
        _provider.Default(path, answer with { BeforeEnd = beforeEnd });
        return model;
    }

    private async Task<WorkflowRun> StartAsync(string model)
    {
        string queue = "llm_" + Guid.NewGuid().ToString("N")[..8];
        string name = "stream_" + Guid.NewGuid().ToString("N")[..8];
        await server.DeployAsync($$"""
            name: {{name}}
            activities:
              - key: ask
                worker: {{queue}}
                activity_name: llm_prompt
                parameters: {model: "{{model}}", prompt: "Tell a story", streaming: true}
                settings:
                  retry: {max_attempts: 1}
            """);
        var llm = new LlmPromptActivity(Http, _provider.Settings());
        var registry = new ActivityRegistry().Register("llm_prompt", llm.ExecuteAsync);
        var worker = new SpindleWorker(
            new SpindleWorkerOptions
            {
                ApiUrl = new Uri(server.BaseUrl),
                RoutingKey = queue,
                WorkerId = "w_" + queue,
                PollWaitSeconds = 1,
                ShutdownTimeout = TimeSpan.FromSeconds(5),
            },
            registry);
        var stop = new CancellationTokenSource();
        Task running = worker.RunAsync(stop.Token);
        string id = await server.SubmitAsync(name);
        return new WorkflowRun(server, id, worker, stop, running);
    }

    /// <summary>A submitted run and the worker serving it, stopped on dispose.</summary>
    private sealed class WorkflowRun(ServerFixture server, string workflowId, SpindleWorker worker, CancellationTokenSource stop, Task running) : IAsyncDisposable
    {
        public string WorkflowId { get; } = workflowId;

        public async Task<JsonObject> WaitTerminalAsync()
        {
            for (int i = 0; i < 10; i++)
            {
                var (_, workflow) = await server.GetAsync($"/api/v1/workflows/{WorkflowId}?wait_seconds=5");
                if (workflow["status"]!.GetValue<string>() is "completed" or "failed" or "cancelled")
                {
                    return workflow;
                }
            }

            throw new TimeoutException($"workflow {WorkflowId} did not finish");
        }

        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync();
            await running.WaitAsync(TimeSpan.FromSeconds(10));
            worker.Dispose();
            stop.Dispose();
        }
    }
}
