using System.CommandLine;
using Microsoft.Extensions.Logging;
using Spindle.Worker;
using Spindle.Worker.Std;

namespace Spindle.Cli.Commands;

/// <summary><c>spindle worker</c>: runs the built-in std activities as a separate worker process.</summary>
internal static class WorkerCommand
{
    public static CommandSpec Create()
    {
        var apiUrl = new Option<string?>("--api-url")
        {
            Description = "Base URL of the Spindle server (env SPINDLE_API_URL; default " + ClientOptions.DefaultApiUrl + ")",
            HelpName = "URL",
        };
        var routingKey = new Option<string?>("--worker")
        {
            Description = "Routing key to poll; activities with this `worker:` value are served (env SPINDLE_WORKER; default std)",
            HelpName = "NAME",
        };
        var workerId = new Option<string?>("--worker-id")
        {
            Description = "Unique id of this worker instance (env SPINDLE_WORKER_ID; default a random worker_<hex>)",
            HelpName = "ID",
        };
        var concurrency = new Option<int?>("--concurrency")
        {
            Description = "Maximum activities run at the same time (env SPINDLE_WORKER_MAX_ACTIVITIES; default 16)",
            HelpName = "N",
        };

        var command = new Command("worker", "Run the built-in std worker as its own process.");
        command.Options.Add(apiUrl);
        command.Options.Add(routingKey);
        command.Options.Add(workerId);
        command.Options.Add(concurrency);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            var options = BuildOptions(io.Parse.GetValue(apiUrl), io.Parse.GetValue(routingKey), io.Parse.GetValue(workerId), io.Parse.GetValue(concurrency));
            return await RunAsync(options, io, cancellationToken);
        });
        const string details =
            "Serves the std activities (echo, http_request, postgres_query, llm_prompt, …) for a Spindle server " +
            "(one started with --no-worker, or to add capacity). Other settings come from the worker SDK's SPINDLE_* " +
            "variables (e.g. SPINDLE_CLIENT_ID, SPINDLE_CLIENT_SECRET, SPINDLE_WORKER_POLL_WAIT_SECONDS). Ctrl+C " +
            "or SIGTERM stops polling and lets running activities finish.";
        return new CommandSpec(command, details, """
                         spindle worker --api-url http://127.0.0.1:8080
                         SPINDLE_API_URL=http://spindle:8080 spindle worker --worker-id std-1 --concurrency 64
                         """);
    }

    private static SpindleWorkerOptions BuildOptions(string? apiUrl, string? routingKey, string? workerId, int? concurrency)
    {
        SpindleWorkerOptions options;
        try
        {
            options = SpindleWorkerOptions.FromEnvironment();
        }
        catch (FormatException ex)
        {
            throw new UsageException(ex.Message);
        }
        if (apiUrl is not null)
        {
            options.ApiUrl = Uri.TryCreate(apiUrl, UriKind.Absolute, out var url) ? url : throw new UsageException($"--api-url '{apiUrl}' is not an absolute URL");
        }
        options.ApiUrl ??= new Uri(ClientOptions.DefaultApiUrl);
        if (routingKey is not null)
        {
            options.RoutingKey = routingKey;
        }
        if (workerId is not null)
        {
            options.WorkerId = workerId;
        }
        if (concurrency is not null)
        {
            options.MaxConcurrency = concurrency.Value;
        }
        try
        {
            options.Validate();
        }
        catch (InvalidOperationException ex)
        {
            throw new UsageException(ex.Message);
        }
        return options;
    }

    private static async Task<int> RunAsync(SpindleWorkerOptions options, CommandIo io, CancellationToken cancellationToken)
    {
        using var loggers = LoggerFactory.Create(logging => logging
            .AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.TimestampFormat = "HH:mm:ss ";
            })
            .SetMinimumLevel(LogLevel.Information));
        var registry = new ActivityRegistry();
        await using var std = StdActivities.Register(registry, loggerFactory: loggers);
        using var worker = new SpindleWorker(options, registry, loggers.CreateLogger<SpindleWorker>());
        // email_send attachments are read through the worker's own (authenticated) client.
        std.UseApiClient(worker.ApiClient);
        using var shutdown = new ShutdownSignal(cancellationToken);

        await io.Out.WriteLineAsync($"spindle worker {options.WorkerId}: serving '{options.RoutingKey}' ({string.Join(", ", registry.Names)}) " +
                                    $"from {options.ApiUrl}, up to {options.MaxConcurrency} at a time. Ctrl+C to drain and stop.");
        await io.Out.FlushAsync(cancellationToken);
        await worker.RunAsync(shutdown.Token);
        await io.Out.WriteLineAsync($"spindle worker {options.WorkerId}: stopped.");
        return CommandSupport.Ok;
    }
}
