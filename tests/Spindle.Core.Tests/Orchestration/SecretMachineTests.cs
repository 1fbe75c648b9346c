using System.Text.Json.Nodes;
using Spindle.Core.Orchestration;

namespace Spindle.Core.Tests.Orchestration;

/// <summary>The machine's side: placeholders at enqueue, and leasing in memory (claim-next, hand-over) checks the secrets.</summary>
public sealed class SecretMachineTests
{
    private const string Yaml = """
        name: wf
        activities:
          - {key: a, activity_name: echo, parameters: {dsn: "x={{SECRET.db_url}}", n: "{{INPUT.n}}"}}
          - {key: b, activity_name: echo, depends_on: [a]}
        """;

    private static EngineDefaults WithDbUrl() => new() { Secrets = new Dictionary<string, string> { ["db_url"] = "pg://s3cret" } };

    [Fact]
    public void Start_ParameterPrintsSecret_StateHoldsDisplayFormAndRecordOnly()
    {
        var h = new MachineHarness(Yaml, new JsonObject { ["n"] = 1 }, WithDbUrl());
        Assert.Equal("""{"dsn":"x={{SECRET.db_url}}","n":1}""", h["a"].Parameters!.ToJsonString());
        Assert.Equal("""[{"path":["dsn"],"parts":["x=",{"secret":"db_url"}]}]""", h["a"].SecretParameters!.ToJsonString());
        Assert.DoesNotContain(h.Events, e => e.Payload.ToJsonString().Contains("s3cret", StringComparison.Ordinal));
    }

    [Fact]
    public void ClaimReady_SecretGoneSinceEnqueue_FailsWithSecretNotFoundInsteadOfLeasing()
    {
        var h = new MachineHarness(Yaml, new JsonObject { ["n"] = 1 }, WithDbUrl());
        h.Defaults = new EngineDefaults();
        List<ActivityState> claimed = [];
        h.Step(m => claimed = m.ClaimReady("std", "w1", null, 10));
        Assert.Empty(claimed);
        Assert.Equal(SecretParameters.NotFoundCode, h["a"].ErrorCode);
        Assert.Equal(WorkflowStatus.Failed, h.Status);
    }
}
