using System.Security.Cryptography;

namespace Spindle.Server.Auth;

/// <summary>
/// Client secrets are stored only as slow salted hashes (PBKDF2-SHA256), so a leaked database does not leak
/// credentials. Format: <c>pbkdf2-sha256$iterations$salt$hash</c> (base64).
/// </summary>
public static class SecretHasher
{
    private const int Iterations = 100_000;
    private const int SaltBytes = 16;
    private const int HashBytes = 32;
    private static readonly Lazy<string> Dummy = new(() => Hash(NewSecret()));

    /// <summary>
    /// A hash of a random secret at the same cost as real ones: an unknown or inactive client id is checked against
    /// it, so such ids take as long to refuse as a wrong secret for a real one (no timing oracle for valid ids).
    /// </summary>
    public static string DummyHash => Dummy.Value;

    public static string Hash(string secret)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Rfc2898DeriveBytes.Pbkdf2(secret, salt, Iterations, HashAlgorithmName.SHA256, HashBytes);
        return $"pbkdf2-sha256${Iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    public static bool Verify(string secret, string stored)
    {
        var parts = stored.Split('$');
        if (parts.Length != 4 || parts[0] != "pbkdf2-sha256" || !int.TryParse(parts[1], out var iterations))
        {
            return false;
        }
        try
        {
            var salt = Convert.FromBase64String(parts[2]);
            var expected = Convert.FromBase64String(parts[3]);
            var actual = Rfc2898DeriveBytes.Pbkdf2(secret, salt, iterations, HashAlgorithmName.SHA256, expected.Length);
            return CryptographicOperations.FixedTimeEquals(actual, expected);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>A new random secret for a client: 32 bytes, URL-safe.</summary>
    public static string NewSecret() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
