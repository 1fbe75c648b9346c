using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Scalar.AspNetCore;
using Spindle.Protocol;

namespace Spindle.Server.Api;

/// <summary>
/// The API's own description: the OpenAPI document at <c>/api/v1/openapi.json</c> (ASP.NET Core's generator) and a
/// reference page at <c>/api/v1/docs</c> (Scalar, whose script ships inside its package: no CDN, works offline).
/// Both are public, like <c>/api/v1/info</c>.
/// </summary>
public static class ApiReference
{
    public const string DocumentName = "v1";
    public const string DocumentRoute = "/api/v1/openapi.json";
    public const string PageRoute = "/api/v1/docs";

    public static void Configure(OpenApiOptions options)
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Spindle API",
                Version = "v1",
                Description = "Durable workflow engine; a drop-in for the Kruxia Flow v1 REST API and worker protocol. " +
                              "Routes other than /health*, /api/v1/info, /api/v1/oauth/token and this reference need " +
                              "`Authorization: Bearer <token>` from POST /api/v1/oauth/token. Errors use the envelope " +
                              "{\"error\": {\"code\", \"message\", \"details\"?}}.",
            };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                BearerFormat = "JWT",
                Description = "Access token from POST /api/v1/oauth/token (client_credentials)",
            };
            return Task.CompletedTask;
        });
        // The claimed activities travel as raw JSON in the response records (the worker reads them one by one);
        // each is a ClaimedActivity, which the document says.
        options.AddSchemaTransformer(async (schema, context, cancellationToken) =>
        {
            if (context.JsonTypeInfo.Type == typeof(PollResponse) || context.JsonTypeInfo.Type == typeof(CompleteResponse))
            {
                if (schema.Properties?.TryGetValue("activities", out var activities) == true && activities is OpenApiSchema list)
                {
                    list.Items = await context.GetOrCreateSchemaAsync(typeof(ClaimedActivity), null, cancellationToken);
                }
            }
        });
    }

    public static WebApplication MapApiReference(this WebApplication app)
    {
        app.MapOpenApi(DocumentRoute).ExcludeFromDescription();
        app.MapScalarApiReference(PageRoute, options => options
            .WithTitle("Spindle API")
            .WithOpenApiRoutePattern(DocumentRoute)
            // Nothing leaves the machine: no web fonts from Scalar's CDN, no telemetry, no hosted AI chat or MCP
            // (which would send the API description to Scalar's servers).
            .DisableDefaultFonts()
            .DisableTelemetry()
            .DisableAgent()
            .DisableMcp())
            .ExcludeFromDescription();
        return app;
    }
}
