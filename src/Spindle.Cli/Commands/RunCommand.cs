using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using static Spindle.Cli.ConsoleRenderer;

namespace Spindle.Cli.Commands;

/// <summary><c>spindle run</c>: deploy, submit and follow one workflow to its end.</summary>
internal static class RunCommand
{
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
        var priority = new Option<int?>("--priority")
        {
            Description = "Claim priority of the run's activities, 0-1000 (higher is claimed first; default 0); an activity's own priority wins",
            HelpName = "N",
        };
        var embedded = new Option<bool>("--embedded")
        {
            Description = "Start a temporary in-process server (SQLite, std worker) for this run and stop it afterwards; no server needed",
        };

        var stream = new Option<bool>("--stream")
        {
            Description = "Also print the live output of running activities as it arrives (LLM tokens with streaming: true, or chunks a worker publishes)",
        };

        var command = new Command("run", "Deploy a workflow file, start it and follow it to the end.");
        command.Arguments.Add(file);
        command.Options.Add(input);
        command.Options.Add(inputFile);
        command.Options.Add(timeout);
        command.Options.Add(priority);
        command.Options.Add(embedded);
        command.Options.Add(stream);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            var path = io.Parse.GetValue(file)!;
            if (!File.Exists(path))
            {
                // Checked up front so a typo does not first start an embedded server.
                throw new UsageException($"cannot read {path}: no such file");
            }
            if (io.Parse.GetValue(priority) is < 0 or > 1000)
            {
                // A usage error (exit 2) before anything starts, rather than the server's 422 after the deploy.
                throw new UsageException("--priority must be a whole number from 0 to 1000");
            }
            var request = new RunRequest(
                path,
                await ReadInputAsync(io.Parse.GetValue(input), io.Parse.GetValue(inputFile), cancellationToken),
                TimeSpan.FromSeconds(io.Parse.GetValue(timeout)),
                client.WantsJson(io.Parse),
                io.Parse.GetValue(embedded),
                io.Parse.GetValue(stream),
                io.Parse.GetValue(priority));
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
            "Each activity transition is printed as it happens (followed over the server's live event stream, or " +
            "by polling a server without one), then the final status and the outputs of the terminal activities " +
            "(those nothing depends on). With --stream the live output of each running activity is printed too, " +
            "as `  key ▸ text…` (ignored with --json). --priority N queues the run's activities ahead of those of " +
            "lower priority waiting for the same workers (an activity's own priority: wins; waiting ages work up, " +
            "so nothing starves). Exit code 0 when the workflow completed; 1 when it failed, " +
            "was cancelled or --timeout passed. With --embedded no server is needed: a temporary one runs " +
            "in-process for this run.";
        return new CommandSpec(command, details, """
                         spindle run examples/01-hello-chain.yaml --embedded --input '{"name": "Ada"}'
                         spindle run examples/22-streaming-answer.yaml --stream --input '{"topic": "tides"}'
                         spindle run flow.yaml --input-file input.json --timeout 60 --priority 10
                         spindle run flow.yaml --json > result.json
                         """);
    }

    private sealed record RunRequest(string File, JsonObject Input, TimeSpan Timeout, bool Json, bool Embedded, bool Stream, int? Priority);

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
            var submitted = await spindle.SubmitWorkflowAsync(name, Str(deployed["version"]), request.Input, shutdown.Token, request.Priority);
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
        using var live = new LiveOutput(request.Json ? TextWriter.Null : io.Out);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(request.Timeout);
        var watcher = request.Stream && !request.Json ? new ActivityOutputWatcher(spindle, id, live, deadline.Token) : null;
        var timedOut = false;
        try
        {
            await new WorkflowFollower(spindle, id).FollowAsync(async ev =>
            {
                if (watcher is not null)
                {
                    await watcher.OnEventAsync(ev);
                }
                if (formatter.LiveLine(ev) is { } line)
                {
                    await live.LineAsync("  " + line, deadline.Token);
                }
            }, deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            timedOut = true;
        }
        if (watcher is not null)
        {
            await watcher.DrainAsync();
        }

        var workflow = await spindle.GetWorkflowAsync(id, 0, cancellationToken);
        if (timedOut && !IsTerminal(Str(workflow["status"])))
        {
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
}
