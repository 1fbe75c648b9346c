using Npgsql;

namespace Spindle.Storage.Postgres;

/// <summary>Activity files in PostgreSQL (migration 4), visible to every server of a cluster.</summary>
public sealed class PostgresFileStore(NpgsqlDataSource dataSource) : IFileStore
{
    public async Task<StoredFile> PutFileAsync(string workflowId, string activityKey, string filename, string contentType, byte[] content, long now,
        CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand(
            "INSERT INTO activity_files (workflow_id, activity_key, filename, content_type, size, content, created_at) " +
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (workflow_id, activity_key, filename) DO UPDATE SET " +
            "content_type = excluded.content_type, size = excluded.size, content = excluded.content, created_at = excluded.created_at");
        cmd.Parameters.AddWithValue(workflowId);
        cmd.Parameters.AddWithValue(activityKey);
        cmd.Parameters.AddWithValue(filename);
        cmd.Parameters.AddWithValue(contentType);
        cmd.Parameters.AddWithValue(content.LongLength);
        cmd.Parameters.AddWithValue(content);
        cmd.Parameters.AddWithValue(now);
        await cmd.ExecuteNonQueryAsync(cancellationToken);
        return new StoredFile(workflowId, activityKey, filename, contentType, content.LongLength, now);
    }

    public async Task<(StoredFile File, byte[] Content)?> GetFileAsync(string workflowId, string activityKey, string filename, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand(
            "SELECT content_type, size, created_at, content FROM activity_files WHERE workflow_id = $1 AND activity_key = $2 AND filename = $3");
        cmd.Parameters.AddWithValue(workflowId);
        cmd.Parameters.AddWithValue(activityKey);
        cmd.Parameters.AddWithValue(filename);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        if (!await r.ReadAsync(cancellationToken))
        {
            return null;
        }
        return (new StoredFile(workflowId, activityKey, filename, r.GetString(0), r.GetInt64(1), r.GetInt64(2)), (byte[])r.GetValue(3));
    }

    public async Task<IReadOnlyList<StoredFile>> ListFilesAsync(string workflowId, string activityKey, CancellationToken cancellationToken)
    {
        await using var cmd = dataSource.CreateCommand(
            "SELECT filename, content_type, size, created_at FROM activity_files WHERE workflow_id = $1 AND activity_key = $2 ORDER BY filename");
        cmd.Parameters.AddWithValue(workflowId);
        cmd.Parameters.AddWithValue(activityKey);
        var list = new List<StoredFile>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            list.Add(new StoredFile(workflowId, activityKey, r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetInt64(3)));
        }
        return list;
    }
}
