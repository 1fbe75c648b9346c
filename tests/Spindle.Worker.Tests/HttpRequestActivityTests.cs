using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Spindle.Worker.Std;
using Spindle.Worker.Tests.Support;

namespace Spindle.Worker.Tests;

/// <summary>A real Kestrel server on 127.0.0.1 for the std activity tests.</summary>
public sealed class HttpTargetFixture : IAsyncLifetime
{
    private LoopbackServer? _server;

    internal LoopbackServer Server => _server!;

    public string Url(string path) => Server.Url(path).ToString();

    public async Task InitializeAsync()
    {
        _server = await LoopbackServer.StartAsync(app =>
        {
            app.MapGet("/json", async context =>
            {
                context.Response.Headers["X-Custom"] = "Abc";
                context.Response.ContentType = "application/json; charset=utf-8";
                await context.Response.WriteAsync("""{"hello":"world","n":1,"list":[1,2]}""");
            });
            app.MapGet("/problem", async context =>
            {
                context.Response.ContentType = "application/problem+json";
                await context.Response.WriteAsync("""{"title":"x"}""");
            });
            app.MapGet("/text", async context =>
            {
                context.Response.ContentType = "text/plain; charset=utf-8";
                await context.Response.WriteAsync("plain text ✓");
            });
            app.MapGet("/mislabelled", async context =>
            {
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync("not json at all");
            });
            app.MapGet("/json-raw", async (HttpContext context, string body) =>
            {
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync(body);
            });
            app.MapGet("/empty", context =>
            {
                context.Response.StatusCode = 204;
                return Task.CompletedTask;
            });
            app.MapGet("/status/{code:int}", async (HttpContext context, int code) =>
            {
                context.Response.StatusCode = code;
                context.Response.ContentType = "text/plain";
                await context.Response.WriteAsync($"status body {code} " + new string('x', 3000));
            });
            app.MapGet("/redirect", context =>
            {
                context.Response.Redirect("/json");
                return Task.CompletedTask;
            });
            app.MapGet("/slow", async context =>
            {
                await Task.Delay(TimeSpan.FromSeconds(5), context.RequestAborted);
                await context.Response.WriteAsync("late");
            });
            app.Map("/echo", async context =>
            {
                using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
                string body = await reader.ReadToEndAsync();
                var query = new JsonObject();
                foreach (var pair in context.Request.Query)
                {
                    query[pair.Key] = new JsonArray([.. pair.Value.Select(v => (JsonNode?)JsonValue.Create(v))]);
                }

                var result = new JsonObject
                {
                    ["method"] = context.Request.Method,
                    ["query"] = query,
                    ["content_type"] = context.Request.ContentType,
                    ["x_test"] = context.Request.Headers["X-Test"].ToString(),
                    ["authorization"] = context.Request.Headers.Authorization.ToString(),
                    ["body"] = body,
                };
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync(result.ToJsonString());
            });
        });
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

public sealed class HttpRequestActivityTests(HttpTargetFixture target) : IClassFixture<HttpTargetFixture>, IAsyncLifetime
{
    private readonly ActivityRegistry _registry = new();
    private StdActivities? _std;

    public Task InitializeAsync()
    {
        _std = StdActivities.Register(_registry);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_std is not null)
        {
            await _std.DisposeAsync();
        }
    }

    private async Task<JsonObject> RunAsync(JsonObject parameters)
    {
        Assert.True(_registry.TryGet("http_request", out ActivityHandler? handler));
        ActivityResult result = await handler(TestContexts.For("http_request", parameters), CancellationToken.None);
        return result.Output["response"]!.AsObject();
    }

    private async Task<ActivityFailureException> FailAsync(JsonObject parameters)
    {
        Assert.True(_registry.TryGet("http_request", out ActivityHandler? handler));
        return await Assert.ThrowsAsync<ActivityFailureException>(() => handler(TestContexts.For("http_request", parameters), CancellationToken.None));
    }

    [Fact]
    public async Task ExecuteAsync_JsonResponse_ParsesBodyAndLowercasesHeaderNames()
    {
        JsonObject response = await RunAsync(new JsonObject { ["url"] = target.Url("/json") });

        Assert.Equal(200, (int)response["status"]!);
        Assert.Equal("""{"hello":"world","n":1,"list":[1,2]}""", response["body"]!.ToJsonString());
        Assert.Equal("Abc", (string?)response["headers"]!["x-custom"]);
        Assert.StartsWith("application/json", (string?)response["headers"]!["content-type"], StringComparison.Ordinal);
        Assert.All(response["headers"]!.AsObject(), h => Assert.Equal(h.Key.ToLowerInvariant(), h.Key));
    }

    [Fact]
    public async Task ExecuteAsync_PlusJsonResponse_ParsesBody()
    {
        JsonObject response = await RunAsync(new JsonObject { ["url"] = target.Url("/problem") });
        Assert.Equal("x", (string?)response["body"]!["title"]);
    }

    [Fact]
    public async Task ExecuteAsync_TextResponse_ReturnsBodyAsString()
    {
        JsonObject response = await RunAsync(new JsonObject { ["url"] = target.Url("/text"), ["method"] = "get" });
        Assert.Equal("plain text ✓", (string?)response["body"]);
    }

    [Fact]
    public async Task ExecuteAsync_JsonContentTypeWithInvalidJson_ReturnsText()
    {
        JsonObject response = await RunAsync(new JsonObject { ["url"] = target.Url("/mislabelled") });
        Assert.Equal("not json at all", (string?)response["body"]);
    }

    [Theory]
    [InlineData(62, true)]
    [InlineData(63, false)]
    public async Task ExecuteAsync_JsonBodyDeeperThanTheOutputCanHold_ReturnsText(int levels, bool parsed)
    {
        string json = string.Concat(Enumerable.Repeat("[", levels)) + new string(']', levels);
        JsonObject response = await RunAsync(new JsonObject { ["url"] = target.Url("/json-raw?body=" + Uri.EscapeDataString(json)) });
        if (parsed)
        {
            Assert.IsType<JsonArray>(response["body"]);
        }
        else
        {
            Assert.Equal(json, (string?)response["body"]);
        }
    }

    [Fact]
    public async Task ExecuteAsync_JsonBodyRepeatingAKey_ReturnsText()
    {
        const string json = """{"a":1,"a":2}""";
        JsonObject response = await RunAsync(new JsonObject { ["url"] = target.Url("/json-raw?body=" + Uri.EscapeDataString(json)) });
        Assert.Equal(json, (string?)response["body"]);
    }

    [Fact]
    public async Task ExecuteAsync_NoContent_CompletesWithEmptyBody()
    {
        JsonObject response = await RunAsync(new JsonObject { ["url"] = target.Url("/empty") });
        Assert.Equal(204, (int)response["status"]!);
        Assert.Equal("", (string?)response["body"]);
    }

    [Fact]
    public async Task ExecuteAsync_ObjectBody_SendsJson()
    {
        JsonObject response = await RunAsync(new JsonObject
        {
            ["method"] = "POST",
            ["url"] = target.Url("/echo"),
            ["body"] = new JsonObject { ["amount"] = 12.5, ["items"] = new JsonArray("a", "b") },
        });

        JsonNode echoed = response["body"]!;
        Assert.Equal("POST", (string?)echoed["method"]);
        Assert.StartsWith("application/json", (string?)echoed["content_type"], StringComparison.Ordinal);
        Assert.Equal("""{"amount":12.5,"items":["a","b"]}""", (string?)echoed["body"]);
    }

    [Fact]
    public async Task ExecuteAsync_StringBodyWithContentTypeHeader_SendsTextAsIs()
    {
        JsonObject response = await RunAsync(new JsonObject
        {
            ["method"] = "PUT",
            ["url"] = target.Url("/echo"),
            ["headers"] = new JsonObject { ["Content-Type"] = "application/xml", ["X-Test"] = "yes", ["Authorization"] = "Bearer abc" },
            ["body"] = "<a>1</a>",
        });

        JsonNode echoed = response["body"]!;
        Assert.Equal("PUT", (string?)echoed["method"]);
        Assert.Equal("application/xml", (string?)echoed["content_type"]);
        Assert.Equal("yes", (string?)echoed["x_test"]);
        Assert.Equal("Bearer abc", (string?)echoed["authorization"]);
        Assert.Equal("<a>1</a>", (string?)echoed["body"]);
    }

    [Fact]
    public async Task ExecuteAsync_StringBodyWithoutContentType_SendsTextPlain()
    {
        JsonObject response = await RunAsync(new JsonObject { ["method"] = "POST", ["url"] = target.Url("/echo"), ["body"] = "hello" });
        Assert.StartsWith("text/plain", (string?)response["body"]!["content_type"], StringComparison.Ordinal);
        Assert.Equal("hello", (string?)response["body"]!["body"]);
    }

    [Fact]
    public async Task ExecuteAsync_QueryObject_IsEncodedAndMergedWithUrlQuery()
    {
        JsonObject response = await RunAsync(new JsonObject
        {
            ["url"] = target.Url("/echo?fixed=1"),
            ["query"] = new JsonObject { ["q"] = "a b&c", ["n"] = 5, ["flag"] = true, ["multi"] = new JsonArray("x", "y"), ["skip"] = null },
        });

        JsonNode query = response["body"]!["query"]!;
        Assert.Equal("""["1"]""", query["fixed"]!.ToJsonString());
        Assert.Equal("a b&c", (string?)query["q"]![0]);
        Assert.Equal("5", (string?)query["n"]![0]);
        Assert.Equal("true", (string?)query["flag"]![0]);
        Assert.Equal("""["x","y"]""", query["multi"]!.ToJsonString());
        Assert.Null(query["skip"]);
    }

    [Fact]
    public async Task ExecuteAsync_Redirect_IsFollowed()
    {
        JsonObject response = await RunAsync(new JsonObject { ["url"] = target.Url("/redirect") });
        Assert.Equal(200, (int)response["status"]!);
        Assert.Equal("world", (string?)response["body"]!["hello"]);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(404)]
    [InlineData(429)]
    [InlineData(500)]
    [InlineData(503)]
    public async Task ExecuteAsync_NonSuccessStatus_CompletesWithSuccessFalse(int status)
    {
        JsonObject response = await RunAsync(new JsonObject { ["url"] = target.Url($"/status/{status}") });
        Assert.Equal(status, (int)response["status"]!);
        Assert.False((bool)response["success"]!);
        Assert.StartsWith($"status body {status} ", (string?)response["body"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExecuteAsync_Ok_SuccessTrue()
    {
        JsonObject response = await RunAsync(new JsonObject { ["url"] = target.Url("/json") });
        Assert.True((bool)response["success"]!);
    }

    [Fact]
    public async Task ExecuteAsync_IncludeBodyFalse_BodyNull()
    {
        JsonObject response = await RunAsync(new JsonObject { ["url"] = target.Url("/json"), ["include_body"] = false });
        Assert.Equal(200, (int)response["status"]!);
        Assert.Null(response["body"]);
    }

    [Fact]
    public async Task ExecuteAsync_DownloadToFile_FailsInvalidParameters()
    {
        ActivityFailureException failure = await FailAsync(new JsonObject { ["url"] = target.Url("/json"), ["download_to_file"] = true });
        Assert.Equal("INVALID_PARAMETERS", failure.Code);
        Assert.Contains("download_to_file", failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    [InlineData(429)]
    public async Task ExecuteAsync_ExpectedStatusAndServerErrorOrTooManyRequests_FailsRetryable(int status)
    {
        ActivityFailureException failure = await FailAsync(new JsonObject { ["url"] = target.Url($"/status/{status}"), ["expected_status"] = 200 });
        Assert.Equal("HTTP_ERROR", failure.Code);
        Assert.True(failure.Retryable);
        Assert.Contains(status.ToString(System.Globalization.CultureInfo.InvariantCulture), failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(401)]
    [InlineData(404)]
    [InlineData(422)]
    public async Task ExecuteAsync_ExpectedStatusAndClientError_FailsNotRetryableWithStatusAndBodyExcerpt(int status)
    {
        ActivityFailureException failure = await FailAsync(new JsonObject { ["url"] = target.Url($"/status/{status}"), ["expected_status"] = new JsonArray(200, 201) });
        Assert.Equal("HTTP_ERROR", failure.Code);
        Assert.False(failure.Retryable);
        Assert.Contains($"HTTP {status}", failure.Message, StringComparison.Ordinal);
        Assert.Contains($"status body {status}", failure.Message, StringComparison.Ordinal);
        Assert.True(failure.Message.Length < 1500, "the body is quoted as an excerpt only");
    }

    [Fact]
    public async Task ExecuteAsync_ExpectedStatusIncludesNotFound_Completes()
    {
        JsonObject response = await RunAsync(new JsonObject { ["url"] = target.Url("/status/404"), ["expected_status"] = new JsonArray(200, 404) });
        Assert.Equal(404, (int)response["status"]!);
    }

    [Fact]
    public async Task ExecuteAsync_ExpectedStatusDiffers_FailsNotRetryable()
    {
        ActivityFailureException failure = await FailAsync(new JsonObject { ["url"] = target.Url("/json"), ["expected_status"] = 201 });
        Assert.Equal("HTTP_ERROR", failure.Code);
        Assert.False(failure.Retryable);
        Assert.Contains("expected 201", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExecuteAsync_ConnectionRefused_FailsRetryable()
    {
        ActivityFailureException failure = await FailAsync(new JsonObject { ["url"] = "http://127.0.0.1:1/nothing" });
        Assert.Equal("HTTP_ERROR", failure.Code);
        Assert.True(failure.Retryable);
    }

    [Fact]
    public async Task ExecuteAsync_TimeoutSecondsExceeded_FailsRetryable()
    {
        ActivityFailureException failure = await FailAsync(new JsonObject { ["url"] = target.Url("/slow"), ["timeout_seconds"] = 0.2 });
        Assert.Equal("HTTP_ERROR", failure.Code);
        Assert.True(failure.Retryable);
        Assert.Contains("timed out", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExecuteAsync_ActivityCancelled_ThrowsOperationCanceled()
    {
        Assert.True(_registry.TryGet("http_request", out ActivityHandler? handler));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => handler(TestContexts.For("http_request", new JsonObject { ["url"] = target.Url("/slow") }), cts.Token));
    }

    [Theory]
    [InlineData("""{}""")]
    [InlineData("""{"url": 5}""")]
    [InlineData("""{"url": "ftp://example.com/x"}""")]
    [InlineData("""{"url": "/relative"}""")]
    [InlineData("""{"url": "http://127.0.0.1/", "method": "GE T"}""")]
    [InlineData("""{"url": "http://127.0.0.1/", "headers": "x"}""")]
    [InlineData("""{"url": "http://127.0.0.1/", "headers": {"X-A": {"nested": 1}}}""")]
    [InlineData("""{"url": "http://127.0.0.1/", "expected_status": "abc"}""")]
    [InlineData("""{"url": "http://127.0.0.1/", "timeout_seconds": -1}""")]
    public async Task ExecuteAsync_BadParameters_FailsInvalidParametersNotRetryable(string parameters)
    {
        ActivityFailureException failure = await FailAsync(TestContexts.Parse(parameters));
        Assert.Equal("INVALID_PARAMETERS", failure.Code);
        Assert.False(failure.Retryable);
    }
}

public sealed class EchoActivityTests
{
    [Fact]
    public async Task ExecuteAsync_FailAttempts_FailsRetryablyUntilThatAttemptThenEchoes()
    {
        JsonObject parameters = TestContexts.Parse("""{"fail_attempts":2}""");
        for (var attempt = 1; attempt <= 2; attempt++)
        {
            ActivityContext context = WithAttempt(TestContexts.For("echo", parameters), attempt);
            var failure = await Assert.ThrowsAsync<ActivityFailureException>(() => EchoActivity.ExecuteAsync(context, CancellationToken.None));
            Assert.True(failure.Retryable);
            Assert.Equal(EchoActivity.FlakyErrorCode, failure.Code);
        }
        ActivityResult result = await EchoActivity.ExecuteAsync(WithAttempt(TestContexts.For("echo", parameters), 3), CancellationToken.None);
        Assert.Equal(2, (int)result.Output["echo"]!["fail_attempts"]!);
    }

    [Fact]
    public async Task ExecuteAsync_SleepMs_WaitsAndHonoursCancellation()
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await EchoActivity.ExecuteAsync(TestContexts.For("echo", TestContexts.Parse("""{"sleep_ms":50}""")), CancellationToken.None);
        Assert.True(watch.ElapsedMilliseconds >= 45);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(20));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => EchoActivity.ExecuteAsync(TestContexts.For("echo", TestContexts.Parse("""{"sleep_ms":10000}""")), cts.Token));
    }

    private static ActivityContext WithAttempt(ActivityContext c, int attempt) => new()
    {
        ActivityId = c.ActivityId,
        WorkflowId = c.WorkflowId,
        ActivityKey = c.ActivityKey,
        ActivityName = c.ActivityName,
        RoutingKey = c.RoutingKey,
        Parameters = c.Parameters,
        Attempt = attempt,
    };

    [Fact]
    public async Task ExecuteAsync_AnyParameters_CompletesWithEchoOfParameters()
    {
        JsonObject parameters = TestContexts.Parse("""{"a":1,"b":{"c":[true,null,"x"]}}""");
        ActivityResult result = await EchoActivity.ExecuteAsync(TestContexts.For("echo", parameters), CancellationToken.None);

        Assert.Equal("""{"echo":{"a":1,"b":{"c":[true,null,"x"]}}}""", result.Output.ToJsonString());
        Assert.Null(result.CostUsd);
        Assert.Empty(result.Usage);
    }

    [Fact]
    public async Task ExecuteAsync_OutputModified_ParametersUnchanged()
    {
        JsonObject parameters = TestContexts.Parse("""{"a":1}""");
        ActivityResult result = await EchoActivity.ExecuteAsync(TestContexts.For("echo", parameters), CancellationToken.None);
        result.Output["echo"]!["a"] = 2;
        Assert.Equal(1, (int)parameters["a"]!);
    }

    [Fact]
    public void Register_StdActivities_RegistersAllNames()
    {
        var registry = new ActivityRegistry();
        using StdActivities std = StdActivities.Register(registry);
        Assert.Equal(["echo", "email_send", "embedding", "http_request", "llm_prompt", "postgres_query", "postgres_transaction"], registry.Names);
        Assert.Throws<ArgumentException>(() => StdActivities.Register(registry));
    }
}
