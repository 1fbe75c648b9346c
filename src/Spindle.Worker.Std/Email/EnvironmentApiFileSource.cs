namespace Spindle.Worker.Std.Email;

/// <summary>
/// Workflow files through a Spindle API client built on first use from the worker's environment
/// (<c>SPINDLE_API_URL</c>, <c>SPINDLE_CLIENT_ID</c>, <c>SPINDLE_CLIENT_SECRET</c>): the fallback of the std worker
/// when its host does not hand over the worker's own client (<see cref="StdActivities.UseApiClient"/>).
/// </summary>
public sealed class EnvironmentApiFileSource(HttpClient httpClient, Func<string, string?>? getVariable = null) : IWorkflowFileSource, IDisposable
{
    private readonly Lock _lock = new();
    private SpindleApiClient? _client;

    public Task<WorkflowFile> DownloadAsync(WorkflowFileReference reference, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reference);
        SpindleApiClient client = GetClient();
        return client.DownloadFileAsync(httpClient, reference.WorkflowId, reference.ActivityKey, reference.FileName, cancellationToken);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _client?.Dispose();
            _client = null;
        }
    }

    private SpindleApiClient GetClient()
    {
        lock (_lock)
        {
            if (_client is not null)
            {
                return _client;
            }

            SpindleWorkerOptions options = SpindleWorkerOptions.FromEnvironment(getVariable ?? Environment.GetEnvironmentVariable);
            if (options.ApiUrl is null)
            {
                throw new ActivityFailureException(
                    EmailErrorCodes.AttachmentError,
                    "workflow files cannot be read: this worker has no Spindle API client for file downloads (set SPINDLE_API_URL)",
                    retryable: false);
            }

            _client = new SpindleApiClient(options, httpClient);
            return _client;
        }
    }
}
