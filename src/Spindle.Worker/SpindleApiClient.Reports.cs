using System.Net.Http.Headers;
using System.Text.Json;
using Spindle.Protocol;

namespace Spindle.Worker;

// The batched report route (docs/worker-protocol.md, "Batched reports"); the worker's ReportBatcher decides what goes in.
public sealed partial class SpindleApiClient
{
    private const string ReportPath = "api/v1/workers/report";

    /// <summary>
    /// <c>POST /api/v1/workers/report</c> (the <c>batch-report</c> extension): up to 100 completions and failures of
    /// this worker in one request, answered one result per report, in order. A single attempt: repeating is the
    /// caller's choice (each report may be repeated through its single route, with the same body).
    /// </summary>
    public Task<ReportResponse> ReportAsync(IReadOnlyList<ReportItem> reports, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reports);
        return ReportAsync([.. reports.Select(r => JsonSerializer.SerializeToUtf8Bytes(r, SpindleJsonContext.Default.ReportItem))], cancellationToken);
    }

    /// <summary>As <see cref="ReportAsync(IReadOnlyList{ReportItem}, CancellationToken)"/>, with each report already serialised.</summary>
    internal Task<ReportResponse> ReportAsync(IReadOnlyList<byte[]> reports, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("worker_id", _options.WorkerId);
            writer.WriteStartArray("reports");
            foreach (byte[] report in reports)
            {
                writer.WriteRawValue(report, skipInputValidation: true);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        var content = new ByteArrayContent(buffer.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return SendAsync(HttpMethod.Post, ReportPath, content, SpindleJsonContext.Default.ReportResponse, _options.RequestTimeout,
            authenticated: true, activityId: null, cancellationToken);
    }
}
