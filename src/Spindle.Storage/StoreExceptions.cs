namespace Spindle.Storage;

/// <summary>
/// A row changed under the transaction between reading and writing it (a claim raced a cancel). The transaction
/// is rolled back and run again from the start on fresh data.
/// </summary>
public sealed class WriteConflictException(string message) : Exception(message);

/// <summary>The database's unique index on <c>unique_key</c> refused a second live workflow with the same key.</summary>
public sealed class UniqueKeyConflictException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The database was written by a newer Spindle; this build must not touch it.</summary>
public sealed class SchemaTooNewException(int databaseVersion, int knownVersion, string advice)
    : InvalidOperationException(
        $"The database schema is version {databaseVersion}, newer than this Spindle build knows ({knownVersion}). {advice}")
{
    public int DatabaseVersion { get; } = databaseVersion;

    public int KnownVersion { get; } = knownVersion;
}
