namespace Spindle.Worker.Std.Email;

/// <summary>Reads workflow files for attachments; the std worker reads them through the Spindle API.</summary>
public interface IWorkflowFileSource
{
    Task<WorkflowFile> DownloadAsync(WorkflowFileReference reference, CancellationToken cancellationToken);
}

/// <summary>Workflow files through a <see cref="SpindleApiClient"/> (normally the worker's own).</summary>
public sealed class SpindleApiFileSource(SpindleApiClient apiClient, HttpClient httpClient) : IWorkflowFileSource
{
    public Task<WorkflowFile> DownloadAsync(WorkflowFileReference reference, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return apiClient.DownloadFileAsync(httpClient, reference.WorkflowId, reference.ActivityKey, reference.FileName, cancellationToken);
    }
}
