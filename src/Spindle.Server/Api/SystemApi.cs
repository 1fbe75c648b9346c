using System.Reflection;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Protocol;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>Health and server information (docs/api.md).</summary>
public static class SystemApi
{
    private static readonly string[] Features =
    [
        "long-poll", "activity-filter", "cancel", "wait", "events", "retry", "kruxiaflow-client-aliases", "claim-next", "schedules",
        "sse", "websocket", "stream-tickets", "batch-report",
    ];

    public static WebApplication MapSystemApi(this WebApplication app)
    {
        app.MapGet("/health", GetHealth).WithTags("System").WithSummary("Liveness").Answers<HealthResponse>();
        app.MapGet("/health/ready", GetReadiness).WithTags("System").WithSummary("Readiness: the database answers")
            .Answers<ReadinessResponse>().Produces<ReadinessResponse>(503, "application/json");
        app.MapGet("/api/v1/info", GetInfo).WithTags("System").WithSummary("Server name, version and features").Answers<ServerInfo>();
        return app;
    }

    public static IResult GetHealth(ServerOptions options) =>
        Json.Result(new HealthResponse { Status = "ok", InsecureDev = options.InsecureDev }, SpindleJsonContext.Default.HealthResponse);

    public static async Task<IResult> GetReadiness(IWorkflowStore store, CancellationToken cancellationToken)
    {
        try
        {
            await store.GetWorkflowStatusAsync("00000000-0000-0000-0000-000000000000", cancellationToken);
            var healthy = new ReadinessCheck { Status = "healthy" };
            return Json.Result(new ReadinessResponse
            {
                Status = "ready",
                Checks = new OrderedDictionary<string, ReadinessCheck>(StringComparer.Ordinal)
                {
                    ["database"] = healthy,
                    ["event_source"] = healthy,
                    ["queue"] = healthy,
                    ["orchestrator"] = new ReadinessCheck { Status = "healthy", Message = "caught up" },
                },
            }, SpindleJsonContext.Default.ReadinessResponse);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return Json.Result(new ReadinessResponse
            {
                Status = "not_ready",
                Checks = new Dictionary<string, ReadinessCheck>(StringComparer.Ordinal)
                {
                    ["database"] = new ReadinessCheck { Status = "unhealthy", Message = ex.Message },
                },
            }, SpindleJsonContext.Default.ReadinessResponse, 503);
        }
    }

    public static IResult GetInfo(ServerOptions options)
    {
        var assembly = typeof(SystemApi).Assembly;
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.1.0";
        return Json.Result(new ServerInfo
        {
            Name = "spindle",
            Version = version.Split('+')[0],
            BuildTimestamp = File.GetLastWriteTimeUtc(assembly.Location).ToString("O"),
            BuildGitHash = version.Contains('+') ? version.Split('+')[1] : "unknown",
            ApiVersion = "v1",
            Features = Features,
            InsecureDev = options.InsecureDev,
            // Clients check a body against these before sending it (a larger one gets 413, a deeper one 422).
            Limits = new ServerLimits { MaxBodyBytes = options.MaxRequestBodyBytes, MaxJsonDepth = JsonLimits.MaxDocumentDepth },
        }, SpindleJsonContext.Default.ServerInfo);
    }

    /// <summary>The 413 envelope for a body over Kestrel's limit, naming the limit.</summary>
    public static IResult PayloadTooLarge(ServerOptions options) =>
        ApiErrors.Envelope(413, "PAYLOAD_TOO_LARGE",
            $"The request body is larger than the server's limit of {options.MaxRequestBodyBytes} bytes ({FormatSize(options.MaxRequestBodyBytes)})",
            new JsonObject { ["max_body_bytes"] = options.MaxRequestBodyBytes });

    private static string FormatSize(long bytes) =>
        bytes % (1024 * 1024) == 0 ? $"{bytes / (1024 * 1024)} MiB" : $"{bytes / 1024.0 / 1024.0:0.##} MiB";
}
