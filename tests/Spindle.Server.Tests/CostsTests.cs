using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>
/// A local OpenAI-compatible server (chat completions, also streamed, and embeddings): answers with the requested model,
/// fixed token counts, and a content derived from the prompt; records each request's model.
/// </summary>
public sealed class LocalOpenAiServer : IAsyncDisposable
{
    public const long PromptTokens = 12;
    public const long CompletionTokens = 5;

    private readonly WebApplication _app;

    private LocalOpenAiServer(WebApplication app, string baseUrl)
    {
        _app = app;
        BaseUrl = baseUrl;
    }

    public string BaseUrl { get; }

    public ConcurrentQueue<string> Models { get; } = new();

    public static async Task<LocalOpenAiServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        LocalOpenAiServer? self = null;
        app.MapPost("/v1/chat/completions", async (HttpRequest request, HttpResponse response) =>
        {
            var body = (await JsonNode.ParseAsync(request.Body))!.AsObject();
            var model = body["model"]!.GetValue<string>();
            self!.Models.Enqueue(model);
            var prompt = body["messages"]!.AsArray().Last()!["content"]!.GetValue<string>();
            var json = body["response_format"] is not null;
            var content = json ? """{"label": "safe", "score": 0.1}""" : "Answer to: " + prompt;
            if (body["stream"]?.GetValue<bool>() == true)
            {
                await StreamAsync(response, model, content);
                return Results.Empty;
            }
            return Results.Json(new JsonObject
            {
                ["id"] = "chatcmpl-local",
                ["object"] = "chat.completion",
                ["model"] = model,
                ["choices"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0,
                    ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = content },
                    ["finish_reason"] = "stop",
                }),
                ["usage"] = new JsonObject { ["prompt_tokens"] = PromptTokens, ["completion_tokens"] = CompletionTokens, ["total_tokens"] = PromptTokens + CompletionTokens },
            });
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new LocalOpenAiServer(app, address.TrimEnd('/'));
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>The answer a word at a time as Server-Sent Events, then the usage chunk and <c>[DONE]</c>.</summary>
    private static async Task StreamAsync(HttpResponse response, string model, string content)
    {
        response.ContentType = "text/event-stream";
        async Task SendAsync(string data)
        {
            await response.WriteAsync($"data: {data}\n\n");
            await response.Body.FlushAsync();
        }
        foreach (var piece in System.Text.RegularExpressions.Regex.Matches(content, @"\s*\S+").Select(m => m.Value))
        {
            await SendAsync(new JsonObject
            {
                ["object"] = "chat.completion.chunk",
                ["model"] = model,
                ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = new JsonObject { ["content"] = piece } }),
            }.ToJsonString());
        }
        await SendAsync("""{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}""");
        await SendAsync(new JsonObject
        {
            ["object"] = "chat.completion.chunk",
            ["choices"] = new JsonArray(),
            ["usage"] = new JsonObject { ["prompt_tokens"] = PromptTokens, ["completion_tokens"] = CompletionTokens, ["total_tokens"] = PromptTokens + CompletionTokens },
        }.ToJsonString());
        await SendAsync("[DONE]");
    }
}

/// <summary>A server with its std worker whose OpenAI provider is the local server (set in the environment before start).</summary>
public sealed class AiServerFixture : ServerFixture
{
    public LocalOpenAiServer Provider { get; private set; } = null!;

    protected override bool WithStdWorker => true;

    public override async Task InitializeAsync()
    {
        Provider = await LocalOpenAiServer.StartAsync();
        Environment.SetEnvironmentVariable("SPINDLE_OPENAI_BASE_URL", Provider.BaseUrl);
        Environment.SetEnvironmentVariable("SPINDLE_OPENAI_API_KEY", "sk-local-test");
        await base.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Provider.DisposeAsync();
    }

    public async Task<JsonObject> WaitTerminalAsync(string id)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var (status, wf) = await GetAsync($"/api/v1/workflows/{id}?wait_seconds=10");
            Assert.Equal(200, status);
            if (wf["status"]!.GetValue<string>() is "completed" or "failed" or "cancelled")
            {
                return wf;
            }
            Assert.True(DateTime.UtcNow < deadline, "workflow did not finish: " + wf.ToJsonString());
        }
    }

    public async Task<JsonArray> HistoryAsync(string id)
    {
        using var response = await Http.GetAsync($"/api/v1/workflows/{id}/cost/history");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray();
    }
}

[CollectionDefinition(Name)]
public sealed class AiServerCollection : ICollectionFixture<AiServerFixture>
{
    public const string Name = "server-with-local-openai";
}

/// <summary>llm_prompt end to end: budgets, fallback, recorded costs and the result cache, against a local provider.</summary>
[Collection(AiServerCollection.Name)]
public sealed class LlmCostEndToEndTests(AiServerFixture server)
{
    [Fact]
    public async Task LlmPrompt_BudgetBelowEstimate_AbortsBeforeAnyRequest()
    {
        await server.DeployAsync("""
            name: e2e-abort
            activities:
              - key: ask
                activity_name: llm_prompt
                parameters: {model: openai/gpt-4o, prompt: "never sent", max_tokens: 100}
                settings: {budget: {limit: "0.0001"}}
            """);
        var before = server.Provider.Models.Count;
        var id = await server.SubmitAsync("e2e-abort");

        var wf = await server.WaitTerminalAsync(id);

        Assert.Equal("failed", wf["status"]!.GetValue<string>());
        Assert.Equal("BUDGET_EXCEEDED", wf["activities"]![0]!["error_code"]?.GetValue<string>() ?? wf["activities"]![0]!["error_detail"]?["code"]?.GetValue<string>());
        Assert.Equal(before, server.Provider.Models.Count);
        var line = Assert.Single(await server.HistoryAsync(id))!;
        Assert.Equal("abort", line["budget_event"]!.GetValue<string>());
        Assert.True(line["budget_exceeded"]!.GetValue<bool>());
        Assert.Equal("0.0000", line["cost_usd"]!.GetValue<string>());
    }

    [Fact]
    public async Task LlmPrompt_TightBudget_FallsBackToCheaperModelAndRecordsCost()
    {
        await server.DeployAsync("""
            name: e2e-fallback
            settings: {budget: {limit: "0.05"}}
            activities:
              - key: ask
                activity_name: llm_prompt
                parameters: {models: [openai/gpt-4o, openai/gpt-4o-mini], prompt: "fallback please", max_tokens: 100}
                settings: {budget: {limit: "0.001"}}
            """);
        var before = server.Provider.Models.Count;
        var id = await server.SubmitAsync("e2e-fallback");

        var wf = await server.WaitTerminalAsync(id);

        Assert.True(wf["status"]!.GetValue<string>() == "completed", wf.ToJsonString());
        Assert.Equal(["gpt-4o-mini"], server.Provider.Models.Skip(before).ToList());
        // 12 input tokens at $0.15/M + 5 output tokens at $0.60/M
        var (_, cost) = await server.GetAsync($"/api/v1/workflows/{id}/cost");
        Assert.Equal("0.0000048", cost["total_cost_usd"]!.GetValue<string>());
        Assert.Equal("e2e-fallback", cost["workflow_name"]!.GetValue<string>());
        Assert.Equal("0.0500", cost["budget_limit_usd"]!.GetValue<string>());
        Assert.Equal("0.0499952", cost["budget_remaining_usd"]!.GetValue<string>());
        Assert.Equal(1, cost["total_activities"]!.GetValue<int>());
        var line = Assert.Single(await server.HistoryAsync(id))!;
        Assert.Equal(("openai", "gpt-4o-mini"), (line["provider"]!.GetValue<string>(), line["model"]!.GetValue<string>()));
        Assert.Equal((12, 5, 17, 0), (line["prompt_tokens"]!.GetValue<int>(), line["output_tokens"]!.GetValue<int>(),
            line["total_tokens"]!.GetValue<int>(), line["cached_tokens"]!.GetValue<int>()));
        Assert.Equal("downgrade", line["budget_event"]!.GetValue<string>());
        Assert.Equal("0.0010", line["budget_limit_usd"]!.GetValue<string>());

        var (status, analytics) = await server.GetAsync("/api/v1/cost/analytics?group_by=model&limit=100");
        Assert.Equal(200, status);
        Assert.Contains(analytics["groups"]!.AsArray(), g => g!["key"]!.GetValue<string>() == "openai/gpt-4o-mini");
        Assert.Contains(analytics["top_workflows"]!.AsArray(), w => w!["workflow_id"]!.GetValue<string>() == id);
        Assert.True(analytics["budget_downgrades"]!.GetValue<int>() >= 1);
    }

    [Fact]
    public async Task LlmPrompt_CachedSecondRun_CostsNothingAndSendsNoRequest()
    {
        await server.DeployAsync("""
            name: e2e-cache
            activities:
              - key: ask
                activity_name: llm_prompt
                parameters: {model: openai/gpt-4o-mini, prompt: "{{INPUT.text}}", max_tokens: 50}
                settings: {cache: {enabled: true, ttl_seconds: 600}}
            """);
        var input = new JsonObject { ["text"] = "cache me " + Guid.NewGuid() };
        var first = await server.SubmitAsync("e2e-cache", input);
        Assert.Equal("completed", (await server.WaitTerminalAsync(first))["status"]!.GetValue<string>());
        var requests = server.Provider.Models.Count;

        var second = await server.SubmitAsync("e2e-cache", input.DeepClone().AsObject());
        var wf = await server.WaitTerminalAsync(second);

        Assert.Equal("completed", wf["status"]!.GetValue<string>());
        Assert.Equal(requests, server.Provider.Models.Count);
        var (_, cost) = await server.GetAsync($"/api/v1/workflows/{second}/cost");
        Assert.Equal("0.0000", cost["total_cost_usd"]!.GetValue<string>());
        Assert.Equal(0, cost["total_activities"]!.GetValue<int>());
        var (_, events) = await server.GetAsync($"/api/v1/workflows/{second}/events?event_type=ActivityCompleted");
        Assert.True(events["events"]![0]!["payload"]!["cache_hit"]!.GetValue<bool>());
        var (_, output) = await server.GetAsync($"/api/v1/workflows/{second}/activities/ask/output");
        Assert.Contains("cache me", output.ToJsonString(), StringComparison.Ordinal);

        var (status, invalidated) = await server.PostAsync("/api/v1/cache/invalidate", new JsonObject { ["pattern"] = "std.llm_prompt:*" });
        Assert.Equal(200, status);
        Assert.True(invalidated["success"]!.GetValue<bool>());
        Assert.True(invalidated["count"]!.GetValue<int>() >= 1);
        var third = await server.SubmitAsync("e2e-cache", input.DeepClone().AsObject());
        await server.WaitTerminalAsync(third);
        Assert.Equal(requests + 1, server.Provider.Models.Count);
    }

    public static TheoryData<string, string> AiExamples => new()
    {
        { "20-research-assistant.yaml", """{"question": "What limits battery life in cold weather?"}""" },
        { "21-content-moderation.yaml", """{"text": "Have a lovely day, everyone!"}""" },
        { "22-streaming-answer.yaml", """{"topic": "tides"}""" },
    };

    [Theory]
    [MemberData(nameof(AiExamples))]
    public async Task AiExample_AgainstLocalProvider_CompletesWithRecordedCosts(string file, string input)
    {
        var deployed = await server.DeployAsync(File.ReadAllText(Path.Combine(ExamplesTests.RepositoryRoot(), "examples", file)));
        var id = await server.SubmitAsync(deployed["name"]!.GetValue<string>(), JsonNode.Parse(input)!.AsObject());

        var wf = await server.WaitTerminalAsync(id);

        Assert.True(wf["status"]!.GetValue<string>() == "completed", wf.ToJsonString());
        var (_, cost) = await server.GetAsync($"/api/v1/workflows/{id}/cost");
        Assert.True(cost["total_activities"]!.GetValue<int>() >= 1, cost.ToJsonString());
    }

    [Fact]
    public async Task StreamingExample_AgainstLocalProvider_StreamsTheTokensOfTheRecordedAnswer()
    {
        var deployed = await server.DeployAsync(File.ReadAllText(Path.Combine(ExamplesTests.RepositoryRoot(), "examples", "22-streaming-answer.yaml")));
        var id = await server.SubmitAsync(deployed["name"]!.GetValue<string>(), new JsonObject { ["topic"] = "tides" });
        var wf = await server.WaitTerminalAsync(id);
        Assert.True(wf["status"]!.GetValue<string>() == "completed", wf.ToJsonString());

        // A finished stream is kept for a while: a subscriber now gets every token, then the result.
        await using var sse = await SseSubscription.OpenAsync(server.Http, $"/api/v1/workflows/{id}/activities/answer/stream");
        var frames = (await sse.ReadUntilAsync(f => (string?)f["type"] is "complete" or "error")).Select(f => f.Frame).ToList();

        Assert.Equal("complete", frames[^1]["type"]!.GetValue<string>());
        var tokens = frames.SkipLast(1).ToList();
        Assert.True(tokens.Count > 1, string.Join("\n", frames.Select(f => f.ToJsonString())));
        Assert.All(tokens, t => Assert.Equal("token", t["type"]!.GetValue<string>()));
        var content = frames[^1]["result"]!["result"]!["content"]!.GetValue<string>();
        Assert.Equal("Answer to: Why are there tides?", content);
        Assert.Equal(content, string.Concat(tokens.Select(t => t["text"]!.GetValue<string>())));
        var (_, summary) = await server.GetAsync($"/api/v1/workflows/{id}/activities/summary/output");
        Assert.Contains(content, summary.ToJsonString(), StringComparison.Ordinal);
    }
}

/// <summary>The cost and cache routes on a server whose tests act as the worker.</summary>
[Collection(ServerCollection.Name)]
public sealed class CostRoutesTests(ServerFixture server)
{
    [Fact]
    public async Task Complete_UsageWithoutCost_PricedFromCatalogAndUnknownModelWarned()
    {
        await server.DeployAsync("name: cost-usage\nactivities:\n  - {key: a, worker: costq, activity_name: echo}\n");
        var id = await server.SubmitAsync("cost-usage");
        var claimed = (await server.PollAsync("w-cost", routingKey: "costq")).Single()!;
        var (status, answer) = await server.PostAsync($"/api/v1/activities/{claimed["activity_id"]}/complete", JsonNode.Parse("""
            {"worker_id": "w-cost", "output": {"ok": true}, "cost_usd": "0.001",
             "usage": [{"provider": "openai", "model": "gpt-4o", "input_tokens": 1000000},
                       {"provider": "acme", "model": "mystery-1", "input_tokens": 5, "output_tokens": 5},
                       {"provider": "openai", "model": "gpt-4o-mini", "output_tokens": 10, "cost_usd": "0.25"}]}
            """));

        Assert.Equal(200, status);
        Assert.True(answer["acknowledged"]!.GetValue<bool>());
        Assert.Contains("acme/mystery-1", answer["warnings"]!.AsArray().Single()!.GetValue<string>(), StringComparison.Ordinal);
        var (_, cost) = await server.GetAsync($"/api/v1/workflows/{id}/cost");
        Assert.Equal("2.7510", cost["total_cost_usd"]!.GetValue<string>());
        Assert.Equal(4, cost["total_activities"]!.GetValue<int>());
        Assert.Null(cost["budget_limit_usd"]);
        Assert.Null(cost["budget_remaining_usd"]);
        var (_, wf) = await server.GetAsync($"/api/v1/workflows/{id}");
        Assert.Equal("2.7510", wf["total_cost_usd"]!.GetValue<string>());
    }

    [Fact]
    public async Task Complete_WithoutUsage_AnswersWithoutWarnings()
    {
        await server.DeployAsync("name: cost-plain\nactivities:\n  - {key: a, worker: costp, activity_name: echo}\n");
        var id = await server.SubmitAsync("cost-plain");
        var claimed = (await server.PollAsync("w-plain", routingKey: "costp")).Single()!;
        var (status, answer) = await server.PostAsync($"/api/v1/activities/{claimed["activity_id"]}/complete",
            new JsonObject { ["worker_id"] = "w-plain", ["output"] = new JsonObject() });
        Assert.Equal(200, status);
        Assert.Null(answer["warnings"]);
        var (_, cost) = await server.GetAsync($"/api/v1/workflows/{id}/cost");
        Assert.Equal(0, cost["total_activities"]!.GetValue<int>());
    }

    [Fact]
    public async Task Complete_MalformedUsageTokens_Is422()
    {
        await server.DeployAsync("name: cost-bad\nactivities:\n  - {key: a, worker: costb, activity_name: echo}\n");
        await server.SubmitAsync("cost-bad");
        var claimed = (await server.PollAsync("w-bad", routingKey: "costb")).Single()!;
        var (status, _) = await server.PostAsync($"/api/v1/activities/{claimed["activity_id"]}/complete", JsonNode.Parse("""
            {"worker_id": "w-bad", "output": {}, "usage": [{"provider": "openai", "model": "gpt-4o", "input_tokens": -1}]}
            """));
        Assert.Equal(422, status);
    }

    [Theory]
    [InlineData("/api/v1/cost/analytics?group_by=color")]
    [InlineData("/api/v1/cost/analytics?limit=0")]
    [InlineData("/api/v1/cost/analytics?limit=10001")]
    [InlineData("/api/v1/cost/analytics?start_date=yesterday")]
    public async Task Analytics_BadQuery_Is400(string path)
    {
        var (status, body) = await server.GetAsync(path);
        Assert.Equal(400, status);
        Assert.Equal("BAD_REQUEST", body["error"]!["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task Analytics_Defaults_AnswersTheSpecShape()
    {
        var (status, body) = await server.GetAsync("/api/v1/cost/analytics");
        Assert.Equal(200, status);
        foreach (var field in new[] { "total_workflows", "total_cost_usd", "avg_cost_per_activity", "avg_cost_per_workflow", "start_date", "end_date",
                     "total_activities", "total_tokens", "cached_tokens", "cache_hit_rate", "budget_aborts", "budget_downgrades", "group_by",
                     "top_workflows", "top_definitions", "budget_events" })
        {
            Assert.True(body.ContainsKey(field), field);
        }
        Assert.False(body.ContainsKey("groups"));
    }

    [Fact]
    public async Task CostRoutes_UnknownWorkflow_Are404()
    {
        Assert.Equal(404, (await server.GetAsync("/api/v1/workflows/nope/cost")).Status);
        Assert.Equal(404, (await server.GetAsync("/api/v1/workflows/nope/cost/history")).Status);
    }

    [Fact]
    public async Task CacheRoutes_MissingKeyAndBadPattern_AnswerCountZeroOr422()
    {
        using var response = await server.Http.DeleteAsync("/api/v1/cache/std.echo:missing");
        var body = await ServerFixture.ReadAsync(response);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("""{"success":true,"count":0}""", body.ToJsonString());
        Assert.Equal(422, (await server.PostAsync("/api/v1/cache/invalidate", new JsonObject())).Status);
    }
}
