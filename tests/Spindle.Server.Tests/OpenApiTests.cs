using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.OpenApi;
using Microsoft.OpenApi.Reader;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>
/// The OpenAPI document and the reference page: public, valid, complete (every mapped route with its method and a
/// summary, the main bodies typed) and free of external URLs.
/// </summary>
[Collection(SecureServerCollection.Name)]
public sealed partial class OpenApiTests(SecureServerFixture server)
{
    [GeneratedRegex("""(?:src|href)\s*=\s*["'](?:https?:)?//""", RegexOptions.IgnoreCase)]
    private static partial Regex ExternalReference();

    [GeneratedRegex("""https?://[^\s"'<>)]+""", RegexOptions.IgnoreCase)]
    private static partial Regex AnyUrl();

    private async Task<OpenApiDocument> ReadDocumentAsync()
    {
        using var response = await server.Http.GetAsync("/api/v1/openapi.json"); // no token: a public route
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        var result = OpenApiDocument.Parse(text, "json", new OpenApiReaderSettings());
        Assert.Empty(result.Diagnostic?.Errors ?? []);
        Assert.NotNull(result.Document);
        return result.Document!;
    }

    [Fact]
    public async Task OpenApiJson_WithoutToken_IsAValidDocumentWithEveryMappedRouteMethodAndSummary()
    {
        var document = await ReadDocumentAsync();
        Assert.Equal("Spindle API", document.Info.Title);

        var mapped = ((IEndpointRouteBuilder)server.App).DataSources
            .SelectMany(source => source.Endpoints)
            .OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>() is not { ExcludeFromDescription: true })
            .Where(e => e.Metadata.GetMetadata<IHttpMethodMetadata>() is not null) // the fallback answers any method
            .SelectMany(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()!.HttpMethods.Select(m => (Path: PathOf(e.RoutePattern), Method: m)))
            .ToList();
        Assert.True(mapped.Count >= 30, $"only {mapped.Count} routes found");
        Assert.Contains(mapped, r => r.Path == "/api/v1/workers/poll" && r.Method == "POST");

        foreach (var (path, method) in mapped)
        {
            Assert.True(document.Paths.TryGetValue(path, out var item), $"{method} {path} is missing from the document");
            var operation = item!.Operations?.FirstOrDefault(o => o.Key.Method == method).Value;
            Assert.True(operation is not null, $"{method} {path} is in the document without its method");
            Assert.False(string.IsNullOrWhiteSpace(operation!.Summary), $"{method} {path} has no summary");
            foreach (var name in RouteParameters(path))
            {
                Assert.True(operation.Parameters?.Any(p => p.Name == name && p.In == ParameterLocation.Path) == true,
                    $"{method} {path} does not declare its path parameter {name}");
            }
        }
    }

    [Theory]
    [InlineData("/api/v1/workflows", "POST", "definition_name", "workflow_id")]
    [InlineData("/api/v1/workflow_definitions", "POST", null, "version")]
    [InlineData("/api/v1/workers/poll", "POST", "wait_seconds", "activities")]
    [InlineData("/api/v1/workers/poll", "POST", "worker", "activities")] // RoutingKey in code, worker on the wire
    [InlineData("/api/v1/activities/{activityId}/complete", "POST", "worker", "acknowledged")]
    [InlineData("/api/v1/activities/{activityId}/complete", "POST", "output", "acknowledged")]
    [InlineData("/api/v1/activities/{activityId}/fail", "POST", "error", "will_retry")]
    [InlineData("/api/v1/workers/report", "POST", "reports", "results")]
    [InlineData("/api/v1/activities/{activityId}/heartbeat", "POST", "worker_id", "next_heartbeat_seconds")]
    [InlineData("/api/v1/workflows/{id}/signal", "POST", "event_name", "signaled")]
    public async Task OpenApiJson_MainRoutes_DeclareRequestAndResponseBodies(string path, string method, string? requestField, string responseField)
    {
        var document = await ReadDocumentAsync();
        var operation = document.Paths[path].Operations!.Single(o => o.Key.Method == method).Value;
        Assert.NotNull(operation.RequestBody);
        if (requestField is not null)
        {
            var request = operation.RequestBody!.Content!["application/json"].Schema!;
            Assert.Contains(requestField, request.Properties!.Keys);
        }
        var success = operation.Responses!.First(r => r.Key.StartsWith('2')).Value;
        var response = success.Content!["application/json"].Schema!;
        Assert.Contains(responseField, response.Properties!.Keys);
    }

    [Theory]
    [InlineData("/api/v1/schedules", "POST", "201", "Schedule")]
    [InlineData("/api/v1/schedules", "GET", "200", "ScheduleList")]
    [InlineData("/api/v1/schedules/{id}", "GET", "200", "Schedule")]
    [InlineData("/api/v1/schedules/{id}", "PATCH", "200", "Schedule")]
    [InlineData("/api/v1/schedules/{id}/pause", "POST", "200", "Schedule")]
    [InlineData("/api/v1/schedules/{id}/resume", "POST", "200", "Schedule")]
    [InlineData("/api/v1/schedules/{id}/trigger", "POST", "201", "TriggerScheduleResponse")]
    [InlineData("/api/v1/schedules/{id}/backfill", "POST", "200", "BackfillScheduleResponse")]
    [InlineData("/api/v1/clients", "POST", "201", "CreateClientResponse")]
    [InlineData("/api/v1/clients", "GET", "200", "ClientList")]
    [InlineData("/api/v1/clients/{clientId}", "DELETE", "200", "RevokeClientResponse")]
    [InlineData("/api/v1/ui/sign-in-links", "POST", "201", "SignInLinkResponse")]
    [InlineData("/api/v1/ui/sign-in", "POST", "200", "TokenResponse")]
    [InlineData("/api/v1/activities/{activity_id}/ws/token", "POST", "200", "StreamChunkResponse")]
    [InlineData("/api/v1/activities/{activity_id}/ws/complete", "POST", "200", "StreamEndResponse")]
    [InlineData("/api/v1/activities/{activity_id}/ws/subscribers", "GET", "200", "StreamSubscriberCount")]
    public async Task OpenApiJson_ResourceRoutes_AnswerWithNamedSchemas(string path, string method, string status, string schemaName)
    {
        var document = await ReadDocumentAsync();
        var operation = document.Paths[path].Operations!.Single(o => o.Key.Method == method).Value;
        var response = operation.Responses![status].Content!["application/json"].Schema!;
        var reference = Assert.IsType<OpenApiSchemaReference>(response);
        Assert.Equal(schemaName, reference.Reference.Id);
        Assert.True(document.Components!.Schemas!.ContainsKey(schemaName));
    }

    [Fact]
    public async Task OpenApiJson_ScheduleSchemas_CarryTheWireFields()
    {
        var document = await ReadDocumentAsync();
        var schemas = document.Components!.Schemas!;
        var schedule = schemas["Schedule"].Properties!.Keys.ToList();
        Assert.Equal(
            ["id", "name", "definition_name", "definition_version", "input", "cron", "interval_seconds", "timezone", "overlap_policy",
                "enabled", "jitter_seconds", "start_at", "end_at", "remaining_runs", "catchup_window_seconds", "next_run_at", "last_run_at",
                "last_workflow_id", "created_by", "created_at", "updated_at", "note", "run_count", "skipped_count", "buffered_at",
                "declared_by", "upcoming", "recent_runs"],
            schedule);
        Assert.DoesNotContain("recent_runs", schemas["Schedule"].Required ?? new HashSet<string>());
        Assert.Equal(["schedules", "count"], schemas["ScheduleList"].Properties!.Keys);
        Assert.Equal(["occurrence_at", "outcome", "workflow_id", "message", "recorded_at"], schemas["ScheduleRunRecord"].Properties!.Keys);
        Assert.Equal(["schedule_id", "outcome", "workflow_id", "message"], schemas["TriggerScheduleResponse"].Properties!.Keys);
        Assert.Equal(["schedule_id", "runs", "count", "submitted"], schemas["BackfillScheduleResponse"].Properties!.Keys);
    }

    [Fact]
    public async Task Docs_WithoutToken_ServesAPageThatLoadsNothingFromOtherHosts()
    {
        using var response = await server.Http.GetAsync("/api/v1/docs");
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("\"url\":\"api/v1/openapi.json\"", html, StringComparison.Ordinal); // resolved against the page's origin
        Assert.Contains("\"telemetry\":false", html, StringComparison.Ordinal);
        Assert.DoesNotMatch(ExternalReference(), html);
        var foreign = AnyUrl().Matches(html).Select(m => m.Value).Where(u => !u.StartsWith(server.BaseUrl, StringComparison.Ordinal)).ToList();
        Assert.True(foreign.Count == 0, "the page names other hosts: " + string.Join(", ", foreign));

        // Every script the page loads comes from this server.
        var scripts = Regex.Matches(html, """<script[^>]+src\s*=\s*["']([^"']+)["']""").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(scripts);
        foreach (var src in scripts)
        {
            using var script = await server.Http.GetAsync(new Uri(new Uri(server.BaseUrl + "/api/v1/docs/"), src));
            Assert.True(script.IsSuccessStatusCode, $"{src}: {(int)script.StatusCode}");
        }
    }

    private static string PathOf(RoutePattern pattern) =>
        "/" + string.Join('/', pattern.PathSegments.Select(segment => string.Concat(segment.Parts.Select(part => part switch
        {
            RoutePatternLiteralPart literal => literal.Content,
            RoutePatternParameterPart parameter => "{" + parameter.Name + "}",
            RoutePatternSeparatorPart separator => separator.Content,
            _ => "",
        }))));

    private static IEnumerable<string> RouteParameters(string path) =>
        Regex.Matches(path, "{([^}]+)}").Select(m => m.Groups[1].Value);
}
