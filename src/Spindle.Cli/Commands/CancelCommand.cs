using System.CommandLine;
using Spindle.Protocol;
using static Spindle.Cli.ConsoleRenderer;

namespace Spindle.Cli.Commands;

/// <summary><c>spindle cancel</c>: docs/api.md.</summary>
internal static class CancelCommand
{
    public static CommandSpec Create()
    {
        var id = new Argument<string>("ID") { Description = "Workflow id" };
        var reason = new Option<string?>("--reason") { Description = "Why; recorded as the workflow's error message", HelpName = "TEXT" };
        var command = new Command("cancel", "Cancel a running workflow.");
        command.Arguments.Add(id);
        command.Options.Add(reason);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            using var spindle = client.CreateClient(io.Parse);
            var answer = await spindle.CancelWorkflowAsync(io.Parse.GetValue(id)!, io.Parse.GetValue(reason), cancellationToken);
            await io.Out.WriteLineAsync(client.WantsJson(io.Parse)
                ? PrettyJson(answer, SpindleJsonContext.Default.CancelWorkflowResponse)
                : $"cancelled workflow {answer.WorkflowId}");
            return CommandSupport.Ok;
        });
        const string details =
            "Queued activities are withdrawn and running ones are asked to stop at their next heartbeat. " +
            "Cancelling a cancelled workflow is a no-op; a completed or failed one is refused (exit code 1).";
        return new CommandSpec(command, details, """
                         spindle cancel 0197a3c2-5b1e-7c4d-9f00-1234567890ab --reason "wrong input"
                         """);
    }
}
