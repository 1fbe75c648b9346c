using System.Text.Json.Nodes;

namespace Spindle.Cli.Tests;

/// <summary><c>spindle cost workflow</c> and <c>spindle cost top</c> against a real server.</summary>
[Collection(ServerCollection.Name)]
public sealed class CostCommandTests(CliServerFixture server)
{
    private static string BudgetAbortFlow(string name) => $$$"""
        name: {{{name}}}
        settings: {budget: {limit: "0.5"}}
        activities:
          - key: ask
            activity_name: llm_prompt
            parameters: {model: openai/gpt-4o, prompt: "never sent", max_tokens: 100}
            settings: {budget: {limit: "0.0001"}}
        """;

    [Fact]
    public async Task CostWorkflow_BudgetAbort_ShowsBudgetAndAbortLine()
    {
        var run = await server.RunAsync("run", Cli.WriteFile(BudgetAbortFlow(Cli.UniqueName("cli_cost"))));

        var result = await server.RunAsync("cost", "workflow", run.WorkflowId);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("total:     $0.0000 in 1 cost lines", result.Out, StringComparison.Ordinal);
        Assert.Contains("budget:    $0.5000, $0.5000 left", result.Out, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^ask\s+1\s+openai/gpt-4o\s+0\s+0\s+0\s+\$0\.0000\s+abort\s", result.Out);
    }

    [Fact]
    public async Task CostWorkflow_WithJson_PrintsCostAndHistory()
    {
        var run = await server.RunAsync("run", Cli.WriteFile(BudgetAbortFlow(Cli.UniqueName("cli_costjson"))));

        var result = await server.RunAsync("cost", "workflow", run.WorkflowId, "--json");

        var answer = JsonNode.Parse(result.Out)!;
        Assert.Equal(run.WorkflowId, answer["cost"]!["workflow_id"]!.GetValue<string>());
        Assert.Equal("abort", answer["history"]![0]!["budget_event"]!.GetValue<string>());
    }

    [Fact]
    public async Task CostTop_Defaults_PrintsTotalsLine()
    {
        var result = await server.RunAsync("cost", "top", "--limit", "5");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("cost lines over the last 30 days; budget aborts", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CostWorkflow_UnknownId_FailsWithNotFound()
    {
        var result = await server.RunAsync("cost", "workflow", "no-such-workflow");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("not found", result.All, StringComparison.OrdinalIgnoreCase);
    }
}
