using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Spindle.Server.Auth;

namespace Spindle.Server.Tests;

/// <summary>The signing key lives with the server's data, so tokens outlive a restart.</summary>
public sealed class TokenPersistenceTests
{
    [Fact]
    public async Task Token_IssuedBeforeRestart_StillAcceptedAfterRestart()
    {
        var dir = Directory.CreateTempSubdirectory("spindle-restart-").FullName;
        try
        {
            string token;
            await using (var first = await RunningAsync(dir))
            {
                var credential = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(dir, AuthBootstrap.AdminCredentialFile)))!;
                using var http = new HttpClient { BaseAddress = new Uri(first.Url) };
                using var response = await http.PostAsync("/api/v1/oauth/token", new FormUrlEncodedContent(new Dictionary<string, string>
                {
                    ["grant_type"] = "client_credentials",
                    ["client_id"] = credential["client_id"]!.GetValue<string>(),
                    ["client_secret"] = credential["client_secret"]!.GetValue<string>(),
                }));
                token = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["access_token"]!.GetValue<string>();
            }
            await using var second = await RunningAsync(dir);
            using var client = new HttpClient { BaseAddress = new Uri(second.Url) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var list = await client.GetAsync("/api/v1/workflows");
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<Running> RunningAsync(string dir)
    {
        var app = SpindleServer.Build(new ServerOptions { Port = 0, DataDir = dir, NoWorker = true }, logging => logging.SetMinimumLevel(LogLevel.Warning));
        return new Running(app, await SpindleServer.StartAsync(app, CancellationToken.None));
    }

    private sealed record Running(WebApplication App, string Url) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await App.StopAsync();
            await App.DisposeAsync();
        }
    }
}
