using System.Security.Cryptography;
using System.Text;
using Spindle.Storage;

namespace Spindle.Server.Auth;

/// <summary>The text side of one-time codes: random, URL-safe, and only ever stored as a hash.</summary>
internal static class OneTimeCodeText
{
    public static string New() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Only a hash is stored: a database dump does not hand out live codes.</summary>
    public static string Hash(string code) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(code)));

    public static TokenPrincipal ToPrincipal(this OneTimeCode code) =>
        new(code.ClientId, code.Scopes, code.IssuedAtMs / 1000, code.ExpiresAtMs / 1000);
}
