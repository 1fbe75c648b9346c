using System.CommandLine;
using System.Text.Json.Nodes;

namespace Spindle.Cli.Commands;

/// <summary><c>spindle deploy</c>: uploads workflow definitions (docs/api.md).</summary>
internal static class DeployCommand
{
    public static CommandSpec Create()
    {
        var files = new Argument<string[]>("FILE")
        {
            Description = "Workflow definition files (YAML or JSON)",
            Arity = ArgumentArity.OneOrMore,
        };
        var command = new Command("deploy", "Deploy workflow definition files (YAML or JSON).");
        command.Arguments.Add(files);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            using var spindle = client.CreateClient(io.Parse);
            var output = client.WantsJson(io.Parse) ? DeployOutput.Json : DeployOutput.Text;
            var exitCode = CommandSupport.Ok;
            foreach (var path in io.Parse.GetValue(files)!)
            {
                if (await DeployFileAsync(spindle, path, io, output, cancellationToken) is null)
                {
                    exitCode = CommandSupport.Failed;
                }
            }
            return exitCode;
        });
        const string details =
            "Each file becomes a new version of its workflow, or is reported unchanged when it equals the latest " +
            "version. Validation errors are listed as `field: message` and the exit code is 1.";
        return new CommandSpec(command, details, """
                         spindle deploy examples/01-hello-chain.yaml
                         spindle deploy workflows/*.yaml --api-url http://spindle:8080
                         """);
    }

    /// <summary>Deploys one file and reports it; returns the server's answer, or null when the file was rejected.</summary>
    public static async Task<JsonObject?> DeployFileAsync(SpindleClient spindle, string path, CommandIo io, DeployOutput output, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = await CommandSupport.ReadFileAsync(path, cancellationToken);
        }
        catch (UsageException ex)
        {
            await io.Err.WriteLineAsync("error: " + ex.Message);
            return null;
        }

        JsonObject answer;
        try
        {
            answer = await spindle.DeployDefinitionAsync(text, cancellationToken);
        }
        catch (ApiCallException ex) when (ex.StatusCode is 400 or 422)
        {
            await CommandSupport.WriteApiErrorAsync(io.Err, ex, prefix: $"{path}: ");
            return null;
        }

        if (output != DeployOutput.Text)
        {
            if (output == DeployOutput.Json)
            {
                await io.Out.WriteLineAsync(ConsoleRenderer.PrettyJson(answer));
            }
            return answer;
        }
        var verb = ConsoleRenderer.Bool(answer["unchanged"]) ? "unchanged" : "deployed";
        await io.Out.WriteLineAsync($"{verb} {ConsoleRenderer.Str(answer["name"])} version {ConsoleRenderer.Str(answer["version"])}");
        if (answer["warnings"] is JsonArray warnings)
        {
            foreach (var warning in warnings)
            {
                await io.Out.WriteLineAsync($"  warning: {ConsoleRenderer.Str(warning)}");
            }
        }
        return answer;
    }
}

/// <summary>How a successful deploy is reported; errors always go to stderr.</summary>
internal enum DeployOutput
{
    Text,
    Json,
    Silent,
}
