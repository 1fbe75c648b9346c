using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using static Spindle.Cli.ConsoleRenderer;

namespace Spindle.Cli.Commands;

/// <summary><c>spindle run</c>: deploy, submit and follow one workflow to its end.</summary>
internal static class RunCommand
{
    // Long-poll slice: short enough that progress lines appear about once a second.
    private const int WaitSeconds = 1;

    public static CommandSpec Create()
    {
        var file = new Argument<string>("FILE") { Description = "Workflow definition file (YAML or JSON)" };
        var input = new Option<string?>("--input") { Description = "Workflow input as a JSON object", HelpName = "JSON" };
        var inputFile = new Option<string?>("--input-file") { Description = "Read the workflow input (a JSON object) from this file", HelpName = "PATH" };
        var timeout = new Option<int>("--timeout")
        {
            Description = "Give up following after this many seconds (exit code 1)",
            HelpName = "SECONDS",
            DefaultValueFactory = _ => 300,
        };
        timeout.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() <= 0)
            {
                result.AddError("--timeout must be a positive number of seconds");
            }
        });
        var embedded = new Option<bool>("--embedded")
        {
            Description = "Start a temporary in-process server (SQLite, std worker) for this run and stop it afterwards; no server needed",
        };

        var command = new Command("run", "Deploy a workflow file, start it and follow it to the end.");
        command.Arguments.Add(file);
        command.Options.Add(input);
        command.Options.Add(inputFile);
        command.Options.Add(timeout);
        command.Options.Add(embedded);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            var path = io.Parse.GetValue(file)!;
            if (!File.Exists(path))
            {
                // Checked up front so a typo does not first start an embedded server.
                throw new UsageException($"cannot read {path}: no such file");
            }
            var request = new RunRequest(
                path,
                await ReadInputAsync(io.Parse.GetValue(input), io.Parse.GetValue(inputFile), cancellationToken),
                TimeSpan.FromSeconds(io.Parse.GetValue(timeout)),
                client.WantsJson(io.Parse),
                io.Parse.GetValue(embedded));
            if (!request.Embedded)
            {
                using var spindle = client.CreateClient(io.Parse);
                return await RunAsync(spindle, request, io, cancellationToken);
            }

            // With --embedded, an explicit --data-dir keeps the database there instead of in a temporary directory.
            var dir = io.Parse.GetResult(client.DataDir) is { Implicit: false } ? io.Parse.GetValue(client.DataDir) : null;
            await using var server = await EmbeddedServer.StartAsync(dir, cancellationToken);
            if (!request.Json)
            {
                await io.Out.WriteLineAsync($"embedded Spindle at {server.Url} (data in {server.DataDir}{(dir is null ? ", removed afterwards" : "")})");
            }
            using var embeddedClient = ClientOptions.CreateClient(server.Url, server.DataDir);
            return await RunAsync(embeddedClient, request, io, cancellationToken);
        }, suggestEmbedded: true);
        const string details =
            "Each activity transition is printed as it happens, then the final status and the outputs of the " +
            "terminal activities (those nothing depends on). Exit code 0 when the workflow completed; 1 when it " +
            "failed, was cancelled or --timeout passed. With --embedded no server is needed: a temporary one runs" +
            " in-process for this run.";
        return new CommandSpec(command, details, """
                         spindle run examples/01-hello-chain.yaml --embedded --input '{"name": "Ada"}'
                         spindle run flow.yaml --input-file input.json --timeout 60
                         spindle run flow.yaml --json > result.json
                         """);
    }

    private sealed record RunRequest(string File, JsonObject Input, TimeSpan Timeout, bool Json, bool Embedded);

    private static async Task<JsonObject> ReadInputAsync(string? inline, string? path, CancellationToken cancellationToken)
    {
        if (inline is not null && path is not null)
        {
            throw new UsageException("use either --input or --input-file, not both");
        }
        var text = path is not null ? await CommandSupport.ReadFileAsync(path, cancellationToken) : inline;
        if (text is null)
        {
            return [];
        }
        var source = path is not null ? path : "--input";
        try
        {
            // Repeated keys are refused here, as the server would refuse them.
            return JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }) as JsonObject
                   ?? throw new UsageException($"{source} must be a JSON object, e.g. '{{\"name\": \"Ada\"}}'");
        }
        catch (JsonException ex)
        {
            throw new UsageException($"{source} is not valid JSON: {ex.Message}");
        }
    }

    private static async Task<int> RunAsync(SpindleClient spindle, RunRequest request, CommandIo io, CancellationToken cancellationToken)
    {
        using var shutdown = new ShutdownSignal(cancellationToken);
        string? id = null;
        try
        {
            var deployed = await DeployCommand.DeployFileAsync(spindle, request.File, io, request.Json ? DeployOutput.Silent : DeployOutput.Text, shutdown.Token);
            if (deployed is null)
            {
                return CommandSupport.Failed;
            }
            var name = Str(deployed["name"]);
            var submitted = await spindle.SubmitWorkflowAsync(name, Str(deployed["version"]), request.Input, shutdown.Token);
            id = Str(submitted["workflow_id"]);
            if (!request.Json)
            {
                await io.Out.WriteLineAsync($"started workflow {id} ({name})");
            }
            return await FollowAsync(spindle, id, deployed, request, io, shutdown.Token);
        }
        catch (Exception) when (shutdown.Token.IsCancellationRequested)
        {
            // Ctrl+C: whatever failed (a cancelled request, an embedded server that is stopping) is a consequence.
            await io.Err.WriteLineAsync(id is null ? "interrupted" : $"interrupted; workflow {id} {StillRunningHint(id, request)}");
            return CommandSupport.Interrupted;
        }
    }

    private static async Task<int> FollowAsync(SpindleClient spindle, string id, JsonObject deployed, RunRequest request, CommandIo io,
        CancellationToken cancellationToken)
    {
        var formatter = new EventFormatter();
        var progress = new Progress(spindle, id, formatter, request.Json ? TextWriter.Null : io.Out);
        var clock = Stopwatch.StartNew();
        JsonObject workflow;
        while (true)
        {
            await progress.PrintNewEventsAsync(cancellationToken);
            workflow = await spindle.GetWorkflowAsync(id, WaitSeconds, cancellationToken);
            if (IsTerminal(Str(workflow["status"])))
            {
                await progress.PrintNewEventsAsync(cancellationToken);
                break;
            }
            if (clock.Elapsed >= request.Timeout)
            {
                await progress.PrintNewEventsAsync(cancellationToken);
                var message = $"timed out after {Duration(request.Timeout)}: workflow {id} is still {Str(workflow["status"])}";
                if (request.Json)
                {
                    await io.Out.WriteLineAsync(PrettyJson(new JsonObject { ["deploy"] = deployed.DeepClone(), ["workflow"] = workflow, ["output"] = null }));
                    await io.Err.WriteLineAsync("error: " + message);
                }
                else
                {
                    await io.Out.WriteLineAsync($"✗ {message}; it {StillRunningHint(id, request)}");
                }
                return CommandSupport.Failed;
            }
        }

        var status = Str(workflow["status"]);
        var output = status == "completed" ? await spindle.GetWorkflowOutputAsync(id, cancellationToken) : null;
        if (request.Json)
        {
            await io.Out.WriteLineAsync(PrettyJson(new JsonObject { ["deploy"] = deployed.DeepClone(), ["workflow"] = workflow, ["output"] = output }));
            return status == "completed" ? CommandSupport.Ok : CommandSupport.Failed;
        }

        var took = ParseTime(workflow["completed_at"]) is { } end && ParseTime(workflow["created_at"]) is { } start
            ? $" in {Duration(end - start)}"
            : "";
        switch (status)
        {
            case "completed":
                await io.Out.WriteLineAsync($"✓ workflow {id} completed{took}");
                await WriteTerminalOutputsAsync(output!, io.Out);
                return CommandSupport.Ok;
            case "cancelled":
                await io.Out.WriteLineAsync($"⊘ workflow {id} cancelled{took}: {Str(workflow["error_message"])}");
                return CommandSupport.Failed;
            default:
                await io.Out.WriteLineAsync($"✗ workflow {id} failed{took}: {Str(workflow["error_message"])}");
                return CommandSupport.Failed;
        }
    }

    private static string StillRunningHint(string id, RunRequest request) => request.Embedded
        ? "stops with the embedded server (use `spindle serve` to keep workflows running)"
        : $"goes on without us — see `spindle status {id}`";

    /// <summary>The values of the activities nothing depends on: what the workflow produced.</summary>
    private static async Task WriteTerminalOutputsAsync(JsonObject output, TextWriter writer)
    {
        var outputs = output["outputs"] as JsonObject ?? [];
        foreach (var key in (output["terminal_outputs"] as JsonArray ?? []).Select(Str))
        {
            var activity = outputs[key] as JsonObject;
            var status = Str(activity?["status"]);
            if (status != "completed")
            {
                await writer.WriteLineAsync($"{key}: {(status.Length == 0 ? "no output" : status)}");
                continue;
            }
            await writer.WriteLineAsync($"output of {key}:");
            await writer.WriteLineAsync(Indent(PrettyJson(OutputsObject(activity?["output"])), "  "));
        }
    }

    /// <summary>Prints the history as it grows, remembering how far it has read.</summary>
    private sealed class Progress(SpindleClient spindle, string workflowId, EventFormatter formatter, TextWriter writer)
    {
        private string? _lastEventId;

        public async Task PrintNewEventsAsync(CancellationToken cancellationToken)
        {
            foreach (var ev in await spindle.GetAllEventsAsync(workflowId, _lastEventId, cancellationToken))
            {
                _lastEventId = Str(ev["id"]);
                if (formatter.LiveLine(ev) is { } line)
                {
                    await writer.WriteLineAsync("  " + line);
                }
            }
            await writer.FlushAsync(cancellationToken);
        }
    }
}
