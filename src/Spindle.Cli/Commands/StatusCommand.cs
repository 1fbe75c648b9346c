using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using static Spindle.Cli.ConsoleRenderer;

namespace Spindle.Cli.Commands;

/// <summary><c>spindle status</c>: one workflow and its activities (docs/api.md).</summary>
internal static class StatusCommand
{
    public static CommandSpec Create()
    {
        var id = new Argument<string>("ID") { Description = "Workflow id" };
        var command = new Command("status", "Show a workflow and its activities.");
        command.Arguments.Add(id);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            using var spindle = client.CreateClient(io.Parse);
            var workflow = await spindle.GetWorkflowAsync(io.Parse.GetValue(id)!, 0, cancellationToken);
            await io.Out.WriteLineAsync(client.WantsJson(io.Parse) ? PrettyJson(workflow) : Render(workflow));
            return CommandSupport.Ok;
        });
        const string details =
            "Status, definition, timestamps and error, then one row per activity: status, attempt, loop " +
            "iteration, last change and error.";
        return new CommandSpec(command, details, """
                         spindle status 0197a3c2-5b1e-7c4d-9f00-1234567890ab
                         spindle status 0197a3c2-5b1e-7c4d-9f00-1234567890ab --json
                         """);
    }

    public static string Render(JsonObject workflow)
    {
        var lines = new List<string>
        {
            $"workflow    {Str(workflow["id"])}",
            $"status      {Str(workflow["status"])}",
            $"definition  {Str(workflow["definition_name"])} (version {Str(workflow["definition_version"])})",
            $"created     {Time(workflow["created_at"])}",
            $"updated     {Time(workflow["updated_at"])}",
        };
        if (ParseTime(workflow["completed_at"]) is not null)
        {
            lines.Add($"completed   {Time(workflow["completed_at"])}");
        }
        if (Str(workflow["total_cost_usd"]) is { Length: > 0 } cost && decimal.TryParse(cost, CultureInfo.InvariantCulture, out var amount) && amount != 0)
        {
            lines.Add($"cost        ${cost}");
        }
        if (Str(workflow["error_message"]) is { Length: > 0 } error)
        {
            lines.Add($"error       {error}");
        }

        var activities = (workflow["activities"] as JsonArray ?? []).OfType<JsonObject>().ToList();
        lines.Add("");
        if (activities.Count == 0)
        {
            lines.Add("no activities yet (the workflow has not started)");
            return string.Join('\n', lines);
        }
        var rows = activities.Select(a => new[]
        {
            Str(a["activity_key"]),
            Str(a["status"]),
            Str(a["attempt"]),
            Str(a["iteration"]),
            Time(a["completed_at"] ?? a["claimed_at"] ?? a["started_at"]),
            ErrorText(a),
        }).ToList();
        lines.Add(Table(["ACTIVITY", "STATUS", "ATTEMPT", "ITER", "LAST CHANGE", "ERROR"], rows));
        return string.Join('\n', lines);
    }

    /// <summary>The activity's error: the read API's string (<c>"CODE: message"</c>), or an older server's object.</summary>
    private static string ErrorText(JsonObject activity) => activity["error"] switch
    {
        JsonObject e => OneLine($"{Str(e["code"])}: {Str(e["message"])}", 100),
        JsonValue v => OneLine(Str(v), 100),
        _ => "",
    };
}
