using System.Net;
using System.Text.RegularExpressions;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>
/// The embedded web UI: served without a token at /ui (every deep link answers the app), the old entry points
/// redirect there, and the page loads nothing from another origin. The browser tests in ui/tests drive the app itself.
/// </summary>
[Collection(SecureServerCollection.Name)]
public sealed partial class UiHostingTests(SecureServerFixture server)
{
    [GeneratedRegex("""<script[^>]+src="([^"]+)"|<link[^>]+rel="stylesheet"[^>]+href="([^"]+)""")]
    private static partial Regex AssetReference();

    private HttpClient NoRedirects() => new(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(server.BaseUrl) };

    [Theory]
    [InlineData("/")]
    [InlineData("/dashboard")]
    public async Task EntryPoint_WithoutToken_RedirectsToTheUi(string path)
    {
        using var http = NoRedirects();
        using var response = await http.GetAsync(path);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/ui/", response.Headers.Location?.OriginalString);
    }

    [Theory]
    [InlineData("/ui")]
    [InlineData("/ui/")]
    [InlineData("/ui/runs/0192e4c8-0000-7000-8000-000000000000")]
    public async Task UiPath_WithoutToken_AnswersTheAppWithASelfOnlyPolicy(string path)
    {
        using var response = await server.Http.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var policy = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'self'", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("http", policy, StringComparison.OrdinalIgnoreCase);
        var html = await response.Content.ReadAsStringAsync();
        var assets = AssetReference().Matches(html).Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value).ToList();
        Assert.NotEmpty(assets);
        foreach (var asset in assets)
        {
            Assert.StartsWith("/ui/assets/", asset, StringComparison.Ordinal);
            using var file = await server.Http.GetAsync(asset);
            Assert.Equal(HttpStatusCode.OK, file.StatusCode);
            Assert.Contains("immutable", file.Headers.CacheControl?.ToString() ?? "", StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Asset_AcceptingGzip_IsSentGzippedAndUnpacksToThePlainFile()
    {
        using var page = await server.Http.GetAsync("/ui/");
        var script = AssetReference().Matches(await page.Content.ReadAsStringAsync()).Select(m => m.Groups[1].Value).First(v => v.Length > 0);
        var plain = await server.Http.GetByteArrayAsync(script);

        using var request = new HttpRequestMessage(HttpMethod.Get, script);
        request.Headers.AcceptEncoding.ParseAdd("gzip, br");
        using var response = await server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("gzip", Assert.Single(response.Content.Headers.ContentEncoding));
        Assert.Equal("text/javascript", response.Content.Headers.ContentType?.MediaType);
        await using var unzip = new System.IO.Compression.GZipStream(await response.Content.ReadAsStreamAsync(), System.IO.Compression.CompressionMode.Decompress);
        using var unpacked = new MemoryStream();
        await unzip.CopyToAsync(unpacked);
        Assert.Equal(plain, unpacked.ToArray());
        Assert.True(response.Content.Headers.ContentLength < plain.Length / 2);
    }

    [Fact]
    public async Task MissingAsset_Answers404WithTheEnvelope()
    {
        using var response = await server.Http.GetAsync("/ui/assets/missing-0000.js");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("NOT_FOUND", (await ServerFixture.ReadAsync(response))["error"]!["code"]!.GetValue<string>());
    }
}
