using System.CommandLine;
using System.Text.Json.Nodes;
using static Spindle.Cli.ConsoleRenderer;

namespace Spindle.Cli.Commands;

/// <summary><c>spindle events</c>: a workflow's history, oldest first (docs/api.md).</summary>
internal static class EventsCommand
{
    public static CommandSpec Create()
    {
        var id = new Argument<string>("ID") { Description = "Workflow id" };
        var command = new Command("events", "Print a workflow's event history, oldest first.");
        command.Arguments.Add(id);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            using var spindle = client.CreateClient(io.Parse);
            var workflowId = io.Parse.GetValue(id)!;
            var events = await spindle.GetAllEventsAsync(workflowId, null, cancellationToken);
            if (client.WantsJson(io.Parse))
            {
                var list = new JsonArray(events.Select(e => (JsonNode)e.DeepClone()).ToArray());
                await io.Out.WriteLineAsync(PrettyJson(new JsonObject { ["workflow_id"] = workflowId, ["events"] = list, ["count"] = events.Count }));
                return CommandSupport.Ok;
            }
            await io.Out.WriteLineAsync(Render(events));
            return CommandSupport.Ok;
        });
        const string details =
            "Every scheduling, claim, completion, failure, skip, signal and workflow transition, with its time " +
            "(UTC) and main details.";
        return new CommandSpec(command, details, """
                         spindle events 0197a3c2-5b1e-7c4d-9f00-1234567890ab
                         """);
    }

    public static string Render(IReadOnlyList<JsonObject> events)
    {
        if (events.Count == 0)
        {
            return "no events";
        }
        var formatter = new EventFormatter();
        var rows = events.Select(e => new[]
        {
            ClockTime(e["timestamp"]),
            Str(e["event_type"]),
            EventFormatter.Label(e),
            formatter.Details(e),
        }).ToList();
        return Table(["TIME (UTC)", "EVENT", "ACTIVITY", "DETAILS"], rows);
    }
}
