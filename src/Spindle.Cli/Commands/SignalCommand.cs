using System.CommandLine;
using System.Text.Json.Nodes;
using static Spindle.Cli.ConsoleRenderer;

namespace Spindle.Cli.Commands;

/// <summary><c>spindle signal</c>: deliver an event to a waiting activity (human-in-the-loop steps, docs/api.md).</summary>
internal static class SignalCommand
{
    public static CommandSpec Create()
    {
        var id = new Argument<string>("ID") { Description = "Workflow id" };
        var activity = new Argument<string>("ACTIVITY") { Description = "Key of the waiting activity" };
        var eventName = new Argument<string>("EVENT") { Description = "Event name the activity waits for" };
        var data = new Option<string?>("--data") { Description = "Event data (a JSON object)", HelpName = "JSON" };
        var command = new Command("signal", "Send an event to an activity that waits for it (an approval, a human's answer).");
        command.Arguments.Add(id);
        command.Arguments.Add(activity);
        command.Arguments.Add(eventName);
        command.Options.Add(data);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            var body = new JsonObject { ["activity_key"] = io.Parse.GetValue(activity), ["event_name"] = io.Parse.GetValue(eventName) };
            if (io.Parse.GetValue(data) is { } text)
            {
                JsonNode? parsed;
                try
                {
                    parsed = JsonNode.Parse(text);
                }
                catch (System.Text.Json.JsonException e)
                {
                    throw new UsageException($"--data is not valid JSON: {e.Message}");
                }
                body["data"] = parsed as JsonObject ?? throw new UsageException("--data must be a JSON object, e.g. '{\"approved\": true}'");
            }
            using var spindle = client.CreateClient(io.Parse);
            var answer = await spindle.CallAsync(HttpMethod.Post, $"api/v1/workflows/{Uri.EscapeDataString(io.Parse.GetValue(id)!)}/signal", body,
                cancellationToken);
            if (client.WantsJson(io.Parse))
            {
                await io.Out.WriteLineAsync(PrettyJson(answer));
            }
            else
            {
                await io.Out.WriteLineAsync(answer?["signaled"]?.GetValue<bool>() == true ? "signaled" : $"not signaled: {Str(answer?["message"])}");
            }
            return answer?["signaled"]?.GetValue<bool>() == true ? CommandSupport.Ok : CommandSupport.Failed;
        });
        const string details = "Exit code 1 when no activity of the workflow waits for that event (the message says why).";
        return new CommandSpec(command, details, """
                         spindle signal 0197a3c2-5b1e-7c4d-9f00-1234567890ab approve approved --data '{"by": "ada"}'
                         """);
    }
}
