using System.Text.Json.Nodes;

namespace Spindle.Compat.Tests;

/// <summary>
/// Kruxia Flow definitions (tests/compat/definitions) run unchanged on Spindle's std worker: each built-in activity
/// takes the reference's parameters, and a downstream <c>echo</c> reads its output at the reference's paths.
/// </summary>
[Collection(CompatCollection.Name)]
public sealed class StdActivitiesCompatTests(CompatFixture compat)
{
    [Fact]
    public async Task Echo_DownstreamReadsEchoOutput()
    {
        JsonObject check = CompatFixture.CheckOutput(await compat.RunAsync("echo.yaml", new JsonObject { ["name"] = "Ada" }));

        Assert.Equal("Hello, Ada", check["greeting"]!.GetValue<string>());
        Assert.Equal("b", check["second_tag"]!.GetValue<string>());
        Assert.Equal(3, check["n"]!.GetValue<int>());
    }

    [Fact]
    public async Task Postgres_DbUrlSecretAsPostgresUrl_TransactionAndQueriesAnswerUnderResult()
    {
        const string hostile = "o'brien'); DROP TABLE compat_orders; --";
        JsonObject check = CompatFixture.CheckOutput(await compat.RunAsync("postgres.yaml", new JsonObject { ["customer"] = hostile }));

        Assert.True(check["tx_success"]!.GetValue<bool>());
        Assert.Equal(2, check["tx_statements"]!.GetValue<int>());
        Assert.Equal(3, check["tx_inserted"]!.GetValue<int>());
        Assert.Equal(2, check["updated"]!.GetValue<int>());
        Assert.Equal(2, check["row_count"]!.GetValue<int>());
        Assert.Equal(hostile, check["first_customer"]!.GetValue<string>());
        Assert.Equal("""[{"id":1,"customer":"o'brien'); DROP TABLE compat_orders; --","total":13.5},{"id":3,"customer":"linus","total":41}]""",
            check["rows"]!.ToJsonString(new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
    }

    [Fact]
    public async Task Postgres_FailedQuery_DbUrlSecretNotInReadApiOrEvents()
    {
        JsonObject workflow = await compat.RunAsync("failing-query.yaml");
        string events = await compat.Http.GetStringAsync($"/api/v1/workflows/{workflow["id"]!.GetValue<string>()}/events");

        Assert.Equal("failed", workflow["status"]!.GetValue<string>());
        Assert.Contains("ActivityFailed", events, StringComparison.Ordinal);
        Assert.DoesNotContain(compat.DbUrl, workflow.ToJsonString(), StringComparison.Ordinal);
        Assert.DoesNotContain(compat.DbUrl, events, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HttpRequest_ResponseHasStatusSuccessAndParsedBody_NotFoundCompletes()
    {
        JsonObject check = CompatFixture.CheckOutput(await compat.RunAsync("http.yaml", new JsonObject { ["base_url"] = compat.TargetUrl }));

        Assert.Equal(200, check["status"]!.GetValue<int>());
        Assert.True(check["success"]!.GetValue<bool>());
        Assert.Equal("world", check["hello"]!.GetValue<string>());
        Assert.Equal("a b", check["seen_query"]!.GetValue<string>());
        Assert.Equal("yes", check["seen_header"]!.GetValue<string>());
        Assert.Equal(404, check["missing_status"]!.GetValue<int>());
        Assert.False(check["missing_success"]!.GetValue<bool>());
        Assert.Equal(7, check["posted_order"]!.GetValue<int>());
    }

    [Fact]
    public async Task LlmPromptAndEmbedding_AgainstLocalOpenAiServer_AnswerUnderResult()
    {
        JsonObject check = CompatFixture.CheckOutput(await compat.RunAsync("llm.yaml"));

        Assert.Equal("Local answer (gpt-4o-mini): Why is the sky blue?", check["content"]!.GetValue<string>());
        Assert.Equal("gpt-4o-mini", check["model"]!.GetValue<string>());
        Assert.Equal("openai", check["provider"]!.GetValue<string>());
        Assert.Equal("stop", check["finish_reason"]!.GetValue<string>());
        Assert.True(check["cost_usd"]!.GetValue<decimal>() > 0m);
        Assert.Empty(check["budget_skipped_models"]!.AsArray());
        JsonObject usage = check["usage"]!.AsObject();
        Assert.True(usage["prompt_tokens"]!.GetValue<long>() > 0);
        Assert.True(usage["output_tokens"]!.GetValue<long>() > 0);
        Assert.Equal(usage["prompt_tokens"]!.GetValue<long>() + usage["output_tokens"]!.GetValue<long>(), usage["total_tokens"]!.GetValue<long>());
        Assert.Equal(0, usage["cached_tokens"]!.GetValue<long>());
        Assert.Equal("Local answer (gpt-4o-mini): Second question", check["fallback_content"]!.GetValue<string>());
        Assert.Equal("gpt-4o-mini", check["budget_model"]!.GetValue<string>());
        Assert.Equal("""["openai/gpt-4o"]""", check["budget_skipped"]!.ToJsonString());

        JsonArray embeddings = check["embeddings"]!.AsArray();
        Assert.Equal(3, embeddings.Count);
        Assert.All(embeddings, e => Assert.Equal(8, e!.AsArray().Count));
        Assert.Null(check["embeddings_file"]);
        Assert.Equal(3, check["embedding_count"]!.GetValue<int>());
        Assert.Equal("text-embedding-3-small", check["embed_model"]!.GetValue<string>());
        Assert.Equal("openai", check["embed_provider"]!.GetValue<string>());
        Assert.True(check["embed_usage"]!["total_tokens"]!.GetValue<long>() > 0);
    }

    [Fact]
    public async Task EmailSend_SmtpUrl_ResultListsAcceptedAndRejectedRecipients()
    {
        compat.Smtp.RecipientReplies["nobody@example.test"] = "550 5.1.1 No such user";
        JsonObject check = CompatFixture.CheckOutput(await compat.RunAsync("email.yaml", new JsonObject { ["smtp_url"] = $"smtp://127.0.0.1:{compat.Smtp.Port}" }));

        Assert.True(check["success"]!.GetValue<bool>());
        Assert.Equal("""["ops@example.test","lead@example.test"]""", check["accepted"]!.ToJsonString());
        Assert.Equal("""["nobody@example.test"]""", check["rejected"]!.ToJsonString());
        string messageId = check["message_id"]!.GetValue<string>();
        var mail = Assert.Single(compat.Smtp.Received, m => m.Message.MessageId == messageId);
        Assert.Equal("Nightly report", mail.Message.Subject);
        Assert.Equal("All green.", mail.Message.TextBody!.TrimEnd());
        Assert.Equal("<p>All green.</p>", mail.Message.HtmlBody!.TrimEnd());
    }

    [Fact]
    public async Task FailedActivity_ReadApiErrorIsCodePrefixedString_DetailKept()
    {
        JsonObject workflow = await compat.RunAsync("failing-query.yaml");

        Assert.Equal("failed", workflow["status"]!.GetValue<string>());
        JsonObject broken = CompatFixture.Activity(workflow, "broken");
        string error = broken["error"]!.GetValue<string>();
        Assert.StartsWith("DATABASE_ERROR: 42P01: relation \"no_such_table\" does not exist", error, StringComparison.Ordinal);
        Assert.Equal("DATABASE_ERROR", broken["error_detail"]!["code"]!.GetValue<string>());
        Assert.Equal(error, $"DATABASE_ERROR: {broken["error_detail"]!["message"]!.GetValue<string>()}");
        Assert.Contains("no_such_table", workflow["error_message"]!.GetValue<string>(), StringComparison.Ordinal);
    }
}
