using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.FileProviders;
using Microsoft.Net.Http.Headers;

namespace Spindle.Server.Hosting;

/// <summary>
/// The web UI: the files of ui/dist, embedded in this assembly at build time, served at <c>/ui</c> with
/// <c>/</c> and <c>/dashboard</c> (Kruxia Flow's page) redirecting there. Every other <c>/ui/*</c> path answers
/// the app's index.html, whose router shows the page. The shell is public (it holds no data); everything it shows
/// comes from the API with the signed-in client's token, so the API's scopes apply unchanged.
/// </summary>
public static class UiHosting
{
    public const string Route = "/ui";

    /// <summary>
    /// Nothing from another origin: scripts, styles, fetches and images come from this server only. Inline style
    /// attributes are allowed because the graph library positions its nodes with them; inline scripts are not.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    public static WebApplication MapUi(this WebApplication app)
    {
        var files = new ManifestEmbeddedFileProvider(typeof(UiHosting).Assembly, "ui");
        app.MapGet("/", () => Results.Redirect(Route + "/")).ExcludeFromDescription();
        app.MapGet("/dashboard", () => Results.Redirect(Route + "/")).ExcludeFromDescription();
        app.MapGet(Route, (HttpContext context) => Serve(context, files, "")).ExcludeFromDescription();
        app.MapGet(Route + "/{**path}", (HttpContext context, string? path) => Serve(context, files, path ?? "")).ExcludeFromDescription();
        return app;
    }

    private static IResult Serve(HttpContext context, IFileProvider files, string path)
    {
        var headers = context.Response.Headers;
        headers[HeaderNames.XContentTypeOptions] = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        var file = path.Length == 0 ? null : files.GetFileInfo(path);
        if (file is { Exists: true, IsDirectory: false })
        {
            // Vite puts a content hash in every asset's name, so an asset never changes under its name.
            headers.CacheControl = path.StartsWith("assets/", StringComparison.Ordinal) ? "public, max-age=31536000, immutable" : "no-cache";
            // The build writes a gzipped copy of each script and style sheet (about a third of the size).
            var gzipped = files.GetFileInfo(path + ".gz");
            if (gzipped.Exists)
            {
                headers.Vary = HeaderNames.AcceptEncoding;
                if (AcceptsGzip(context.Request))
                {
                    headers.ContentEncoding = "gzip";
                    return Results.Stream(gzipped.CreateReadStream(), ContentTypeOf(path), lastModified: file.LastModified);
                }
            }
            return Results.Stream(file.CreateReadStream(), ContentTypeOf(path), lastModified: file.LastModified);
        }
        if (path.StartsWith("assets/", StringComparison.Ordinal))
        {
            return Api.ApiErrors.NotFound($"No UI asset {path}");
        }
        var index = files.GetFileInfo("index.html");
        if (!index.Exists)
        {
            return Api.ApiErrors.NotFound("This server was built without its web UI (ui/dist was missing when it was compiled)");
        }
        headers.CacheControl = "no-cache";
        headers["Content-Security-Policy"] = ContentSecurityPolicy;
        headers["X-Frame-Options"] = "DENY";
        return Results.Stream(index.CreateReadStream(), "text/html; charset=utf-8");
    }

    private static bool AcceptsGzip(HttpRequest request) =>
        request.GetTypedHeaders().AcceptEncoding.Any(e => e.Value.Equals("gzip", StringComparison.OrdinalIgnoreCase) && e.Quality is not 0);

    private static string ContentTypeOf(string path) =>
        ContentTypes.TryGetContentType(path, out var type) ? type : "application/octet-stream";
}
