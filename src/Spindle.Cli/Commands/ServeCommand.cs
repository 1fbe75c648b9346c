using System.CommandLine;
using System.CommandLine.Parsing;
using System.Data.Common;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Spindle.Core.Common;
using Spindle.Core.Templates;
using Spindle.Server;
using Spindle.Server.Hosting;
using Spindle.Storage;
using Spindle.Storage.Postgres;

namespace Spindle.Cli.Commands;

/// <summary><c>spindle serve</c>: hosts the server in this process until Ctrl+C / SIGTERM.</summary>
internal static class ServeCommand
{
    public static CommandSpec Create()
    {
        var port = new Option<int>("--port")
        {
            Description = "TCP port to listen on; 0 picks a free one (env SPINDLE_PORT)",
            HelpName = "PORT",
            DefaultValueFactory = PortFromEnvironment,
        };
        var bind = new Option<string>("--bind")
        {
            Description = "Address to listen on (env SPINDLE_BIND)",
            HelpName = "ADDRESS",
            DefaultValueFactory = _ => CommandSupport.Env("SPINDLE_BIND") ?? "127.0.0.1",
        };
        var dataDir = new Option<string>("--data-dir")
        {
            Description = "Directory of the SQLite database, created if missing (env SPINDLE_DATA_DIR)",
            HelpName = "DIR",
            DefaultValueFactory = _ => CommandSupport.Env("SPINDLE_DATA_DIR") ?? ".spindle",
        };
        var databaseUrl = new Option<string?>("--database-url")
        {
            Description = "Keep data in PostgreSQL instead of SQLite, e.g. postgres://user:password@host:5432/spindle; " +
                          "several servers may share it (env SPINDLE_DATABASE_URL)",
            HelpName = "URL",
            DefaultValueFactory = _ => CommandSupport.Env("SPINDLE_DATABASE_URL"),
        };
        var noWorker = new Option<bool>("--no-worker")
        {
            Description = "Do not run the built-in std worker in this process; run `spindle worker` separately",
        };
        var insecureDev = new Option<bool>("--insecure-dev")
        {
            Description = "Accept requests without tokens (development only; loopback addresses only)",
        };

        var workerConcurrency = new Option<int>("--worker-concurrency")
        {
            Description = "How many activities the built-in std worker runs at once",
            HelpName = "N",
            DefaultValueFactory = _ => int.TryParse(CommandSupport.Env("SPINDLE_WORKER_CONCURRENCY"), out var n) ? n : ServerOptions.DefaultStdWorkerConcurrency,
        };
        var pythonWorkers = new Option<int>("--python-workers")
        {
            Description = "Also start N local py-std worker processes (Debian's /usr/bin/python3 with the repository's Python SDK)",
            HelpName = "N",
        };
        var dumpable = new Option<bool>("--dumpable")
        {
            Description = "Leave the server process dumpable (core files, dotnet-dump); by default it marks itself non-dumpable on " +
                          "Linux, so that other processes of its user cannot read its environment or memory (env SPINDLE_DUMPABLE=1)",
            DefaultValueFactory = _ => CommandSupport.Env("SPINDLE_DUMPABLE") is "1" or "true",
        };
        var corsOrigins = new Option<string[]>("--cors-origin")
        {
            Description = "Allow browser calls from this origin (repeatable); CORS is closed by default",
            HelpName = "ORIGIN",
            AllowMultipleArgumentsPerToken = false,
        };
        var signingKey = new Option<string?>("--signing-key")
        {
            Description = "PEM file of the RSA key that signs tokens (default <data-dir>/signing-key.pem, created on first start)",
            HelpName = "FILE",
        };
        var defaultWorkflowTimeout = new Option<string?>("--default-workflow-timeout")
        {
            Description = "Deadline for workflows without settings.timeout, e.g. 30m, 2h or 1d; none by default, as in " +
                          "Kruxia Flow (env SPINDLE_DEFAULT_WORKFLOW_TIMEOUT)",
            HelpName = "DURATION",
            DefaultValueFactory = _ => CommandSupport.Env("SPINDLE_DEFAULT_WORKFLOW_TIMEOUT"),
        };

        var templateMaxSteps = new Option<long>("--template-max-steps")
        {
            Description = "Steps one activity's templates may take: expressions, loop iterations, calls, list items, 64 characters of text " +
                          "(env SPINDLE_TEMPLATE_MAX_STEPS)",
            HelpName = "N",
            DefaultValueFactory = _ => long.TryParse(CommandSupport.Env("SPINDLE_TEMPLATE_MAX_STEPS"), out var n) ? n : TemplateLimits.Default.MaxSteps,
        };
        var templateMaxSize = new Option<int>("--template-max-size")
        {
            Description = "Largest string in characters a template may build, its output included (env SPINDLE_TEMPLATE_MAX_SIZE)",
            HelpName = "CHARS",
            DefaultValueFactory = _ => int.TryParse(CommandSupport.Env("SPINDLE_TEMPLATE_MAX_SIZE"), out var n) ? n : TemplateLimits.Default.MaxOutputSize,
        };

        var command = new Command("serve", "Run the Spindle server until Ctrl+C or SIGTERM.");
        command.Options.Add(templateMaxSteps);
        command.Options.Add(templateMaxSize);
        command.Options.Add(pythonWorkers);
        command.Options.Add(dumpable);
        command.Options.Add(corsOrigins);
        command.Options.Add(signingKey);
        command.Options.Add(port);
        command.Options.Add(bind);
        command.Options.Add(dataDir);
        command.Options.Add(databaseUrl);
        command.Options.Add(noWorker);
        command.Options.Add(workerConcurrency);
        command.Options.Add(insecureDev);
        command.Options.Add(defaultWorkflowTimeout);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            var options = new ServerOptions
            {
                Port = io.Parse.GetValue(port),
                Bind = io.Parse.GetValue(bind)!,
                DataDir = io.Parse.GetValue(dataDir)!,
                DatabaseUrl = io.Parse.GetValue(databaseUrl),
                NoWorker = io.Parse.GetValue(noWorker),
                StdWorkerConcurrency = io.Parse.GetValue(workerConcurrency),
                InsecureDev = io.Parse.GetValue(insecureDev),
                PythonWorkers = Math.Max(0, io.Parse.GetValue(pythonWorkers)),
                CorsOrigins = io.Parse.GetValue(corsOrigins) ?? [],
                SigningKeyPath = io.Parse.GetValue(signingKey),
                TemplateMaxSteps = io.Parse.GetValue(templateMaxSteps),
                TemplateMaxOutputSize = io.Parse.GetValue(templateMaxSize),
                DefaultWorkflowTimeoutSeconds = WorkflowTimeout(io.Parse.GetValue(defaultWorkflowTimeout)),
            };
            return await RunAsync(options, io.Parse.GetValue(dumpable), io, cancellationToken);
        });
        const string details =
            "Serves the REST API, runs the orchestrator timers and, unless --no-worker, the built-in std worker. " +
            "Data is kept in SQLite under --data-dir, or in PostgreSQL with --database-url (several servers, with or without " +
            "--no-worker, may share one database). Every API route needs a bearer token unless --insecure-dev; " +
            "the server writes a local admin credential to <data-dir>/admin-credentials.json, which the CLI on this " +
            "machine uses by itself. Workflows have no deadline unless their settings.timeout or --default-workflow-timeout " +
            "sets one. Options fall back to SPINDLE_PORT, SPINDLE_BIND, SPINDLE_DATABASE_URL, SPINDLE_DATA_DIR and " +
            "SPINDLE_DEFAULT_WORKFLOW_TIMEOUT.";
        return new CommandSpec(command, details, """
                         spindle serve
                         spindle serve --python-workers 2
                         spindle serve --insecure-dev --port 9000 --data-dir /var/lib/spindle --no-worker
                         spindle serve --database-url postgres://spindle:secret@db:5432/spindle --no-worker
                         """);
    }

    private static async Task<int> RunAsync(ServerOptions options, bool dumpable, CommandIo io, CancellationToken cancellationToken)
    {
        if (SpindleServer.Validate(options) is { } problem)
        {
            await io.Err.WriteLineAsync("error: " + problem);
            return CommandSupport.UsageError;
        }

        // Before the build: the host and the in-process worker log as they start.
        if (options.InsecureDev)
        {
            await io.Err.WriteLineAsync("WARNING: --insecure-dev: requests WITHOUT a token are accepted as 'insecure-dev'. " +
                                        "Development only; never expose this server.");
        }

        if (options.DatabaseUrl is not null)
        {
            try
            {
                PostgresConnectionStrings.FromDatabaseUrl(options.DatabaseUrl);
            }
            catch (FormatException ex)
            {
                await io.Err.WriteLineAsync("error: --database-url: " + ex.Message);
                return CommandSupport.UsageError;
            }
        }

        await using var app = SpindleServer.Build(options);
        if (!dumpable)
        {
            // Before the workers start: nothing of this user reads the server's secrets from /proc.
            ProcessProtection.MakeNonDumpable(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Spindle.Server"));
        }
        string url;
        try
        {
            url = await SpindleServer.StartAsync(app, cancellationToken);
        }
        catch (IOException ex)
        {
            // Kestrel reports a port in use or a forbidden address this way.
            await io.Err.WriteLineAsync($"error: cannot listen on {options.Bind}:{options.Port}: {ex.Message}");
            return CommandSupport.Failed;
        }
        catch (SchemaTooNewException ex)
        {
            await io.Err.WriteLineAsync("error: " + ex.Message);
            return CommandSupport.Failed;
        }
        catch (DbException ex) when (options.DatabaseUrl is not null)
        {
            await io.Err.WriteLineAsync($"error: cannot use PostgreSQL at {DescribeDatabase(options.DatabaseUrl)}: {ex.Message}");
            return CommandSupport.Failed;
        }

        var worker = options.NoWorker ? "std worker off (--no-worker; run `spindle worker`)" : "std worker in-process";
        var data = options.DatabaseUrl is null ? Path.GetFullPath(options.DataDir) : "PostgreSQL " + DescribeDatabase(options.DatabaseUrl);
        await io.Out.WriteLineAsync($"Spindle listening on {url} — data in {data}, {worker}. Ctrl+C to stop.");
        await io.Out.FlushAsync(cancellationToken);

        // The host stops on Ctrl+C / SIGTERM by itself; the token covers an in-process caller (tests).
        await app.WaitForShutdownAsync(cancellationToken);
        await io.Out.WriteLineAsync("Spindle stopped.");
        return CommandSupport.Ok;
    }

    /// <summary>Where the database is, without the password.</summary>
    private static string DescribeDatabase(string databaseUrl) =>
        PostgresConnectionStrings.Describe(PostgresConnectionStrings.FromDatabaseUrl(databaseUrl));

    /// <summary>A duration such as <c>30m</c> in seconds; empty, <c>0</c> or <c>none</c> means no default deadline.</summary>
    private static int WorkflowTimeout(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text is "none" or "off")
        {
            return 0;
        }
        return DurationText.TryParseSeconds(text, out var seconds)
            ? seconds
            : throw new UsageException($"--default-workflow-timeout '{text}' is not a duration: use a number with s, m, h, d or w " +
                                       "(e.g. 30m, 2h, 1d), or none");
    }

    private static int PortFromEnvironment(ArgumentResult result)
    {
        if (CommandSupport.Env("SPINDLE_PORT") is not { } text)
        {
            return 8080;
        }
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }
        result.AddError($"SPINDLE_PORT '{text}' is not a port number");
        return 8080;
    }
}
