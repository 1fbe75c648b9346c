namespace Spindle.Server.Auth;

/// <summary>Checks a presented client secret against a stored hash; injectable so tests can see that it ran.</summary>
public interface ISecretVerifier
{
    bool Verify(string secret, string storedHash);
}

/// <summary>The PBKDF2 check of <see cref="SecretHasher"/>.</summary>
public sealed class Pbkdf2SecretVerifier : ISecretVerifier
{
    public bool Verify(string secret, string storedHash) => SecretHasher.Verify(secret, storedHash);
}
