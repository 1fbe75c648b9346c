namespace Spindle.Storage.Tests;

/// <summary>A fresh directory for one test class's SQLite file, removed with the class.</summary>
internal sealed class SqliteTempDirectory(string prefix) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory(prefix).FullName;

    public string DatabasePath => Path.Combine(_dir, "spindle.db");

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A pooled handle may still be closing; the temp directory is cleaned by the OS eventually.
        }
    }
}
