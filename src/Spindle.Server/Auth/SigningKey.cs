using System.Security.Cryptography;

namespace Spindle.Server.Auth;

/// <summary>
/// The RSA key that signs access tokens. Generated on first start and kept with the server's data (readable by its
/// owner only) so tokens survive a restart; servers sharing one database must be given the same key file.
/// </summary>
public sealed class SigningKey : IDisposable
{
    private SigningKey(RSA rsa, string keyId)
    {
        Rsa = rsa;
        KeyId = keyId;
    }

    public RSA Rsa { get; }

    /// <summary>A short fingerprint of the public key, written into each token's header as <c>kid</c>.</summary>
    public string KeyId { get; }

    public static SigningKey LoadOrCreate(string path)
    {
        var rsa = RSA.Create();
        if (File.Exists(path))
        {
            rsa.ImportFromPem(File.ReadAllText(path));
        }
        else
        {
            rsa.KeySize = 2048;
            Hosting.DataDirectory.CreatePrivate(Path.GetDirectoryName(Path.GetFullPath(path))!);
            var pem = rsa.ExportPkcs8PrivateKeyPem();
            OwnerOnlyFile.WriteNew(path, pem);
        }
        var fingerprint = SHA256.HashData(rsa.ExportSubjectPublicKeyInfo());
        return new SigningKey(rsa, Convert.ToHexStringLower(fingerprint)[..16]);
    }

    public void Dispose() => Rsa.Dispose();
}
