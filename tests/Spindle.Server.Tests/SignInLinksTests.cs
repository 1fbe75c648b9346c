using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Spindle.Server.Auth;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>One-time web UI sign-in links (<c>spindle ui</c>): admin only, one use, short-lived.</summary>
[Collection(SecureServerCollection.Name)]
public sealed class SignInLinksTests(SecureServerFixture server)
{
    [Fact]
    public async Task SignInLink_RedeemedOnce_GivesTheAdminsTokenAndThenIsRefused()
    {
        var link = await CreateLinkAsync(await AdminTokenAsync());
        Assert.Equal(HttpStatusCode.Created, link.StatusCode);
        var body = await ServerFixture.ReadAsync(link);
        var code = body["code"]!.GetValue<string>();
        Assert.Equal("/ui/#code=" + code, body["path"]!.GetValue<string>());

        using var first = await RedeemAsync(code);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var token = (await ServerFixture.ReadAsync(first))["access_token"]!.GetValue<string>();
        Assert.Equal("admin", (await ServerFixture.ReadAsync(first))["scope"]!.GetValue<string>());
        using var clients = new HttpRequestMessage(HttpMethod.Get, "/api/v1/clients");
        clients.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.OK, (await server.Http.SendAsync(clients)).StatusCode);

        using var second = await RedeemAsync(code);
        Assert.Equal(HttpStatusCode.Unauthorized, second.StatusCode);
    }

    [Fact]
    public async Task SignInLink_WorkflowsToken_IsForbidden()
    {
        var admin = await AdminTokenAsync();
        using var create = new HttpRequestMessage(HttpMethod.Post, "/api/v1/clients")
        {
            Content = new StringContent("""{"name": "ui-links-test", "scopes": ["workflows"]}""", Encoding.UTF8, "application/json"),
        };
        create.Headers.Authorization = new AuthenticationHeaderValue("Bearer", admin);
        var client = await ServerFixture.ReadAsync(await server.Http.SendAsync(create));
        var token = await TokenAsync(client["client_id"]!.GetValue<string>(), client["client_secret"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Forbidden, (await CreateLinkAsync(token)).StatusCode);
    }

    [Theory]
    [InlineData("""{"code": "not-a-code"}""", HttpStatusCode.Unauthorized)]
    [InlineData("""{"code": 5}""", HttpStatusCode.UnprocessableEntity)]
    [InlineData("""{}""", HttpStatusCode.UnprocessableEntity)]
    [InlineData("""[1]""", HttpStatusCode.UnprocessableEntity)]
    public async Task Redeem_BadCode_IsAClientError(string json, HttpStatusCode expected)
    {
        using var response = await server.Http.PostAsync("/api/v1/ui/sign-in", new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task Redeem_AfterFiveMinutes_IsRefused()
    {
        await using var db = await SqliteOneTimeCodes.CreateAsync();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var links = new SignInLinks(db.Codes, time);
        var principal = new TokenPrincipal("cl_admin", ["admin", "workflows"], 0, long.MaxValue);
        var late = (await links.CreateAsync(principal, CancellationToken.None))!;
        var prompt = (await links.CreateAsync(principal, CancellationToken.None))!;

        var redeemed = await links.RedeemAsync(prompt, CancellationToken.None);
        time.Advance(SignInLinks.Lifetime + TimeSpan.FromSeconds(1));
        var tooLate = await links.RedeemAsync(late, CancellationToken.None);

        Assert.Equal("cl_admin", redeemed!.ClientId);
        Assert.Equal(["admin", "workflows"], redeemed.Scopes);
        Assert.Null(tooLate);
    }

    private async Task<HttpResponseMessage> CreateLinkAsync(string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/ui/sign-in-links") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await server.Http.SendAsync(request);
    }

    private Task<HttpResponseMessage> RedeemAsync(string code) =>
        server.Http.PostAsync("/api/v1/ui/sign-in", new StringContent(new JsonObject { ["code"] = code }.ToJsonString(), Encoding.UTF8, "application/json"));

    private async Task<string> AdminTokenAsync()
    {
        var credential = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(server.DataDir, AuthBootstrap.AdminCredentialFile)))!;
        return await TokenAsync(credential["client_id"]!.GetValue<string>(), credential["client_secret"]!.GetValue<string>());
    }

    private async Task<string> TokenAsync(string id, string secret)
    {
        using var response = await server.Http.PostAsync("/api/v1/oauth/token", new StringContent(
            new JsonObject { ["grant_type"] = "client_credentials", ["client_id"] = id, ["client_secret"] = secret }.ToJsonString(), Encoding.UTF8, "application/json"));
        return (await ServerFixture.ReadAsync(response))["access_token"]!.GetValue<string>();
    }
}
