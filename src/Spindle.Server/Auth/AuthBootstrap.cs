using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Storage;

namespace Spindle.Server.Auth;

/// <summary>
/// What a server sets up at start so that nobody has to handle keys or tokens to try Spindle: the client of the
/// in-process std worker (worker scope only) and a local admin credential in the data directory, readable by the
/// server's user only, which the CLI on the same machine picks up.
/// </summary>
public static class AuthBootstrap
{
    public const string StdWorkerClientId = "spindle-std-worker";
    public const string AdminCredentialFile = "admin-credentials.json";

    public static async Task EnsureStdWorkerClientAsync(IClientStore clients, CancellationToken cancellationToken)
    {
        if (await clients.GetClientAsync(StdWorkerClientId, cancellationToken) is null)
        {
            // Its tokens are minted in-process, so the secret is never used: store the hash of a random one.
            await clients.CreateClientAsync(new OAuthClient(StdWorkerClientId, "built-in std worker",
                SecretHasher.Hash(SecretHasher.NewSecret()), [Scopes.Worker], Timestamps.Now(), null), cancellationToken);
        }
    }

    /// <summary>
    /// A worker-scope client for the local py-std processes of <c>--python-workers</c>. They are separate processes,
    /// so they authenticate like any external worker; the secret is new at every start and handed to them only
    /// through their environment. The id names the machine, so servers of a cluster do not rotate each other's.
    /// </summary>
    public static async Task<(string ClientId, string Secret)> RotatePythonWorkerClientAsync(IClientStore clients, CancellationToken cancellationToken)
    {
        var clientId = "spindle-python-workers@" + Environment.MachineName;
        var secret = SecretHasher.NewSecret();
        var hash = SecretHasher.Hash(secret);
        if (!await clients.CreateClientAsync(new OAuthClient(clientId, "local py-std workers (--python-workers)", hash, [Scopes.Worker], Timestamps.Now(), null), cancellationToken))
        {
            await clients.UpdateSecretAsync(clientId, hash, cancellationToken);
        }
        return (clientId, secret);
    }

    /// <summary>Returns the path of the local admin credential, creating or repairing it when needed.</summary>
    public static async Task<string> EnsureAdminCredentialAsync(IClientStore clients, string dataDir, CancellationToken cancellationToken)
    {
        var path = Path.Combine(dataDir, AdminCredentialFile);
        if (File.Exists(path))
        {
            try
            {
                var existing = JsonNode.Parse(await File.ReadAllTextAsync(path, cancellationToken))!;
                var id = existing["client_id"]!.GetValue<string>();
                var secret = existing["client_secret"]!.GetValue<string>();
                var client = await clients.GetClientAsync(id, cancellationToken);
                if (client is { IsActive: true } && SecretHasher.Verify(secret, client.SecretHash))
                {
                    return path;
                }
            }
            catch (Exception ex) when (ex is JsonException or NullReferenceException or InvalidOperationException)
            {
                // An unreadable file is replaced below.
            }
        }
        var newSecret = SecretHasher.NewSecret();
        var admin = new OAuthClient("cl_admin_" + Guid.NewGuid().ToString("N")[..16], "local admin (CLI on this machine)",
            SecretHasher.Hash(newSecret), [Scopes.Admin], Timestamps.Now(), null);
        await clients.CreateClientAsync(admin, cancellationToken);
        File.Delete(path);
        OwnerOnlyFile.WriteNew(path, new JsonObject
        {
            ["client_id"] = admin.ClientId,
            ["client_secret"] = newSecret,
            ["note"] = "Admin credential for the spindle CLI on this machine. Keep it private; revoke with `spindle clients revoke`.",
        }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }
}
