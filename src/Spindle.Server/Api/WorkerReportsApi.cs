using System.Text.Json.Nodes;
using Spindle.Core.Costs;
using Spindle.Protocol;
using Spindle.Server.Wakeups;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>
/// <c>POST /api/v1/workers/report</c> (docs/worker-protocol.md, "Batched reports"): the completions and failures a
/// worker has ready at once, in one request. Each goes through the same path as its single route, all of them
/// concurrently, and each is answered as that route would have answered it; one bad report fails only itself.
/// </summary>
public static partial class WorkerReportsApi
{
    /// <summary>The most reports one request carries (as many as a poll may claim).</summary>
    public const int MaxReports = 100;

    public static async Task<IResult> ReportActivities(HttpRequest request, IWorkflowStore store, ModelCatalog catalog, PollCoordinator polls,
        ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        var fields = new Fields(body!);
        var workerId = fields.String("worker_id", required: true, maxLength: 255);
        if (body!["reports"] is not JsonArray reports || reports.Count is 0 or > MaxReports)
        {
            fields.Error("reports", $"reports must be an array of 1 to {MaxReports} reports");
            return ApiErrors.Validation(fields.Errors);
        }
        if (fields.HasErrors)
        {
            return ApiErrors.Validation(fields.Errors);
        }
        var logger = loggers.CreateLogger(typeof(WorkerReportsApi).FullName!);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var results = new Task<ReportResult>[reports.Count];
        for (var i = 0; i < reports.Count; i++)
        {
            var read = Read(reports[i], $"reports[{i}]", workerId!, seen);
            results[i] = read.Problem is not null
                ? Task.FromResult(read.Problem)
                : Guarded(read, store, catalog, polls, logger, cancellationToken);
        }
        var answered = await Task.WhenAll(results);
        return Json.Result(new ReportResponse { Results = [.. answered], Count = answered.Length }, SpindleJsonContext.Default.ReportResponse);
    }

    /// <summary>One report read: the 422 result naming its field, or the completion or failure to record.</summary>
    private sealed record ReadReport(string? ActivityId, ReportResult? Problem, CompleteRequest? Completion = null, FailRequest? Failure = null);

    private static ReadReport Read(JsonNode? node, string path, string workerId, HashSet<string> seen)
    {
        if (node is not JsonObject item)
        {
            return new(null, Invalid(null, path, "each report must be a JSON object"));
        }
        var fields = new Fields(item);
        var activityId = fields.String("activity_id", required: true);
        var action = fields.String("action", required: true);
        if (fields.HasErrors)
        {
            return new(activityId, Invalid(activityId, path, fields.Errors));
        }
        if (action is not ("complete" or "fail"))
        {
            return new(activityId, Invalid(activityId, $"{path}.action", "action must be complete or fail"));
        }
        // Two reports of one activity would race each other (and a repeated claim-next completion is answered with
        // what the first leased, which the worker would then start twice).
        if (!seen.Add(activityId!))
        {
            return new(activityId, Invalid(activityId, $"{path}.activity_id", "the batch already reports this activity"));
        }
        if (action == "complete")
        {
            var (completion, invalid) = WorkersApi.ReadComplete(item, workerId);
            return invalid is not null ? new(activityId, Invalid(activityId, path, invalid)) : new(activityId, null, Completion: completion);
        }
        var (failure, bad) = WorkersApi.ReadFail(item, workerId);
        return bad is not null ? new(activityId, Invalid(activityId, path, bad)) : new(activityId, null, Failure: failure);
    }

    /// <summary>Records one report through its single route's path.</summary>
    private static async Task<ReportResult> RecordAsync(ReadReport read, IWorkflowStore store, ModelCatalog catalog, PollCoordinator polls,
        CancellationToken cancellationToken)
    {
        var activityId = read.ActivityId!;
        if (read.Completion is { } completion)
        {
            var recorded = await WorkersApi.RecordCompleteAsync(activityId, completion, store, catalog, polls, cancellationToken);
            return Answered(activityId, recorded) ?? new ReportResult
            {
                ActivityId = activityId,
                Status = 200,
                Acknowledged = true,
                Activities = recorded.Answer!.Activities,
                Count = recorded.Answer.Count,
                Warnings = recorded.Answer.Warnings,
            };
        }
        var failed = await WorkersApi.RecordFailAsync(activityId, read.Failure!, store, catalog, cancellationToken);
        return Answered(activityId, failed) ?? new ReportResult
        {
            ActivityId = activityId,
            Status = 200,
            Acknowledged = true,
            WillRetry = failed.Answer!.WillRetry,
            Warnings = failed.Answer.Warnings,
        };
    }

    /// <summary>The 404 or 409 of a report its single route would have answered so; null when it was recorded.</summary>
    private static ReportResult? Answered<T>(string activityId, WorkersApi.Recorded<T> recorded) => recorded.Status switch
    {
        StoreStatus.NotFound => Failed(activityId, 404, "NOT_FOUND", recorded.Message!),
        StoreStatus.Conflict => Failed(activityId, 409, "CONFLICT", recorded.Message!),
        _ => null,
    };

    /// <summary>
    /// Records one report; a fault is that report's answer (what the single route's error handler would have written),
    /// so the others still get theirs.
    /// </summary>
    private static async Task<ReportResult> Guarded(ReadReport read, IWorkflowStore store, ModelCatalog catalog, PollCoordinator polls,
        ILogger logger, CancellationToken cancellationToken)
    {
        var activityId = read.ActivityId!;
        try
        {
            return await RecordAsync(read, store, catalog, polls, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if (StoreAvailability.IsUnavailable(ex))
            {
                return Failed(activityId, 503, "SERVICE_UNAVAILABLE", "The database is unavailable right now; retry shortly");
            }
            if (ex is WriteConflictException)
            {
                return Failed(activityId, 503, "SERVICE_UNAVAILABLE",
                    "The workflow's rows kept changing while this report was decided; nothing was written, retry shortly");
            }
            LogReportFailed(logger, ex, activityId);
            return Failed(activityId, 500, "INTERNAL_ERROR", "Internal server error; see the server log for details");
        }
    }

    private static ReportResult Failed(string? activityId, int status, string code, string message, JsonObject? details = null) => new()
    {
        ActivityId = activityId,
        Status = status,
        Error = new ErrorBody { Code = code, Message = message, Details = details },
    };

    private static ReportResult Invalid(string? activityId, string field, string message) =>
        Invalid(activityId, "", new Dictionary<string, IReadOnlyList<string>> { [field] = [message] });

    /// <summary>A 422 whose field errors are named from the body's root (<c>reports[2].output</c>).</summary>
    private static ReportResult Invalid(string? activityId, string path, IReadOnlyDictionary<string, IReadOnlyList<string>> errors)
    {
        var fields = new JsonObject();
        foreach (var (field, messages) in errors)
        {
            fields[path.Length == 0 ? field : $"{path}.{field}"] = new JsonArray(messages.Select(m => (JsonNode)m).ToArray());
        }
        return Failed(activityId, 422, "VALIDATION_ERROR", "Validation failed", new JsonObject { ["field_errors"] = fields });
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Recording the report of activity {ActivityId} in a batch failed")]
    private static partial void LogReportFailed(ILogger logger, Exception exception, string activityId);
}
