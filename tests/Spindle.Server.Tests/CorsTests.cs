namespace Spindle.Server.Tests;

/// <summary>CORS is closed unless the operator names origins.</summary>
public sealed class CorsTests
{
    [Fact]
    public async Task Preflight_DefaultServer_AllowsNoOrigin()
    {
        await using var server = await StartAsync([]);
        using var response = await PreflightAsync(server.Url, "https://evil.example");
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task Preflight_ConfiguredOrigin_AllowedAndOthersNot()
    {
        await using var server = await StartAsync(["https://app.example"]);
        using var allowed = await PreflightAsync(server.Url, "https://app.example");
        Assert.Equal("https://app.example", allowed.Headers.GetValues("Access-Control-Allow-Origin").Single());
        using var other = await PreflightAsync(server.Url, "https://evil.example");
        Assert.False(other.Headers.Contains("Access-Control-Allow-Origin"));
    }

    private static async Task<HttpResponseMessage> PreflightAsync(string url, string origin)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Options, url + "/api/v1/workflows");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        request.Headers.Add("Access-Control-Request-Headers", "authorization,content-type");
        return await http.SendAsync(request);
    }

    private static async Task<RunningServer> StartAsync(string[] origins)
    {
        var dir = Directory.CreateTempSubdirectory("spindle-cors-").FullName;
        var app = SpindleServer.Build(new ServerOptions { Port = 0, DataDir = dir, NoWorker = true, CorsOrigins = origins },
            logging => logging.SetMinimumLevel(LogLevel.Warning));
        return new RunningServer(app, await SpindleServer.StartAsync(app, CancellationToken.None), dir);
    }

    private sealed record RunningServer(WebApplication App, string Url, string Dir) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await App.StopAsync();
            await App.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(Dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
