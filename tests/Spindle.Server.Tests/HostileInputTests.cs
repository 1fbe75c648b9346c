using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Spindle.Server.Auth;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>
/// Inputs that once answered 500 (found by review and by the API fuzz test): each must get a 4xx with the error
/// envelope. Raw bytes go over a socket where HttpClient would refuse to send them.
/// </summary>
[Collection(SecureServerCollection.Name)]
public sealed class HostileInputTests(SecureServerFixture server)
{
    [Theory]
    [InlineData("""{"grant_type":"client_credentials","client_id":"\ud800","client_secret":"x"}""")]
    [InlineData("""{"grant_type":"client_credentials","client_id":"a","client_secret":"x","\udfff":1}""")]
    public async Task Token_LoneSurrogateEscape_400Envelope(string body)
    {
        var (status, envelope) = await RawAsync("POST", "/api/v1/oauth/token", Encoding.UTF8.GetBytes(body), "Content-Type: application/json");
        Assert.Equal(400, status);
        Assert.Equal("BAD_REQUEST", envelope["error"]!["code"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("/api/v1/workflows", """{"definition_name":"x","input":{"text":"\ud800"}}""", "$.input.text")]
    [InlineData("/api/v1/workers/poll", """{"worker":"std","worker_id":"w","\udc00":1}""", "$ (a property name)")]
    [InlineData("/api/v1/cache/invalidate", """{"pattern":["ok","\ud83d"]}""", "$.pattern[1]")]
    public async Task AnyJsonBody_LoneSurrogateEscape_400NamingWhere(string path, string body, string where)
    {
        var (status, envelope) = await RawAsync("POST", path, Encoding.UTF8.GetBytes(body), "Content-Type: application/json",
            "Authorization: Bearer " + await AdminTokenAsync());
        Assert.Equal(400, status);
        Assert.EndsWith(where, envelope["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("multipart/form-data", "x")]
    [InlineData("multipart/form-data; boundary=zz", "--zz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ncut short")]
    public async Task Token_MalformedForm_400Envelope(string contentType, string body)
    {
        var (status, envelope) = await RawAsync("POST", "/api/v1/oauth/token", Encoding.UTF8.GetBytes(body), "Content-Type: " + contentType);
        Assert.Equal(400, status);
        Assert.Equal("BAD_REQUEST", envelope["error"]!["code"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("/health")]
    [InlineData("/api/v1/info")]
    [InlineData("/api/v1/workflows")]
    public async Task AnyRoute_NonAsciiRequestId_AnswersWithAFreshId(string path)
    {
        var (status, head, _) = await RawExchangeAsync("GET", path, null, "x-request-id: h\u00e9llo-\u4e16\u754c");
        Assert.True(status is 200 or 401, $"{path} answered {status}");
        var echoed = head.Split("\r\n").Single(l => l.StartsWith("x-request-id:", StringComparison.OrdinalIgnoreCase));
        Assert.Matches("^x-request-id: [0-9a-f]{32}$", echoed.ToLowerInvariant());
    }

    [Fact]
    public async Task AnyRoute_AsciiRequestId_IsEchoed()
    {
        var (_, head, _) = await RawExchangeAsync("GET", "/health", null, "x-request-id: trace-42");
        Assert.Contains("x-request-id: trace-42", head, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("end_date=0001-01-01T00:00:00Z")]
    [InlineData("end_date=0001-01-15")]
    [InlineData("start_date=0001-01-01&end_date=9999-12-31T23:59:59Z")]
    public async Task CostAnalytics_DatesAtTheEdgesOfTime_AnswerWithoutError(string query)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/cost/analytics?" + query);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await AdminTokenAsync());
        using var response = await server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull((await ServerFixture.ReadAsync(response))["total_cost_usd"]);
    }

    [Theory]
    [InlineData("ffffffffffffffff")]
    [InlineData("7fffffffffffffff")]
    [InlineData("100000000")]
    public async Task ChunkedBody_ChunkSizeBeyondRange_400Envelope(string chunkSize)
    {
        var (status, _, body) = await RawExchangeAsync("POST", "/api/v1/oauth/token", Encoding.ASCII.GetBytes(chunkSize + "\r\nabc\r\n0\r\n\r\n"),
            "Content-Type: application/json", "Transfer-Encoding: chunked");
        Assert.Equal(400, status);
        Assert.Equal("BAD_REQUEST", JsonNode.Parse(body)!["error"]!["code"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("1000000000000000000", true)]
    [InlineData("1e18", true)]
    [InlineData("1000000000000000000", false)]
    [InlineData("-9223372036854775808", true)]
    public async Task Bearer_ExpOutOfRange_401Envelope(string exp, bool validlySigned)
    {
        var token = Jwt(exp, validlySigned);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/workflows");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("UNAUTHORIZED", (await ServerFixture.ReadAsync(response))["error"]!["code"]!.GetValue<string>());
    }

    /// <summary>A JWT like the server's own with a raw <c>exp</c> literal, signed with the server's key or another.</summary>
    private string Jwt(string exp, bool validlySigned)
    {
        static string B64(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var header = B64(Encoding.UTF8.GetBytes("""{"alg":"RS256","typ":"JWT"}"""));
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var payload = B64(Encoding.UTF8.GetBytes(
            $$"""{"sub":"cl_x","jti":"j","iss":"spindle","aud":"spindle-api","iat":{{now}},"exp":{{exp}},"scope":"admin"}"""));
        using var key = validlySigned ? null : RSA.Create(2048);
        using var serverKey = SigningKey.LoadOrCreate(Path.Combine(server.DataDir, "signing-key.pem"));
        var rsa = key ?? serverKey.Rsa;
        var signature = rsa.SignData(Encoding.ASCII.GetBytes(header + "." + payload), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return header + "." + payload + "." + B64(signature);
    }

    private async Task<string> AdminTokenAsync()
    {
        var credential = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(server.DataDir, AuthBootstrap.AdminCredentialFile)))!;
        using var response = await server.Http.PostAsync("/api/v1/oauth/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = credential["client_id"]!.GetValue<string>(),
            ["client_secret"] = credential["client_secret"]!.GetValue<string>(),
        }));
        return (await ServerFixture.ReadAsync(response))["access_token"]!.GetValue<string>();
    }

    private async Task<(int Status, JsonNode Body)> RawAsync(string method, string path, byte[]? body, params string[] headers)
    {
        var (status, _, text) = await RawExchangeAsync(method, path, body, headers);
        return (status, JsonNode.Parse(text)!);
    }

    /// <summary>One request written byte for byte (headers as UTF-8), read until the server closes or the body is complete.</summary>
    private async Task<(int Status, string Head, string Body)> RawExchangeAsync(string method, string path, byte[]? body, params string[] headers)
    {
        var uri = new Uri(server.BaseUrl);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(uri.Host, uri.Port);
        var stream = tcp.GetStream();
        var head = new StringBuilder($"{method} {path} HTTP/1.1\r\nHost: {uri.Authority}\r\nConnection: close\r\n");
        foreach (var header in headers)
        {
            head.Append(header).Append("\r\n");
        }
        if (body is not null && !headers.Any(h => h.StartsWith("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)))
        {
            head.Append("Content-Length: ").Append(body.Length).Append("\r\n");
        }
        head.Append("\r\n");
        await stream.WriteAsync(Encoding.UTF8.GetBytes(head.ToString()));
        if (body is not null)
        {
            await stream.WriteAsync(body);
        }
        using var reader = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await stream.CopyToAsync(reader, timeout.Token);
        var text = Encoding.UTF8.GetString(reader.ToArray());
        var split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var responseHead = text[..split];
        var status = int.Parse(responseHead.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        return (status, responseHead, text[(split + 4)..]);
    }
}
