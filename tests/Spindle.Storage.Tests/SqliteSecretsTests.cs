using System.Text;
using Spindle.Core.Orchestration;
using Spindle.Storage.Sqlite;

namespace Spindle.Storage.Tests;

/// <summary>The secrets suite on a real SQLite file; the stored text is the raw bytes of the database and its WAL.</summary>
public sealed class SqliteSecretsTests : SecretsStoreBehaviour, IDisposable
{
    private readonly SqliteTempDirectory _dir = new("spindle-secrets-");

    protected override Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults) =>
        Task.FromResult<IWorkflowStore>(new SqliteWorkflowStore(_dir.DatabasePath, defaults));

    protected override Task<IWorkflowStore> ReopenAsync(EngineDefaults defaults) => CreateStoreAsync(defaults);

    protected override async Task<string> ReadStoredTextAsync()
    {
        var text = new StringBuilder();
        foreach (var path in new[] { _dir.DatabasePath, _dir.DatabasePath + "-wal" })
        {
            if (!File.Exists(path))
            {
                continue;
            }
            await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var memory = new MemoryStream();
            await file.CopyToAsync(memory);
            text.Append(Encoding.Latin1.GetString(memory.ToArray()));
        }
        Assert.True(text.Length > 0, "no database file was written");
        return text.ToString();
    }

    public void Dispose() => _dir.Dispose();
}
