namespace Spindle.Storage;

/// <summary>A file an activity produced (docs/worker-protocol.md), kept in the engine's database so every server sees it.</summary>
public sealed record StoredFile(string WorkflowId, string ActivityKey, string Filename, string ContentType, long Size, long CreatedAt);

public interface IFileStore
{
    /// <summary>Inserts or replaces the file.</summary>
    Task<StoredFile> PutFileAsync(string workflowId, string activityKey, string filename, string contentType, byte[] content, long now,
        CancellationToken cancellationToken);

    Task<(StoredFile File, byte[] Content)?> GetFileAsync(string workflowId, string activityKey, string filename, CancellationToken cancellationToken);

    Task<IReadOnlyList<StoredFile>> ListFilesAsync(string workflowId, string activityKey, CancellationToken cancellationToken);
}
