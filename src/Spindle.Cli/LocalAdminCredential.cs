using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Cli;

/// <summary>
/// The admin credential a server writes to its data directory (readable by its user only): what lets the CLI on the
/// same machine work against a secured server with no token setup.
/// </summary>
internal static class LocalAdminCredential
{
    public const string FileName = "admin-credentials.json";

    public static ClientCredentials? TryRead(string dataDir)
    {
        var path = Path.Combine(dataDir, FileName);
        try
        {
            if (!File.Exists(path))
            {
                return null;
            }
            var json = JsonNode.Parse(File.ReadAllText(path));
            return json?["client_id"]?.GetValue<string>() is { Length: > 0 } id && json["client_secret"]?.GetValue<string>() is { Length: > 0 } secret
                ? new ClientCredentials(id, secret)
                : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException)
        {
            return null; // not ours to read: the server will answer 401 with instructions
        }
    }
}
