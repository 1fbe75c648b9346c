using System.Reflection;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>Health and server information (http-api.md §5).</summary>
public static class SystemApi
{
    private static readonly string[] Features = ["long-poll", "activity-filter", "cancel", "wait", "events", "retry", "kruxiaflow-client-aliases", "claim-next", "schedules"];

    public static WebApplication MapSystemApi(this WebApplication app)
    {
        app.MapGet("/health", GetHealth).WithTags("System").WithSummary("Liveness");
        app.MapGet("/health/ready", GetReadiness).WithTags("System").WithSummary("Readiness: the database answers");
        app.MapGet("/api/v1/info", GetInfo).WithTags("System").WithSummary("Server name, version and features");
        return app;
    }

    public static IResult GetHealth(ServerOptions options) =>
        Json.Result(new JsonObject { ["status"] = "ok", ["insecure_dev"] = options.InsecureDev });

    public static async Task<IResult> GetReadiness(IWorkflowStore store, CancellationToken cancellationToken)
    {
        try
        {
            await store.GetWorkflowStatusAsync("00000000-0000-0000-0000-000000000000", cancellationToken);
            var healthy = new JsonObject { ["status"] = "healthy" };
            return Json.Result(new JsonObject
            {
                ["status"] = "ready",
                ["checks"] = new JsonObject
                {
                    ["database"] = healthy.DeepClone(),
                    ["event_source"] = healthy.DeepClone(),
                    ["queue"] = healthy.DeepClone(),
                    ["orchestrator"] = new JsonObject { ["status"] = "healthy", ["message"] = "caught up" },
                },
            });
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return Json.Result(new JsonObject
            {
                ["status"] = "not_ready",
                ["checks"] = new JsonObject { ["database"] = new JsonObject { ["status"] = "unhealthy", ["message"] = ex.Message } },
            }, 503);
        }
    }

    public static IResult GetInfo(ServerOptions options)
    {
        var assembly = typeof(SystemApi).Assembly;
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.1.0";
        return Json.Result(new JsonObject
        {
            ["name"] = "spindle",
            ["version"] = version.Split('+')[0],
            ["build_timestamp"] = File.GetLastWriteTimeUtc(assembly.Location).ToString("O"),
            ["build_git_hash"] = version.Contains('+') ? version.Split('+')[1] : "unknown",
            ["api_version"] = "v1",
            ["features"] = new JsonArray(Features.Select(f => (JsonNode)f).ToArray()),
            ["insecure_dev"] = options.InsecureDev,
            // Clients check a body against these before sending it (a larger one gets 413, a deeper one 422).
            ["limits"] = new JsonObject
            {
                ["max_body_bytes"] = options.MaxRequestBodyBytes,
                ["max_json_depth"] = JsonLimits.MaxDocumentDepth,
            },
        });
    }

    /// <summary>The 413 envelope for a body over Kestrel's limit, naming the limit.</summary>
    public static IResult PayloadTooLarge(ServerOptions options) =>
        ApiErrors.Envelope(413, "PAYLOAD_TOO_LARGE",
            $"The request body is larger than the server's limit of {options.MaxRequestBodyBytes} bytes ({FormatSize(options.MaxRequestBodyBytes)})",
            new JsonObject { ["max_body_bytes"] = options.MaxRequestBodyBytes });

    private static string FormatSize(long bytes) =>
        bytes % (1024 * 1024) == 0 ? $"{bytes / (1024 * 1024)} MiB" : $"{bytes / 1024.0 / 1024.0:0.##} MiB";
}
