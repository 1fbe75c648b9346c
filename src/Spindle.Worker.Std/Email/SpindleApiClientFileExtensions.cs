using System.Net;
using System.Net.Http.Headers;

namespace Spindle.Worker.Std.Email;

/// <summary>
/// File downloads for <see cref="SpindleApiClient"/> (<c>GET /api/v1/workflows/{wf}/activities/{key}/files/{name}</c>,
/// docs/worker-protocol.md), kept beside the client so the client itself stays unchanged until it gains the call.
/// </summary>
public static class SpindleApiClientFileExtensions
{
    /// <summary>
    /// Downloads a workflow file with the client's token over <paramref name="httpClient"/>. Throws
    /// <see cref="SpindleApiException"/> for error answers (404 when the file does not exist).
    /// </summary>
    public static async Task<WorkflowFile> DownloadFileAsync(
        this SpindleApiClient client,
        HttpClient httpClient,
        string workflowId,
        string activityKey,
        string fileName,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentException.ThrowIfNullOrEmpty(workflowId);
        ArgumentException.ThrowIfNullOrEmpty(activityKey);
        ArgumentException.ThrowIfNullOrEmpty(fileName);

        string baseText = client.Options.ApiUrl!.AbsoluteUri;
        var baseUri = new Uri(baseText.EndsWith('/') ? baseText : baseText + "/");
        string path = $"api/v1/workflows/{Uri.EscapeDataString(workflowId)}/activities/{Uri.EscapeDataString(activityKey)}/files/{Uri.EscapeDataString(fileName)}";

        for (int authAttempt = 0; ; authAttempt++)
        {
            string? token = await client.GetTokenAsync(cancellationToken).ConfigureAwait(false);
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(baseUri, path));
            if (token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(client.Options.RequestTimeout);
            try
            {
                using HttpResponseMessage response = await httpClient.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.Unauthorized && token is not null && authAttempt == 0)
                {
                    // The token expired early or was revoked: fetch a new one and try once more.
                    client.InvalidateToken(token);
                    continue;
                }

                if (!response.IsSuccessStatusCode)
                {
                    throw new SpindleApiException(response.StatusCode, null, $"GET /{path} failed with {(int)response.StatusCode} {response.ReasonPhrase}");
                }

                byte[] content = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
                return new WorkflowFile(content, response.Content.Headers.ContentType?.MediaType);
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && timeout.IsCancellationRequested)
            {
                throw new TimeoutException($"GET /{path} timed out after {client.Options.RequestTimeout.TotalSeconds:0.###} s.", ex);
            }
        }
    }
}
