namespace Spindle.Storage.Sqlite;

/// <summary>
/// The SQLite file holds workflow inputs, outputs and client hashes: it is readable by the server's user only.
/// SQLite gives the <c>-wal</c>, <c>-shm</c> and <c>-journal</c> files the database file's mode, so creating the
/// database 0600 before SQLite opens it is enough for new files; existing ones made wider are tightened.
/// </summary>
public static class PrivateDatabaseFile
{
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>The database file and the files SQLite keeps beside it.</summary>
    public static IEnumerable<string> FilesOf(string databasePath) =>
        [databasePath, databasePath + "-wal", databasePath + "-shm", databasePath + "-journal"];

    /// <summary>Creates the (empty) database file owner-only if it is missing, and tightens those that exist;
    /// returns the paths that had to be tightened. Nothing happens when the directory does not exist.</summary>
    public static IReadOnlyList<string> Ensure(string databasePath)
    {
        // ":memory:" and "file:" URIs are not plain paths: SQLite decides where (or whether) a file exists.
        if (OperatingSystem.IsWindows() || databasePath.StartsWith(':') || databasePath.StartsWith("file:", StringComparison.Ordinal)
            || !Directory.Exists(Path.GetDirectoryName(Path.GetFullPath(databasePath))))
        {
            return [];
        }
        try
        {
            // An empty file is a valid empty SQLite database.
            using var created = new FileStream(databasePath, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = OwnerOnly,
            });
        }
        catch (IOException) when (File.Exists(databasePath))
        {
            // It exists already (or another store of the same file created it first).
        }
        var tightened = new List<string>();
        foreach (var path in FilesOf(databasePath))
        {
            if (TightenIfWider(path))
            {
                tightened.Add(path);
            }
        }
        return tightened;
    }

    /// <summary>Sets an existing file to 0600 when group or others had any access; true when it did.</summary>
    public static bool TightenIfWider(string path)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(path))
        {
            return false;
        }
        try
        {
            if ((File.GetUnixFileMode(path) & GroupOrOther) == 0)
            {
                return false;
            }
            File.SetUnixFileMode(path, OwnerOnly);
            return true;
        }
        catch (FileNotFoundException)
        {
            return false; // SQLite removed it (a -journal or -wal at close) in between
        }
    }
}
