using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using Spindle.Core.Orchestration;
using static Spindle.Storage.Tests.StoreTestHelpers;

namespace Spindle.Storage.Tests;

/// <summary>
/// Secrets on each backend: a worker receives the values through every hand-out path (poll, claim-next, submit
/// hand-over), while the database, the events and the stored state only ever hold the template.
/// </summary>
public abstract class SecretsStoreBehaviour : IAsyncLifetime
{
    protected const string DbUrl = "postgres://app:Hunter2-DbPassword@db.internal/app";
    protected const string Token = "tok-Zq81-SecretToken";

    private const string Uses = """
        name: uses-secrets
        activities:
          - key: a
            activity_name: echo
            parameters:
              url: "{{SECRET.db_url}}"
              nested: {list: ["x", "host={{INPUT.host}} url={{ SECRET['db_url'] }}/{{SECRET.token}}!"]}
              plain: "{{INPUT.host}}"
              echoed: "{{INPUT.text}}"
          - key: b
            activity_name: echo
            depends_on: [a]
            parameters:
              token: "Bearer {{SECRET.token}}"
              from_a: "{{a.said}} {{SECRET.token}}"
        """;

    protected IWorkflowStore Store { get; private set; } = null!;

    protected static EngineDefaults WithSecrets(IReadOnlyDictionary<string, string> secrets) => new() { Secrets = secrets };

    protected static readonly EngineDefaults Defaults = WithSecrets(new Dictionary<string, string>
    {
        ["db_url"] = DbUrl,
        ["token"] = Token,
    });

    /// <summary>A store on a fresh database.</summary>
    protected abstract Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults);

    /// <summary>A second store on the same database (as after a restart with another environment).</summary>
    protected abstract Task<IWorkflowStore> ReopenAsync(EngineDefaults defaults);

    /// <summary>Everything the database holds, read around the store (files or tables), as text.</summary>
    protected abstract Task<string> ReadStoredTextAsync();

    public async Task InitializeAsync()
    {
        Store = await CreateStoreAsync(Defaults);
        await Store.MigrateAsync(CancellationToken.None);
    }

    public async Task DisposeAsync() => await Store.DisposeAsync();

    private static JsonObject Input(string text = "hello") => new() { ["host"] = "h1", ["text"] = text };

    private async Task AssertNothingStoredAsync()
    {
        var stored = await ReadStoredTextAsync();
        Assert.Contains("{{SECRET.db_url}}", stored, StringComparison.Ordinal); // the read sees the rows
        Assert.DoesNotContain("Hunter2-DbPassword", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("Zq81-SecretToken", stored, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Claim_ParametersPrintSecrets_WorkerGetsValuesWhileStoreKeepsTemplates()
    {
        var id = await DeployAndSubmitAsync(Store, Uses, Input());
        var a = Assert.Single(await ClaimAsync(Store, "w1"));
        Assert.Equal(DbUrl, a.Parameters["url"]!.GetValue<string>());
        Assert.Equal($"host=h1 url={DbUrl}/{Token}!", a.Parameters["nested"]!["list"]![1]!.GetValue<string>());
        Assert.Equal("x", a.Parameters["nested"]!["list"]![0]!.GetValue<string>());
        Assert.Equal("h1", a.Parameters["plain"]!.GetValue<string>());

        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        var stored = wf!.Activities["a"].Parameters!;
        Assert.Equal("{{SECRET.db_url}}", stored["url"]!.GetValue<string>());
        Assert.Equal("host=h1 url={{SECRET.db_url}}/{{SECRET.token}}!", stored["nested"]!["list"]![1]!.GetValue<string>());

        Assert.Equal(StoreStatus.Ok, (await CompleteAsync(Store, a, new JsonObject { ["said"] = "ok" })).Status);
        var b = Assert.Single(await ClaimAsync(Store, "w1"));
        Assert.Equal($"Bearer {Token}", b.Parameters["token"]!.GetValue<string>());
        Assert.Equal($"ok {Token}", b.Parameters["from_a"]!.GetValue<string>());
        Assert.Equal(StoreStatus.Ok, (await CompleteAsync(Store, b, new JsonObject())).Status);

        Assert.Equal(WorkflowStatus.Completed, (await Store.GetWorkflowAsync(id, CancellationToken.None))!.Status);
        var events = await Store.GetEventsAsync(id, null, 1000, null, CancellationToken.None);
        Assert.DoesNotContain(events!.Events, e => e.Payload.ToJsonString().Contains("SecretToken", StringComparison.Ordinal));
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task CompleteWithClaimNext_NextActivityPrintsSecret_WorkerGetsValue()
    {
        await DeployAndSubmitAsync(Store, Uses, Input());
        var a = Assert.Single(await ClaimAsync(Store, "w1"));
        var outcome = await Store.CompleteAsync(a.ActivityId, "w1", new JsonObject { ["said"] = "hi" }, CostReport.Of(0),
            new ClaimNext(null, 5, null), CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, outcome.Status);
        var b = Assert.Single(outcome.Claimed!);
        Assert.Equal($"Bearer {Token}", b.Parameters["token"]!.GetValue<string>());

        // A repeated report gets the same hand-out again, values included.
        var again = await Store.CompleteAsync(a.ActivityId, "w1", new JsonObject { ["said"] = "hi" }, CostReport.Of(0),
            new ClaimNext(null, 5, null), CancellationToken.None);
        Assert.Equal($"hi {Token}", Assert.Single(again.Claimed!).Parameters["from_a"]!.GetValue<string>());
        await AssertNothingStoredAsync();
    }

    [Fact]
    public async Task Submit_WaitingPollTakesRoot_HandOverCarriesSecretValues()
    {
        var definition = Parse(Uses);
        await Store.DeployAsync(definition, CancellationToken.None);
        var grant = new SlotGrant("std", "w1", null, 10); // a waiting long-poll with room for everything
        var outcome = await Store.SubmitAsync(new SubmitCommand(definition.Name, null, Input(), null, [grant]), CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, outcome.Status);
        var a = Assert.Single(outcome.HandedOver);
        Assert.Equal(DbUrl, a.Parameters["url"]!.GetValue<string>());
        Assert.Equal($"host=h1 url={DbUrl}/{Token}!", a.Parameters["nested"]!["list"]![1]!.GetValue<string>());
        await AssertNothingStoredAsync();
    }

    [Theory]
    [InlineData("{{SECRET.db_url}}")]
    [InlineData("{{ SECRET.token }} and {{SECRET['db_url']}}")]
    [InlineData("\u0002#0\u0003 \u00020#1\u0003")]
    public async Task Claim_InputOrOutputLooksLikeSecret_ReachesWorkerUnchanged(string text)
    {
        await DeployAndSubmitAsync(Store, Uses, Input(text));
        var a = Assert.Single(await ClaimAsync(Store, "w1"));
        Assert.Equal(text, a.Parameters["echoed"]!.GetValue<string>());
        await CompleteAsync(Store, a, new JsonObject { ["said"] = text });
        var b = Assert.Single(await ClaimAsync(Store, "w1"));
        Assert.Equal($"{text} {Token}", b.Parameters["from_a"]!.GetValue<string>());
    }

    [Fact]
    public async Task Submit_UnknownSecret_FailsWithTemplateError()
    {
        const string yaml = """
            name: unknown-secret
            activities:
              - {key: a, activity_name: echo, parameters: {x: "{{SECRET.nope}}"}}
            """;
        var id = await DeployAndSubmitAsync(Store, yaml);
        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(EngineErrorCodes.TemplateError, wf!.Activities["a"].ErrorCode);
        Assert.Empty(await ClaimAsync(Store, "w1"));
    }

    [Fact]
    public async Task Claim_SecretGoneSinceEnqueue_FailsActivityWithSecretNotFound()
    {
        var id = await DeployAndSubmitAsync(Store, Uses, Input());
        await Store.DisposeAsync();
        Store = await ReopenAsync(WithSecrets(new Dictionary<string, string> { ["token"] = Token }));

        Assert.Empty(await ClaimAsync(Store, "w1"));
        var wf = await Store.GetWorkflowAsync(id, CancellationToken.None);
        Assert.Equal(SecretParameters.NotFoundCode, wf!.Activities["a"].ErrorCode);
        Assert.Contains("db_url", wf.Activities["a"].ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(WorkflowStatus.Failed, wf.Status);
    }
}
