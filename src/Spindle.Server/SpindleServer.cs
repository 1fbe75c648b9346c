using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Spindle.Core.Costs;
using Spindle.Core.Orchestration;
using Spindle.Core.Templates;
using Spindle.Server.Api;
using Spindle.Server.Auth;
using Spindle.Server.Hosting;
using Spindle.Server.Streams;
using Spindle.Server.Wakeups;
using Spindle.Storage;
using Spindle.Storage.Sqlite;

namespace Spindle.Server;

/// <summary>Builds and runs the Spindle server: REST API, orchestrator timers and (unless disabled) the std worker.</summary>
public static partial class SpindleServer
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "INSECURE DEV MODE: requests without a token are accepted. Loopback only; never use this on a shared machine.")]
    private static partial void LogInsecureDev(ILogger logger);

    /// <summary>Checks options that would make the server unsafe or unusable; returns the problem or null.</summary>
    public static string? Validate(ServerOptions options)
    {
        if (!IPAddress.TryParse(options.Bind, out var address) && options.Bind != "localhost")
        {
            return $"--bind '{options.Bind}' is not an IP address (use 127.0.0.1, 0.0.0.0 or a local address)";
        }
        var loopback = options.Bind == "localhost" || (address is not null && IPAddress.IsLoopback(address));
        if (options.InsecureDev && !loopback)
        {
            return $"--insecure-dev accepts requests without tokens, so it only binds to loopback; --bind {options.Bind} is refused. " +
                   "Use --bind 127.0.0.1.";
        }
        if (options.Port is < 0 or > 65535)
        {
            return $"--port {options.Port} is out of range (0-65535)";
        }
        if (options.StdWorkerConcurrency is < 1 or > 1000)
        {
            return $"--worker-concurrency {options.StdWorkerConcurrency} is out of range (1-1000)";
        }
        if (options.TemplateMaxSteps < 1)
        {
            return $"--template-max-steps {options.TemplateMaxSteps} must be at least 1";
        }
        if (options.TemplateMaxOutputSize < 1)
        {
            return $"--template-max-size {options.TemplateMaxOutputSize} must be at least 1";
        }
        return null;
    }

    public static WebApplication Build(ServerOptions options, Action<ILoggingBuilder>? configureLogging = null)
    {
        var problem = Validate(options);
        if (problem is not null)
        {
            throw new ArgumentException(problem, nameof(options));
        }
        var dataDirectory = DataDirectory.Prepare(options);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        configureLogging?.Invoke(builder.Logging);

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            var address = options.Bind == "localhost" ? IPAddress.Loopback : IPAddress.Parse(options.Bind);
            kestrel.Listen(address, options.Port);
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            kestrel.AddServerHeader = false;
        });

        var catalog = ModelCatalog.Load(Environment.GetEnvironmentVariable(ModelCatalog.OverrideEnvironmentVariable));
        var defaults = new EngineDefaults
        {
            ModelCatalog = catalog,
            ActivityTimeoutSeconds = options.DefaultActivityTimeoutSeconds,
            WorkflowTimeoutSeconds = options.DefaultWorkflowTimeoutSeconds,
            MaxRetries = options.DefaultMaxRetries,
            TemplateLimits = TemplateLimits.Default with { MaxSteps = options.TemplateMaxSteps, MaxOutputSize = options.TemplateMaxOutputSize },
            Secrets = options.Secrets ?? EngineDefaults.SecretsFromEnvironment(),
            Clock = options.Clock,
        };
        var hub = new WakeupHub();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(dataDirectory);
        builder.Services.AddSingleton(hub);
        builder.Services.AddSingleton(new PollCoordinator());
        builder.Services.AddWorkflowStore(options, defaults, hub);
        AddAuth(builder.Services, options);
        builder.Services.AddSingleton(catalog);
        builder.Services.AddSingleton<TimerLoop>();
        builder.Services.AddHostedService<TimerService>();
        builder.Services.AddSingleton(sp => (IScheduleStore)sp.GetRequiredService<IWorkflowStore>());
        builder.Services.AddSingleton<Scheduling.Scheduler>();
        builder.Services.AddHostedService<Scheduling.SchedulerService>();
        builder.Services.AddStreams(options);
        builder.Services.AddSingleton<WorkerPresenceRecorder>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<WorkerPresenceRecorder>());
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(35));
        // Handlers write through Spindle.Protocol's source-generated context; these options shape the OpenAPI schemas
        // of the same records (snake_case, numbers as numbers).
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.NumberHandling = JsonNumberHandling.Strict; // numbers are numbers on the wire
        });
        builder.Services.AddOpenApi(ApiReference.DocumentName, ApiReference.Configure);

        var app = builder.Build();
        app.Use(RequestIdMiddleware);
        app.UseExceptionHandler(errors => errors.Run(WriteUnhandledError));
        app.UseStatusCodePages(WriteStatusCodeError);
        if (options.CorsOrigins.Count > 0)
        {
            app.UseCors();
        }
        app.UseMiddleware<BearerAuthMiddleware>();
        app.UseWebSockets();

        app.MapSystemApi();
        app.MapApiReference();
        app.MapUi();
        var api = app.MapGroup("/api/v1");
        api.MapOAuthApi();
        api.MapGroup("").RequireScope(Scopes.Workflows).MapDefinitionsApi().MapWorkflowsApi().MapLlmApi()
            .MapCostsApi().MapCacheApi().MapSchedulesApi();
        api.MapGroup("").RequireScope(Scopes.Workflows).MapQueuesApi().MapCostSpendApi();
        api.MapGroup("").RequireScope(Scopes.Worker).MapWorkersApi();
        api.MapClientsApi();
        api.MapSignInLinksApi();
        api.MapFilesApi();
        api.MapEventStreamsApi().MapActivityStreamsApi().MapStreamTicketsApi();
        app.MapFallback(() => ApiErrors.NotFound("No such route; see /api/v1/info and the API reference"));
        return app;
    }

    private static void AddAuth(IServiceCollection services, ServerOptions options)
    {
        services.AddSingleton(_ => SigningKey.LoadOrCreate(options.EffectiveSigningKeyPath));
        services.AddSingleton(sp => new AccessTokens(sp.GetRequiredService<SigningKey>()));
        services.AddSingleton<FailedAttemptLimiter>();
        services.AddSingleton<ISecretVerifier, Pbkdf2SecretVerifier>();
        services.AddSingleton<AuthService>();
        services.AddSingleton(sp => new SignInLinks(sp.GetRequiredService<IOneTimeCodeStore>(), options.Clock));
        if (options.CorsOrigins.Count > 0)
        {
            services.AddCors(cors => cors.AddDefaultPolicy(policy => policy
                .WithOrigins([.. options.CorsOrigins])
                .WithHeaders("content-type", "authorization", "x-request-id", "accept")
                .AllowAnyMethod()));
        }
    }

    /// <summary>
    /// Applies migrations, sets up the built-in clients, starts listening and (unless <c>--no-worker</c>) the
    /// in-process std worker; returns the base URL actually bound.
    /// </summary>
    public static async Task<string> StartAsync(WebApplication app, CancellationToken cancellationToken)
    {
        await app.Services.GetRequiredService<IWorkflowStore>().MigrateAsync(cancellationToken);
        var clients = app.Services.GetRequiredService<IClientStore>();
        var serverOptions = app.Services.GetRequiredService<ServerOptions>();
        DataDirectory.Log(app.Services.GetRequiredService<DataDirectory.Report>(),
            app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Spindle.Server"));
        await AuthBootstrap.EnsureStdWorkerClientAsync(clients, cancellationToken);
        await AuthBootstrap.EnsureAdminCredentialAsync(clients, serverOptions.DataDir, cancellationToken);
        if (serverOptions.InsecureDev)
        {
            LogInsecureDev(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Spindle.Server"));
        }
        await app.StartAsync(cancellationToken);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        var baseUrl = addresses.First().Replace("[::]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/');

        var options = app.Services.GetRequiredService<ServerOptions>();
        if (!options.NoWorker)
        {
            var tokens = app.Services.GetRequiredService<AccessTokens>();
            var worker = new StdWorkerHost(new Uri(baseUrl), options.StdWorkerConcurrency, app.Services.GetRequiredService<ILoggerFactory>(),
                new MintedTokenHandler(tokens, AuthBootstrap.StdWorkerClientId, [Scopes.Worker]));
            worker.Start();
            // ApplicationStopping runs before the web server stops, so the worker drains while it can still report.
            app.Lifetime.ApplicationStopping.Register(() => worker.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(30)));
        }
        if (options.PythonWorkers > 0)
        {
            var credentials = await AuthBootstrap.RotatePythonWorkerClientAsync(clients, cancellationToken);
            // The key file exists before the workers start, so that their sandbox can hide one kept outside the data directory.
            app.Services.GetRequiredService<SigningKey>();
            var pool = new PythonWorkerPool(options, new Uri(baseUrl), credentials, app.Services.GetRequiredService<ILogger<PythonWorkerPool>>());
            pool.Start();
            app.Lifetime.ApplicationStopping.Register(() => pool.StopAsync(TimeSpan.FromSeconds(30)).Wait(TimeSpan.FromSeconds(35)));
        }
        return baseUrl;
    }

    private static async Task RequestIdMiddleware(HttpContext context, Func<Task> next)
    {
        var requestId = context.Request.Headers["x-request-id"].ToString();
        context.Response.Headers["x-request-id"] = IsEchoableRequestId(requestId) ? requestId : Guid.NewGuid().ToString("N");
        await next();
    }

    /// <summary>
    /// Only a short printable-ASCII id is echoed: Kestrel refuses other characters in a response header when it
    /// writes the answer, which would turn any request carrying such an id into a 500. Others get a fresh id.
    /// </summary>
    private static bool IsEchoableRequestId(string requestId) =>
        requestId.Length is > 0 and <= 200 && requestId.All(c => c is >= ' ' and <= '~');

    private static async Task WriteUnhandledError(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        var result = error switch
        {
            BadHttpRequestException bad when bad.StatusCode == StatusCodes.Status413PayloadTooLarge =>
                SystemApi.PayloadTooLarge(context.RequestServices.GetRequiredService<ServerOptions>()),
            BadHttpRequestException bad => ApiErrors.Envelope(bad.StatusCode, "BAD_REQUEST", bad.Message),
            // Kestrel reports some malformed bodies (a chunk size beyond its range, e.g. ffffffffffffffff) as a plain
            // IOException rather than a BadHttpRequestException: still the client's request, so still a 400.
            IOException io when IsKestrelBodyError(io) => ApiErrors.Envelope(400, "BAD_REQUEST", $"The request body could not be read: {io.Message}"),
            _ when StoreAvailability.IsUnavailable(error) =>
                ApiErrors.Envelope(503, "SERVICE_UNAVAILABLE", "The database is unavailable right now; retry shortly"),
            // Every try of the decision found rows changed under it (a burst of claims on one workflow): nothing was
            // written, and the same request succeeds once the burst has passed.
            WriteConflictException => ApiErrors.Envelope(503, "SERVICE_UNAVAILABLE",
                "The workflow's rows kept changing while this request was decided; nothing was written, retry shortly"),
            _ => ApiErrors.Envelope(500, "INTERNAL_ERROR", "Internal server error; see the server log for details"),
        };
        await result.ExecuteAsync(context);
    }

    private static bool IsKestrelBodyError(IOException error) =>
        error.TargetSite?.DeclaringType?.Namespace?.StartsWith("Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal) == true;

    private static async Task WriteStatusCodeError(StatusCodeContext context)
    {
        var http = context.HttpContext;
        var result = http.Response.StatusCode switch
        {
            404 => ApiErrors.NotFound("No such route"),
            405 => ApiErrors.Envelope(405, "METHOD_NOT_ALLOWED", $"{http.Request.Method} is not allowed on {http.Request.Path}"),
            413 => SystemApi.PayloadTooLarge(http.RequestServices.GetRequiredService<ServerOptions>()),
            var code => ApiErrors.Envelope(code, "BAD_REQUEST", "Request failed"),
        };
        await result.ExecuteAsync(http);
    }
}
