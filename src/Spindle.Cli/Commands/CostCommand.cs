using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Protocol;
using static System.FormattableString;
using static Spindle.Cli.ConsoleRenderer;

namespace Spindle.Cli.Commands;

/// <summary><c>spindle cost workflow ID</c> and <c>spindle cost top</c>: recorded costs and budgets (docs/api.md).</summary>
internal static class CostCommand
{
    public static IReadOnlyList<CommandSpec> Create()
    {
        var parent = new Command("cost", "Show what workflows cost: one workflow's spend and budget, or the most expensive workflows.");
        var workflow = Workflow();
        var top = Top();
        parent.Subcommands.Add(workflow.Command);
        parent.Subcommands.Add(top.Command);
        return
        [
            new CommandSpec(parent, "Costs are recorded per attempt from the workers' usage reports, priced from the model catalog.", """
                                    spindle cost workflow 0197f3c2-…
                                    spindle cost top --days 7 --limit 20
                                    """),
            workflow, top,
        ];
    }

    private static CommandSpec Workflow()
    {
        var id = new Argument<string>("ID") { Description = "The workflow id" };
        var command = new Command("workflow", "Show a workflow's total cost, budget and cost lines (oldest first).");
        command.Arguments.Add(id);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            using var spindle = client.CreateClient(io.Parse);
            var workflowId = io.Parse.GetValue(id)!;
            var cost = await spindle.GetWorkflowCostAsync(workflowId, cancellationToken);
            var history = await spindle.GetWorkflowCostHistoryAsync(workflowId, cancellationToken);
            if (client.WantsJson(io.Parse))
            {
                await io.Out.WriteLineAsync(PrettyJson(new JsonObject
                {
                    ["cost"] = JsonSerializer.SerializeToNode(cost, SpindleJsonContext.Default.WorkflowCost),
                    ["history"] = JsonSerializer.SerializeToNode(history, SpindleJsonContext.Default.ListCostHistoryLine),
                }));
                return CommandSupport.Ok;
            }
            await io.Out.WriteLineAsync($"workflow:  {cost.WorkflowId} ({cost.WorkflowName})");
            await io.Out.WriteLineAsync(Invariant($"total:     ${cost.TotalCostUsd} in {cost.TotalActivities} cost lines"));
            await io.Out.WriteLineAsync(cost.BudgetLimitUsd is null
                ? "budget:    none"
                : $"budget:    ${cost.BudgetLimitUsd}, ${cost.BudgetRemainingUsd} left");
            if (history.Count > 0)
            {
                var rows = history.Select(l => new[]
                {
                    l.ActivityKey, Invariant($"{l.Attempt}"),
                    l.Model is null ? "-" : $"{l.Provider}/{l.Model}",
                    Invariant($"{l.PromptTokens}"), Invariant($"{l.OutputTokens}"), Invariant($"{l.CachedTokens}"), "$" + l.CostUsd,
                    l.BudgetEvent ?? "", Time(l.CreatedAt),
                }).ToList();
                await io.Out.WriteLineAsync();
                await io.Out.WriteLineAsync(Table(["ACTIVITY", "ATTEMPT", "MODEL", "PROMPT", "OUTPUT", "CACHED", "COST", "BUDGET", "AT"], rows));
            }
            return CommandSupport.Ok;
        });
        return new CommandSpec(command, null, "spindle cost workflow 0197f3c2-…");
    }

    private static CommandSpec Top()
    {
        var days = new Option<int>("--days") { Description = "Look back this many days (default 30)", DefaultValueFactory = _ => 30 };
        var limit = new Option<int>("--limit") { Description = "How many workflows to show, 1-10000 (default 10)", DefaultValueFactory = _ => 10 };
        var command = new Command("top", "List the most expensive workflows of a period, with totals and budget events.");
        command.Options.Add(days);
        command.Options.Add(limit);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            var dayCount = io.Parse.GetValue(days);
            if (dayCount < 1)
            {
                throw new UsageException("--days must be at least 1");
            }
            using var spindle = client.CreateClient(io.Parse);
            var answer = await spindle.GetCostAnalyticsAsync(dayCount, io.Parse.GetValue(limit), null, cancellationToken);
            if (client.WantsJson(io.Parse))
            {
                await io.Out.WriteLineAsync(PrettyJson(answer, SpindleJsonContext.Default.CostAnalytics));
                return CommandSupport.Ok;
            }
            await io.Out.WriteLineAsync(
                Invariant($"{answer.TotalWorkflows} workflows, ${answer.TotalCostUsd} in {answer.TotalActivities} cost lines ") +
                Invariant($"over the last {dayCount} days; budget aborts {answer.BudgetAborts}, downgrades {answer.BudgetDowngrades}"));
            var rows = answer.TopWorkflows.Select(w => new[]
            {
                w.WorkflowId, w.DefinitionName, w.Status, "$" + w.TotalCostUsd, Invariant($"{w.Activities}"),
                w.BudgetLimitUsd is null ? "-" : "$" + w.BudgetLimitUsd, Time(w.CreatedAt),
            }).ToList();
            if (rows.Count > 0)
            {
                await io.Out.WriteLineAsync();
                await io.Out.WriteLineAsync(Table(["WORKFLOW", "DEFINITION", "STATUS", "COST", "LINES", "BUDGET", "CREATED"], rows));
            }
            return CommandSupport.Ok;
        });
        return new CommandSpec(command, null, """
                                              spindle cost top
                                              spindle cost top --days 7 --limit 20 --json
                                              """);
    }
}
