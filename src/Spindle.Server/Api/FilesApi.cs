using Spindle.Core.Common;
using Spindle.Core.Orchestration;
using Spindle.Protocol;
using Spindle.Server.Auth;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>
/// Activity files (docs/api.md, docs/worker-protocol.md): workers upload what their file outputs produced, and
/// workers and clients download it. References read <c>postgres://{workflow_id}/{activity_key}/{filename}</c>
/// whatever the storage, for compatibility. An upload needs the activity's current, unexpired lease: a worker that
/// names itself (<c>?worker_id=</c>, as Spindle's SDKs do) must be its holder; one that does not (the reference
/// protocol has no such field, and Kruxia workers upload without it) is accepted only while some worker holds it.
/// </summary>
public static class FilesApi
{
    private const string Route = "/workflows/{id}/activities/{key}/files/{filename}";

    public static RouteGroupBuilder MapFilesApi(this RouteGroupBuilder api)
    {
        api.MapPost(Route, UploadFile).RequireScope(Scopes.Worker).WithTags("Files").WithSummary("Upload an activity file (raw bytes; Content-Type is stored)")
            .Body(typeof(byte[]), "application/octet-stream").Answers<UploadedFile>(201, 404, 409, 413, 422);
        api.MapGet(Route, DownloadFile).RequireScope(Scopes.Worker, Scopes.Workflows).WithTags("Files").WithSummary("Download an activity file").Errors(404);
        return api;
    }

    public static async Task<IResult> UploadFile(string id, string key, string filename, HttpRequest request, IWorkflowStore store,
        IFileStore files, CancellationToken cancellationToken)
    {
        if (filename.Length is 0 or > 255 || filename.Contains('/', StringComparison.Ordinal) || filename is "." or "..")
        {
            return ApiErrors.Validation("filename", "filename must be 1-255 characters without '/'");
        }
        var workerId = request.Query["worker_id"].ToString();
        if (workerId.Length > 255)
        {
            return ApiErrors.Validation("worker_id", "worker_id (query parameter) must be at most 255 characters");
        }
        var wf = Ids.IsValid(id) ? await store.GetWorkflowAsync(id, cancellationToken) : null;
        var activity = wf is null ? null : await MapItemsApi.FindActivityOrItemAsync(store, wf, key, cancellationToken); // a map item too
        if (activity is null)
        {
            return ApiErrors.NotFound($"Activity '{key}' of workflow {id} not found");
        }
        // Files belong to the attempt that produces them: only the worker holding its current lease may write them,
        // and once the activity is finished they are part of its recorded result and never change.
        if (activity.IsTerminal)
        {
            return ApiErrors.Conflict($"Activity '{key}' of workflow {id} is {activity.Status}; its files can no longer change");
        }
        if (activity.Status != ActivityStatus.Running || activity.LeaseUntil is not { } until || until <= Timestamps.Now()
            || (workerId.Length > 0 && activity.LeaseOwner != workerId))
        {
            var who = workerId.Length > 0 ? $" under worker '{workerId}'" : "";
            return ApiErrors.Conflict(
                $"Activity '{key}' of workflow {id} is not running{who} (no current lease); only the lease holder uploads its files");
        }
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, cancellationToken);
        var contentType = string.IsNullOrWhiteSpace(request.ContentType) ? "application/octet-stream" : request.ContentType;
        var stored = await files.PutFileAsync(id, key, filename, contentType, buffer.ToArray(), Timestamps.Now(), cancellationToken);
        return Json.Result(new UploadedFile
        {
            WorkflowId = stored.WorkflowId,
            ActivityKey = stored.ActivityKey,
            Filename = stored.Filename,
            Size = stored.Size,
            ContentType = stored.ContentType,
            CreatedAt = Timestamps.Format(stored.CreatedAt),
            Reference = Reference(stored),
        }, SpindleJsonContext.Default.UploadedFile, 201);
    }

    public static async Task<IResult> DownloadFile(string id, string key, string filename, IFileStore files, CancellationToken cancellationToken)
    {
        var found = await files.GetFileAsync(id, key, filename, cancellationToken);
        if (found is not { } file)
        {
            return ApiErrors.NotFound($"File '{filename}' of activity '{key}' in workflow {id} not found");
        }
        return Results.File(file.Content, file.File.ContentType, file.File.Filename);
    }

    public static List<ActivityFile> Describe(IReadOnlyList<StoredFile> stored) =>
        stored.Select(f => new ActivityFile
        {
            Filename = f.Filename,
            Size = f.Size,
            ContentType = f.ContentType,
            DownloadUrl = $"/api/v1/workflows/{f.WorkflowId}/activities/{Uri.EscapeDataString(f.ActivityKey)}/files/{Uri.EscapeDataString(f.Filename)}",
        }).ToList();

    private static string Reference(StoredFile f) => $"postgres://{f.WorkflowId}/{f.ActivityKey}/{f.Filename}";
}
