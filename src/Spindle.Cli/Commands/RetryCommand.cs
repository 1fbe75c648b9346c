using System.CommandLine;
using Spindle.Protocol;
using static Spindle.Cli.ConsoleRenderer;

namespace Spindle.Cli.Commands;

/// <summary><c>spindle retry</c>: docs/api.md.</summary>
internal static class RetryCommand
{
    public static CommandSpec Create()
    {
        var id = new Argument<string>("ID") { Description = "Workflow id" };
        var command = new Command("retry", "Retry a failed or cancelled workflow.");
        command.Arguments.Add(id);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            using var spindle = client.CreateClient(io.Parse);
            var answer = await spindle.RetryWorkflowAsync(io.Parse.GetValue(id)!, cancellationToken);
            if (client.WantsJson(io.Parse))
            {
                await io.Out.WriteLineAsync(PrettyJson(answer, SpindleJsonContext.Default.RetryWorkflowResponse));
                return CommandSupport.Ok;
            }
            var keys = answer.RetriedActivities;
            await io.Out.WriteLineAsync(answer.Status == "created"
                ? $"workflow {answer.WorkflowId} is queued: it retries when its concurrency key has a free slot"
                : $"retrying workflow {answer.WorkflowId}" + (keys.Count > 0 ? ": " + string.Join(", ", keys) : ""));
            return CommandSupport.Ok;
        });
        const string details =
            "Its failed and cancelled activities, and those skipped because of them, run again with a fresh retry" +
            " allowance; completed activities keep their results. A run whose concurrency key is full waits for a slot first.";
        return new CommandSpec(command, details, """
                         spindle retry 0197a3c2-5b1e-7c4d-9f00-1234567890ab
                         """);
    }
}
