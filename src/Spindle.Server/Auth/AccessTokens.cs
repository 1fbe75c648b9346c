using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Server.Auth;

/// <summary>The identity a valid token carries.</summary>
public sealed record TokenPrincipal(string ClientId, IReadOnlyCollection<string> Scopes, long IssuedAt, long ExpiresAt);

/// <summary>
/// RS256 JWTs (docs/api.md): <c>sub</c>, <c>jti</c>, <c>iss</c>, <c>aud</c>, <c>iat</c>, <c>exp</c> and a
/// space-separated <c>scope</c>. Hand-written because the format is tiny and this sits on every request.
/// </summary>
public sealed class AccessTokens
{
    public const string Issuer = "spindle";
    public const string Audience = "spindle-api";
    private static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(30);
    private static readonly long MaxUnixSeconds = DateTimeOffset.MaxValue.ToUnixTimeSeconds();

    /// <summary>A token whose JSON repeats a key is refused (401), not read ambiguously or left to throw later.</summary>
    private static readonly JsonDocumentOptions StrictJson = new() { AllowDuplicateProperties = false };
    private readonly SigningKey _key;
    private readonly TimeProvider _time;

    public AccessTokens(SigningKey key, TimeProvider? time = null)
    {
        _key = key;
        _time = time ?? TimeProvider.System;
    }

    public TimeSpan Lifetime { get; init; } = TimeSpan.FromSeconds(86_400);

    public string Issue(string clientId, IReadOnlyCollection<string> scopes)
    {
        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        var header = new JsonObject { ["alg"] = "RS256", ["typ"] = "JWT", ["kid"] = _key.KeyId };
        var payload = new JsonObject
        {
            ["sub"] = clientId,
            ["jti"] = Guid.NewGuid().ToString("N"),
            ["iss"] = Issuer,
            ["aud"] = Audience,
            ["iat"] = now,
            ["exp"] = now + (long)Lifetime.TotalSeconds,
            ["scope"] = string.Join(' ', scopes),
        };
        var signingInput = Base64Url(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." + Base64Url(Encoding.UTF8.GetBytes(payload.ToJsonString()));
        var signature = _key.Rsa.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return signingInput + "." + Base64Url(signature);
    }

    /// <summary>Checks signature, issuer, audience and expiry; null for anything that is not a valid token of ours.</summary>
    public TokenPrincipal? Validate(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 3)
        {
            return null;
        }
        try
        {
            var header = JsonNode.Parse(FromBase64Url(parts[0]), documentOptions: StrictJson) as JsonObject;
            if (header?["alg"]?.GetValue<string>() != "RS256")
            {
                return null; // never "none" or HMAC with the public key
            }
            var signature = FromBase64Url(parts[2]);
            var signed = Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]);
            if (!_key.Rsa.VerifyData(signed, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1))
            {
                return null;
            }
            if (JsonNode.Parse(FromBase64Url(parts[1]), documentOptions: StrictJson) is not JsonObject payload
                || payload["iss"]?.GetValue<string>() != Issuer
                || payload["aud"]?.GetValue<string>() != Audience
                || payload["sub"]?.GetValue<string>() is not { Length: > 0 } subject)
            {
                return null;
            }
            var exp = payload["exp"]!.GetValue<long>();
            var iat = payload["iat"]?.GetValue<long>() ?? 0;
            // Compared as numbers: an exp beyond DateTimeOffset's range (e.g. 1e18) is refused, not an exception.
            if (exp > MaxUnixSeconds || exp + (long)ClockSkew.TotalSeconds < _time.GetUtcNow().ToUnixTimeSeconds())
            {
                return null;
            }
            var scopes = (payload["scope"]?.GetValue<string>() ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return new TokenPrincipal(subject, scopes, iat, exp);
        }
        catch (Exception ex) when (ex is FormatException or JsonException or InvalidOperationException or NullReferenceException or CryptographicException
                                       or ArgumentException)
        {
            return null;
        }
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        s += (s.Length % 4) switch { 2 => "==", 3 => "=", 0 => "", _ => throw new FormatException("bad base64url") };
        return Convert.FromBase64String(s);
    }
}
