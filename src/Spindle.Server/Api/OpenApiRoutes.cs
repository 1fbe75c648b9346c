using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Spindle.Protocol;

namespace Spindle.Server.Api;

/// <summary>
/// OpenAPI metadata helpers for routes whose handlers read the request by hand (the generator sees neither their
/// bodies nor their query strings).
/// </summary>
public static class OpenApiRoutes
{
    private const string JsonType = "application/json";

    /// <summary>Declares a JSON request body of shape <typeparamref name="TRequest"/>.</summary>
    /// <remarks>
    /// Only in the document: <c>Accepts&lt;T&gt;()</c> would also make routing match on Content-Type, turning the
    /// handlers' own 415/422 answers for a wrong or missing Content-Type into a bare 404.
    /// </remarks>
    public static RouteHandlerBuilder JsonBody<TRequest>(this RouteHandlerBuilder route) =>
        route.Body(typeof(TRequest), JsonType);

    /// <summary>Declares a request body of <paramref name="type"/> in the listed media types (document only).</summary>
    public static RouteHandlerBuilder Body(this RouteHandlerBuilder route, Type type, params string[] mediaTypes) =>
        route.AddOpenApiOperationTransformer(async (operation, context, cancellationToken) =>
        {
            var schema = await context.GetOrCreateSchemaAsync(type, null, cancellationToken);
            var content = new Dictionary<string, OpenApiMediaType>(StringComparer.Ordinal);
            foreach (var mediaType in mediaTypes)
            {
                content[mediaType] = new OpenApiMediaType { Schema = schema };
            }
            operation.RequestBody = new OpenApiRequestBody { Required = true, Content = content };
        });

    /// <summary>Declares a JSON response and the error envelope for the listed statuses.</summary>
    public static RouteHandlerBuilder Answers<TResponse>(this RouteHandlerBuilder route, int status = 200, params int[] errors)
    {
        route.Produces<TResponse>(status, JsonType);
        foreach (var error in errors)
        {
            route.Produces<ErrorEnvelope>(error, JsonType);
        }
        return route;
    }

    /// <summary>Declares errors (the error envelope) only, for routes whose 200 body is documented in prose.</summary>
    public static RouteHandlerBuilder Errors(this RouteHandlerBuilder route, params int[] errors)
    {
        foreach (var error in errors)
        {
            route.Produces<ErrorEnvelope>(error, JsonType);
        }
        return route;
    }

    /// <summary>Declares query parameters the handler reads from <c>HttpRequest.Query</c>.</summary>
    public static RouteHandlerBuilder Query(this RouteHandlerBuilder route, params (string Name, string Description)[] parameters) =>
        route.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.Parameters ??= [];
            foreach (var (name, description) in parameters)
            {
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = name,
                    In = ParameterLocation.Query,
                    Description = description,
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                });
            }
            return Task.CompletedTask;
        });
}
