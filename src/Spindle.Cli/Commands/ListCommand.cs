using System.CommandLine;
using Spindle.Protocol;
using static Spindle.Cli.ConsoleRenderer;

namespace Spindle.Cli.Commands;

/// <summary><c>spindle list</c>: recent workflows, newest first (docs/api.md).</summary>
internal static class ListCommand
{
    public static CommandSpec Create()
    {
        var status = new Option<string?>("--status")
        {
            Description = "Only workflows with this status: created, running, completed, failed or cancelled",
            HelpName = "STATUS",
        };
        status.AcceptOnlyFromAmong("created", "running", "completed", "failed", "cancelled");
        var definition = new Option<string?>("--definition") { Description = "Only workflows of this definition name", HelpName = "NAME" };
        var limit = new Option<int>("--limit")
        {
            Description = "Show at most this many workflows (1-1000)",
            HelpName = "N",
            DefaultValueFactory = _ => 20,
        };
        limit.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > 1000)
            {
                result.AddError("--limit must be from 1 to 1000");
            }
        });
        var command = new Command("list", "List workflows, newest first.");
        command.Options.Add(status);
        command.Options.Add(definition);
        command.Options.Add(limit);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            using var spindle = client.CreateClient(io.Parse);
            var page = await spindle.ListWorkflowsAsync(io.Parse.GetValue(status), io.Parse.GetValue(definition), io.Parse.GetValue(limit), cancellationToken);
            await io.Out.WriteLineAsync(client.WantsJson(io.Parse) ? PrettyJson(page, SpindleJsonContext.Default.WorkflowList) : Render(page));
            return CommandSupport.Ok;
        });
        return new CommandSpec(command, null, """
                         spindle list
                         spindle list --status failed --definition order_flow --limit 50
                         """);
    }

    public static string Render(WorkflowList page)
    {
        var workflows = page.Workflows;
        if (workflows.Count == 0)
        {
            return "no workflows";
        }
        var rows = workflows.Select(w => new[]
        {
            w.Id,
            w.Status,
            w.DefinitionName,
            Time(w.CreatedAt),
            OneLine(w.ErrorMessage, 60),
        }).ToList();
        var table = Table(["ID", "STATUS", "DEFINITION", "CREATED", "ERROR"], rows);
        var total = page.Total;
        return total > workflows.Count ? $"{table}\n({workflows.Count} of {total}; use --limit to see more)" : table;
    }
}
