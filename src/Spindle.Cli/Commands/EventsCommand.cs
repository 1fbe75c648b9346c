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
        var follow = new Option<bool>("--follow", "-f")
        {
            Description = "Keep printing events as they happen until the run completes, fails or is cancelled",
        };
        var command = new Command("events", "Print a workflow's event history, oldest first.");
        command.Arguments.Add(id);
        command.Options.Add(follow);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            using var spindle = client.CreateClient(io.Parse);
            var workflowId = io.Parse.GetValue(id)!;
            if (io.Parse.GetValue(follow))
            {
                await FollowAsync(spindle, workflowId, client.WantsJson(io.Parse), io.Out, cancellationToken);
                return CommandSupport.Ok;
            }
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
            "(UTC) and main details. With --follow the history is printed line by line and then each new event " +
            "as it happens (over the server's live event stream, or by polling a server without one), until the " +
            "run ends; with --json each event is one JSON line.";
        return new CommandSpec(command, details, """
                         spindle events 0197a3c2-5b1e-7c4d-9f00-1234567890ab
                         spindle events 0197a3c2-5b1e-7c4d-9f00-1234567890ab --follow
                         spindle events 0197a3c2-5b1e-7c4d-9f00-1234567890ab --follow --json | jq .event_type
                         """);
    }

    /// <summary>One line per event as it arrives: <c>TIME  EVENT  ACTIVITY  DETAILS</c>, or the event as compact JSON.</summary>
    private static async Task FollowAsync(SpindleClient spindle, string workflowId, bool json, TextWriter writer, CancellationToken cancellationToken)
    {
        var formatter = new EventFormatter();
        await new WorkflowFollower(spindle, workflowId).FollowAsync(async ev =>
        {
            var line = json
                ? CompactJson(ev)
                : $"{ClockTime(ev["timestamp"]),-12}  {Str(ev["event_type"]),-18}  {EventFormatter.Label(ev),-12}  {formatter.Details(ev)}".TrimEnd();
            await writer.WriteLineAsync(line);
            await writer.FlushAsync(cancellationToken);
        }, cancellationToken);
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
