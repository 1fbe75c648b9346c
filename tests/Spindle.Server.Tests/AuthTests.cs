using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Spindle.Server.Auth;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>Token authentication and scopes on a server that requires tokens.</summary>
[Collection(SecureServerCollection.Name)]
public sealed class AuthTests(SecureServerFixture server)
{
    private static readonly HashSet<string> PublicRoutes = new(StringComparer.Ordinal)
    {
        "/health", "/health/ready", "/api/v1/info", "/api/v1/oauth/token", "/api/v1/openapi.json",
        // The web UI's shell and its redirects: static files; the data it shows needs a token like any client.
        "/", "/dashboard", "/ui", "/ui/{**path}", "/api/v1/ui/sign-in",
    };

    [Fact]
    public async Task RouteTable_EveryProtectedRoute_EnforcesTokensAndScopes()
    {
        var admin = await AdminTokenAsync();
        var worker = await CreateClientTokenAsync("worker");
        var workflows = await CreateClientTokenAsync("workflows");
        var expired = new AccessTokens(SigningKey.LoadOrCreate(Path.Combine(server.DataDir, "signing-key.pem")), new PastTime())
            .Issue("cl_x", [Scopes.Admin]);
        using var otherKey = SigningKey.LoadOrCreate(Path.Combine(Path.GetTempPath(), $"spindle-other-{Guid.NewGuid():N}.pem"));
        var wronglySigned = new AccessTokens(otherKey).Issue("cl_x", [Scopes.Admin]);
        var revokedClient = await CreateClientAsync("workflows worker");
        var revoked = await TokenAsync(revokedClient.Id, revokedClient.Secret);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Delete, $"/api/v1/clients/{revokedClient.Id}", admin)).StatusCode);

        var endpoints = server.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();
        var checkedRoutes = 0;
        foreach (var endpoint in endpoints)
        {
            var pattern = "/" + endpoint.RoutePattern.RawText!.TrimStart('/');
            var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? [];
            var required = endpoint.Metadata.GetMetadata<RequiredScope>();
            if (methods.Count == 0)
            {
                continue; // the fallback
            }
            // The API reference page and its scripts (/api/v1/docs/…) are public too.
            if (PublicRoutes.Contains(pattern) || pattern.StartsWith("/api/v1/docs", StringComparison.Ordinal))
            {
                Assert.Null(required);
                continue;
            }
            Assert.True(required is not null, $"{pattern} has no scope: every non-public route must declare one");
            var path = pattern.Replace("{id}", Guid.NewGuid().ToString(), StringComparison.Ordinal)
                .Replace("{activityId}", Guid.NewGuid().ToString(), StringComparison.Ordinal)
                .Replace("{name}", "some_name", StringComparison.Ordinal)
                .Replace("{key}", "some_key", StringComparison.Ordinal)
                .Replace("{clientId}", "cl_none", StringComparison.Ordinal)
                .Replace("{filename}", "report.csv", StringComparison.Ordinal);
            foreach (var method in methods.Select(m => new HttpMethod(m)))
            {
                var route = $"{method} {pattern}";
                Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(method, path, null)).StatusCode);
                Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(method, path, "not.a.jwt")).StatusCode);
                Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(method, path, expired)).StatusCode);
                Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(method, path, wronglySigned)).StatusCode);
                Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(method, path, revoked)).StatusCode);
                var wrongScope = required!.Scope == Scopes.Worker ? workflows : worker;
                if (!required.IsGrantedBy([required.Scope == Scopes.Worker ? Scopes.Workflows : Scopes.Worker]))
                {
                    Assert.True((await SendAsync(method, path, wrongScope)).StatusCode == HttpStatusCode.Forbidden, $"{route} with a wrong-scope token");
                }
                var rightScope = required.Scope switch { Scopes.Worker => worker, Scopes.Workflows => workflows, _ => admin };
                var status = (await SendAsync(method, path, rightScope)).StatusCode;
                Assert.True(status is not (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden), $"{route} with the right scope answered {status}");
                checkedRoutes++;
            }
        }
        Assert.True(checkedRoutes >= 20, $"only {checkedRoutes} protected routes found");
    }

    [Fact]
    public async Task Token_JsonAndForm_IssueBearerTokensWithScopes()
    {
        var client = await CreateClientAsync("worker");
        using var json = await server.Http.PostAsync("/api/v1/oauth/token", new StringContent(new JsonObject
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = client.Id,
            ["client_secret"] = client.Secret,
        }.ToJsonString(), Encoding.UTF8, "application/json"));
        var body = await ServerFixture.ReadAsync(json);
        Assert.Equal(HttpStatusCode.OK, json.StatusCode);
        Assert.Equal("Bearer", body["token_type"]!.GetValue<string>());
        Assert.Equal(86400, body["expires_in"]!.GetValue<int>());
        Assert.Equal("worker", body["scope"]!.GetValue<string>());

        using var form = await server.Http.PostAsync("/api/v1/oauth/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = client.Id,
            ["client_secret"] = client.Secret,
        }));
        Assert.Equal(HttpStatusCode.OK, form.StatusCode);

        using var narrower = await server.Http.PostAsync("/api/v1/oauth/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = client.Id,
            ["client_secret"] = client.Secret,
            ["scope"] = "admin",
        }));
        Assert.Equal(HttpStatusCode.BadRequest, narrower.StatusCode);
    }

    [Fact]
    public async Task Token_WrongSecretRepeatedly_401ThenRateLimited()
    {
        var client = await CreateClientAsync("worker");
        for (var i = 0; i < 5; i++)
        {
            using var wrong = await PostTokenAsync(client.Id, "wrong-secret");
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            Assert.Equal("UNAUTHORIZED", (await ServerFixture.ReadAsync(wrong))["error"]!["code"]!.GetValue<string>());
        }
        using var limited = await PostTokenAsync(client.Id, client.Secret);
        Assert.Equal((HttpStatusCode)429, limited.StatusCode);
        Assert.NotNull(limited.Headers.RetryAfter);
    }

    [Fact]
    public async Task Request_TokenWithRepeatedHeaderKey_401NotA500()
    {
        static string Part(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var token = $"{Part("""{"alg":"RS256","alg":"none"}""")}.{Part("""{"sub":"x"}""")}.AAAA";
        using var response = await SendAsync(HttpMethod.Get, "/api/v1/workflows", token);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task WorkerToken_CannotDeployOrSubmit_ButCanPoll()
    {
        var worker = await CreateClientTokenAsync("worker");
        using var deploy = await SendAsync(HttpMethod.Post, "/api/v1/workflow_definitions", worker, "name: x\nactivities: [{key: a}]");
        Assert.Equal(HttpStatusCode.Forbidden, deploy.StatusCode);
        Assert.Equal("FORBIDDEN", (await ServerFixture.ReadAsync(deploy))["error"]!["code"]!.GetValue<string>());
        using var poll = await SendAsync(HttpMethod.Post, "/api/v1/workers/poll", worker, """{"worker":"std","worker_id":"w"}""");
        Assert.Equal(HttpStatusCode.OK, poll.StatusCode);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void SigningKey_File_IsReadableByOwnerOnly()
    {
        var mode = File.GetUnixFileMode(Path.Combine(server.DataDir, "signing-key.pem"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, mode);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(server.DataDir, AuthBootstrap.AdminCredentialFile)));
    }

    [Fact]
    public async Task StreamTicket_ClientRevokedAfterIssue_Returns401()
    {
        var (id, secret) = await CreateClientAsync("workflows");
        var token = await TokenAsync(id, secret);
        using var issued = await SendAsync(HttpMethod.Post, "/api/v1/streams/tickets", token);
        var ticket = (await ServerFixture.ReadAsync(issued))["ticket"]!.GetValue<string>();
        using var revoke = await SendAsync(HttpMethod.Delete, $"/api/v1/clients/{id}", await AdminTokenAsync());

        using var stream = await SendAsync(HttpMethod.Get, $"/api/v1/events/stream?ticket={Uri.EscapeDataString(ticket)}", token: null);

        Assert.Equal(HttpStatusCode.Created, issued.StatusCode);
        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, stream.StatusCode);
    }

    private async Task<string> AdminTokenAsync()
    {
        var credential = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(server.DataDir, AuthBootstrap.AdminCredentialFile)))!;
        return await TokenAsync(credential["client_id"]!.GetValue<string>(), credential["client_secret"]!.GetValue<string>());
    }

    private async Task<(string Id, string Secret)> CreateClientAsync(string scopes)
    {
        using var response = await SendAsync(HttpMethod.Post, "/api/v1/clients", await AdminTokenAsync(),
            new JsonObject { ["name"] = "test " + scopes, ["scopes"] = scopes }.ToJsonString());
        var body = await ServerFixture.ReadAsync(response);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (body["client_id"]!.GetValue<string>(), body["client_secret"]!.GetValue<string>());
    }

    private async Task<string> CreateClientTokenAsync(string scopes)
    {
        var (id, secret) = await CreateClientAsync(scopes);
        return await TokenAsync(id, secret);
    }

    private async Task<string> TokenAsync(string id, string secret)
    {
        using var response = await PostTokenAsync(id, secret);
        var body = await ServerFixture.ReadAsync(response);
        Assert.True(response.IsSuccessStatusCode, body.ToJsonString());
        return body["access_token"]!.GetValue<string>();
    }

    private Task<HttpResponseMessage> PostTokenAsync(string id, string secret) =>
        server.Http.PostAsync("/api/v1/oauth/token", new StringContent(new JsonObject
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = id,
            ["client_secret"] = secret,
        }.ToJsonString(), Encoding.UTF8, "application/json"));

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? token, string? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        if (body is not null || method == HttpMethod.Post)
        {
            request.Content = new StringContent(body ?? "{}", Encoding.UTF8, "application/json");
        }
        // Headers only: a stream route with the right scope answers 200 and then keeps the body open.
        return await server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    private sealed class PastTime : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => DateTimeOffset.UtcNow.AddDays(-2);
    }
}
