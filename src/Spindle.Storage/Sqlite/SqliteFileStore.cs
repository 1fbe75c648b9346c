using Microsoft.Data.Sqlite;

namespace Spindle.Storage.Sqlite;

/// <summary>Activity files in the SQLite file (migration 4).</summary>
public sealed class SqliteFileStore(string databasePath) : IFileStore
{
    private readonly string _connectionString =
        new SqliteConnectionStringBuilder { DataSource = databasePath, Pooling = true, DefaultTimeout = 30 }.ToString();

    public async Task<StoredFile> PutFileAsync(string workflowId, string activityKey, string filename, string contentType, byte[] content, long now,
        CancellationToken cancellationToken)
    {
        await using var conn = await OpenAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText =
            "INSERT INTO activity_files (workflow_id, activity_key, filename, content_type, size, content, created_at) " +
            "VALUES ($wf, $key, $name, $type, $size, $content, $now) ON CONFLICT (workflow_id, activity_key, filename) DO UPDATE SET " +
            "content_type = excluded.content_type, size = excluded.size, content = excluded.content, created_at = excluded.created_at";
        cmd.Parameters.AddWithValue("$wf", workflowId);
        cmd.Parameters.AddWithValue("$key", activityKey);
        cmd.Parameters.AddWithValue("$name", filename);
        cmd.Parameters.AddWithValue("$type", contentType);
        cmd.Parameters.AddWithValue("$size", content.LongLength);
        cmd.Parameters.AddWithValue("$content", content);
        cmd.Parameters.AddWithValue("$now", now);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
        return new StoredFile(workflowId, activityKey, filename, contentType, content.LongLength, now);
    }

    public async Task<(StoredFile File, byte[] Content)?> GetFileAsync(string workflowId, string activityKey, string filename, CancellationToken cancellationToken)
    {
        await using var conn = await OpenAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT content_type, size, created_at, content FROM activity_files WHERE workflow_id = $wf AND activity_key = $key AND filename = $name";
        cmd.Parameters.AddWithValue("$wf", workflowId);
        cmd.Parameters.AddWithValue("$key", activityKey);
        cmd.Parameters.AddWithValue("$name", filename);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await r.ReadAsync(cancellationToken))
        {
            return null;
        }
        return (new StoredFile(workflowId, activityKey, filename, r.GetString(0), r.GetInt64(1), r.GetInt64(2)), (byte[])r.GetValue(3));
    }

    public async Task<IReadOnlyList<StoredFile>> ListFilesAsync(string workflowId, string activityKey, CancellationToken cancellationToken)
    {
        await using var conn = await OpenAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT filename, content_type, size, created_at FROM activity_files WHERE workflow_id = $wf AND activity_key = $key ORDER BY filename";
        cmd.Parameters.AddWithValue("$wf", workflowId);
        cmd.Parameters.AddWithValue("$key", activityKey);
        var list = new List<StoredFile>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            list.Add(new StoredFile(workflowId, activityKey, r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetInt64(3)));
        }
        return list;
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var conn = new SqliteConnection(_connectionString);
        await conn.OpenAsync(cancellationToken);
        return conn;
    }
}
