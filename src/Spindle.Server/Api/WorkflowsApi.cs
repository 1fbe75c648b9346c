using System.Globalization;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;
using Spindle.Protocol;
using Spindle.Server.Wakeups;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>Workflow runs (docs/api.md, Workflows: with cancel, waiting reads, events, retry and the Kruxia Flow client aliases).</summary>
public static class WorkflowsApi
{
    public static RouteGroupBuilder MapWorkflowsApi(this RouteGroupBuilder api)
    {
        api.MapPost("/workflows", SubmitWorkflow).WithTags("Workflows").WithSummary("Submit a workflow run")
            .JsonBody<SubmitWorkflowRequest>().Answers<SubmitWorkflowResponse>(201, 400, 404, 409, 422);
        api.MapPost("/workflows/start", StartWorkflowAlias).WithTags("Workflows").WithSummary("Submit a workflow run (client alias: {name, inputs})")
            .Answers<SubmitWorkflowResponse>(201, 400, 404, 409, 422);
        api.MapGet("/workflows", ListWorkflows).WithTags("Workflows").WithSummary("List workflow runs, newest first")
            .Query(("status", "created, running, completed, failed or cancelled"), ("definition_name", "Only runs of this definition"),
                ("schedule_id", "Only runs started by this schedule"),
                ("id_prefix", "Only runs whose id starts with this (a whole id finds that run)"),
                ("cursor", "next_cursor or prev_cursor of a previous page (keyset paging)"),
                ("limit", "1-1000, default 100"), ("offset", "Rows to skip"), ("created_after", "RFC 3339"), ("created_before", "RFC 3339"))
            .Answers<WorkflowList>(200, 422);
        api.MapGet("/workflows/{id}", GetWorkflow).WithTags("Workflows").WithSummary("Get a workflow run with its activities")
            .Query(("wait_seconds", "Wait up to this many seconds (0-30) for the run to finish")).Answers<WorkflowDetail>(200, 404, 422);
        api.MapGet("/workflows/{id}/output", GetWorkflowOutput).WithTags("Workflows").WithSummary("Outputs of a completed workflow").Answers<WorkflowOutputResponse>(200, 400, 404);
        api.MapGet("/workflows/{id}/activities/{key}/output", GetActivityOutput).WithTags("Workflows").WithSummary("Output and files of a completed activity").Answers<ActivityOutputResponse>(200, 400, 404);
        api.MapPost("/workflows/{id}/signal", SignalWorkflow).WithTags("Workflows").WithSummary("Deliver a signal to a waiting activity")
            .JsonBody<SignalRequest>().Answers<SignalResponse>(200, 404, 422);
        api.MapPost("/workflows/{id}/cancel", CancelWorkflow).WithTags("Workflows").WithSummary("Cancel a workflow run ({\"reason\"?})").Answers<CancelWorkflowResponse>(200, 404, 409);
        api.MapPost("/workflows/{id}/retry", RetryWorkflow).WithTags("Workflows").WithSummary("Retry the failed and cancelled activities of a failed or cancelled run").Answers<RetryWorkflowResponse>(200, 404, 409);
        api.MapGet("/workflows/{id}/events", GetWorkflowEvents).WithTags("Workflows").WithSummary("Event history of a run")
            .Query(("after", "Event id to continue after"), ("limit", "1-1000, default 1000"), ("event_type", "Comma-separated event types"))
            .Answers<WorkflowEventList>(200, 404, 422);
        api.MapMapItemsApi();
        return api;
    }

    public static async Task<IResult> SubmitWorkflow(HttpRequest request, IWorkflowStore store, PollCoordinator polls,
        CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        if (body!.ContainsKey("activities") && !body.ContainsKey("definition_name"))
        {
            return await DefinitionsApi.DeployTextAsync(body.ToJsonString(), store, cancellationToken);
        }
        return await SubmitAsync(body, "definition_name", "input", store, polls, cancellationToken);
    }

    /// <summary>Kruxia Flow Python 0.4 client alias: <c>{name, inputs?, version?}</c>.</summary>
    public static async Task<IResult> StartWorkflowAlias(HttpRequest request, IWorkflowStore store, PollCoordinator polls,
        CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        return error ?? await SubmitAsync(body!, "name", "inputs", store, polls, cancellationToken);
    }

    private static async Task<IResult> SubmitAsync(JsonObject body, string nameField, string inputField, IWorkflowStore store,
        PollCoordinator polls, CancellationToken cancellationToken)
    {
        var (submit, invalid) = ReadSubmit(body, nameField, inputField);
        if (invalid is not null)
        {
            return invalid;
        }
        if (submit!.Version is { } version && !DefinitionVersions.TryParse(version, out _))
        {
            return ApiErrors.BadRequest($"Invalid version '{version}': expected YYYYmmdd.HHMMSS.uuuuuu");
        }
        // A long-poll waiting here for a first step's routing key gets that step with the submit's commit.
        var outcome = await polls.SubmitAsync(store,
            new SubmitCommand(submit.DefinitionName, submit.Version, submit.Input!.DeepClone().AsObject(), submit.UniqueKey)
            {
                Priority = submit.Priority ?? 0,
            },
            cancellationToken);
        return outcome.Status switch
        {
            StoreStatus.NotFound => ApiErrors.NotFound(outcome.Message!),
            StoreStatus.Conflict => ApiErrors.Conflict(outcome.Message!),
            StoreStatus.Invalid => ApiErrors.Validation(outcome.Field ?? inputField, outcome.Message!),
            _ => Json.Result(new SubmitWorkflowResponse
            {
                WorkflowId = outcome.Workflow!.Id,
                DefinitionName = outcome.Workflow.Definition.Name,
                DefinitionVersion = outcome.Workflow.DefinitionVersion,
                Status = WorkflowStatus.Created,
                CreatedAt = Timestamps.Format(outcome.Workflow.CreatedAt),
            }, SpindleJsonContext.Default.SubmitWorkflowResponse, 201),
        };
    }

    /// <summary>
    /// Reads a submit by hand (the field names differ between the two routes, and every problem is reported under
    /// its field); the input defaults to <c>{}</c>.
    /// </summary>
    private static (SubmitWorkflowRequest? Request, IResult? Error) ReadSubmit(JsonObject body, string nameField, string inputField)
    {
        var fields = new Fields(body);
        var name = fields.String(nameField, required: true);
        var version = fields.String("version", required: false);
        var input = fields.Object(inputField, required: false) ?? [];
        var uniqueKey = fields.String("unique_key", required: false, maxLength: 255);
        if (uniqueKey is { Length: 0 })
        {
            fields.Error("unique_key", "unique_key must be 1 to 255 characters");
        }
        var priority = fields.Int("priority", 0, ActivityQueueing.MinPriority, ActivityQueueing.MaxPriority);
        return fields.HasErrors
            ? (null, ApiErrors.Validation(fields.Errors))
            : (new SubmitWorkflowRequest { DefinitionName = name!, Version = version, Input = input, UniqueKey = uniqueKey, Priority = priority }, null);
    }

    public static async Task<IResult> ListWorkflows(HttpRequest request, IWorkflowStore store, CancellationToken cancellationToken)
    {
        var q = request.Query;
        var errors = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        string? status = q["status"];
        if (status is not null && !WorkflowStatus.IsKnown(status))
        {
            errors["status"] = ["status must be one of created, running, completed, failed, cancelled"];
        }
        var limit = QueryInt(q["limit"], 100, 1, 1000, "limit", errors);
        var offset = QueryInt(q["offset"], 0, 0, int.MaxValue, "offset", errors);
        var after = QueryTime(q["created_after"], "created_after", errors);
        var before = QueryTime(q["created_before"], "created_before", errors);
        if (after is not null && before is not null && after >= before)
        {
            errors["created_after"] = ["created_after must be earlier than created_before"];
        }
        WorkflowCursor? cursor = null;
        if (q["cursor"].ToString() is { Length: > 0 } cursorText)
        {
            if (!WorkflowCursors.TryDecode(cursorText, out cursor))
            {
                errors["cursor"] = ["cursor is not one this server returned (use next_cursor or prev_cursor as given)"];
            }
            else if (offset > 0)
            {
                errors["offset"] = ["offset cannot be combined with cursor"];
            }
        }
        var idPrefix = q["id_prefix"].ToString();
        if (idPrefix.Length > 0)
        {
            idPrefix = idPrefix.ToLowerInvariant();
            if (idPrefix.Length > 36 || !idPrefix.All(c => char.IsAsciiHexDigitLower(c) || char.IsAsciiDigit(c) || c == '-'))
            {
                errors["id_prefix"] = ["id_prefix must be the start of a run id: up to 36 hex digits and dashes"];
            }
        }
        if (errors.Count > 0)
        {
            return ApiErrors.Validation(errors);
        }
        // One row more than asked says whether there is a page beyond this one.
        var (rows, total) = await store.ListWorkflowsAsync(
            new WorkflowQuery(status, q["definition_name"], after, before, limit + 1, offset)
            {
                ScheduleId = q["schedule_id"],
                IdPrefix = idPrefix.Length > 0 ? idPrefix : null,
                Cursor = cursor,
            }, cancellationToken);
        var backward = cursor is { Backward: true };
        var more = rows.Count > limit;
        // Rows come newest first; reading backward, the extra row is the newest, so it is the one to leave out.
        var items = !more ? rows : backward ? rows.Skip(1).ToList() : rows.Take(limit).ToList();
        var hasOlder = backward ? items.Count > 0 : more;
        var hasNewer = backward ? more : cursor is not null || offset > 0;
        return Json.Result(new WorkflowList
        {
            Workflows = items.Select(WorkflowJson.Summary).ToList(),
            Total = total,
            Count = items.Count,
            Limit = limit,
            Offset = offset,
            NextCursor = hasOlder && items.Count > 0 ? WorkflowCursors.Older(items[^1]) : null,
            PrevCursor = hasNewer && items.Count > 0 ? WorkflowCursors.Newer(items[0]) : null,
        }, SpindleJsonContext.Default.WorkflowList);
    }

    public static async Task<IResult> GetWorkflow(string id, HttpRequest request, IWorkflowStore store, WakeupHub hub,
        IHostApplicationLifetime lifetime, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var waitSeconds = QueryInt(request.Query["wait_seconds"], 0, 0, 30, "wait_seconds", errors);
        if (errors.Count > 0)
        {
            return ApiErrors.Validation(errors);
        }
        if (!Ids.IsValid(id))
        {
            return WorkflowNotFound(id);
        }
        var wf = waitSeconds > 0
            ? await WorkflowWaiter.LoadWhenTerminalAsync(id, TimeSpan.FromSeconds(waitSeconds), store, hub, lifetime.ApplicationStopping, cancellationToken)
            : await store.GetWorkflowAsync(id, cancellationToken);
        if (wf is null)
        {
            return WorkflowNotFound(id);
        }
        // Only a definition with workflow: activities can have children: others skip the query.
        IReadOnlyList<ChildLink> children = wf.Definition.Activities.Any(a => a.Workflow is not null)
            ? await store.ListChildrenAsync(id, cancellationToken)
            : [];
        return Json.Result(WorkflowJson.Workflow(wf, children), SpindleJsonContext.Default.WorkflowDetail);
    }

    public static async Task<IResult> GetWorkflowOutput(string id, IWorkflowStore store, CancellationToken cancellationToken)
    {
        var wf = Ids.IsValid(id) ? await store.GetWorkflowAsync(id, cancellationToken) : null;
        if (wf is null)
        {
            return WorkflowNotFound(id);
        }
        if (wf.Status != WorkflowStatus.Completed)
        {
            // The reference's wording, which clients may match on.
            return ApiErrors.BadRequest("Workflow is not completed. Output is only available for completed workflows.");
        }
        var terminal = WorkflowJson.TerminalKeys(wf);
        // Insertion order is the definition's order: the map's keys are written in it.
        var outputs = new OrderedDictionary<string, WorkflowOutputEntry>(StringComparer.Ordinal);
        foreach (var definition in wf.Definition.Activities)
        {
            var a = wf.Activities[definition.Key];
            outputs[a.Key] = new WorkflowOutputEntry
            {
                Status = a.Status,
                Output = WorkflowJson.OutputList(a),
                CostUsd = Json.Money(a.Cost),
                CompletedAt = Timestamps.Format(a.CompletedAt),
                IsTerminal = terminal.Contains(a.Key),
            };
        }
        return Json.Result(new WorkflowOutputResponse
        {
            WorkflowId = wf.Id,
            Status = wf.Status,
            TotalCostUsd = Json.Money(wf.TotalCost),
            CompletedAt = Timestamps.Format(wf.CompletedAt),
            Outputs = outputs,
            TerminalOutputs = wf.Definition.Activities.Where(a => terminal.Contains(a.Key)).Select(a => a.Key).ToList(),
        }, SpindleJsonContext.Default.WorkflowOutputResponse);
    }

    public static async Task<IResult> GetActivityOutput(string id, string key, IWorkflowStore store, IFileStore files, CancellationToken cancellationToken)
    {
        var wf = Ids.IsValid(id) ? await store.GetWorkflowAsync(id, cancellationToken) : null;
        if (wf is null)
        {
            return WorkflowNotFound(id);
        }
        if (!wf.Activities.TryGetValue(key, out var a))
        {
            return ApiErrors.NotFound($"Activity '{key}' not found in workflow {id}");
        }
        if (a.Status != ActivityStatus.Completed)
        {
            return ApiErrors.BadRequest($"Activity '{key}' is not completed. Output is only available for completed activities.");
        }
        return Json.Result(new ActivityOutputResponse
        {
            WorkflowId = wf.Id,
            ActivityKey = a.Key,
            Status = a.Status,
            Output = WorkflowJson.OutputList(a),
            CostUsd = Json.Money(a.Cost),
            CompletedAt = Timestamps.Format(a.CompletedAt),
            Files = FilesApi.Describe(await files.ListFilesAsync(wf.Id, a.Key, cancellationToken)),
        }, SpindleJsonContext.Default.ActivityOutputResponse);
    }

    public static async Task<IResult> SignalWorkflow(string id, HttpRequest request, IWorkflowStore store, CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        var fields = new Fields(body!);
        var eventName = fields.String("event_name", required: true, alias: "signal_name");
        var activityKey = fields.String("activity_key", required: false);
        if (activityKey is { Length: 0 })
        {
            fields.Error("activity_key", "activity_key must not be empty");
        }
        if (fields.HasErrors)
        {
            return ApiErrors.Validation(fields.Errors);
        }
        var signal = new SignalRequest { EventName = eventName!, ActivityKey = activityKey, Data = body!["data"]?.DeepClone() };
        if (!Ids.IsValid(id))
        {
            return WorkflowNotFound(id);
        }
        var outcome = await store.SignalAsync(new SignalCommand(id, signal.ActivityKey, signal.EventName, signal.Data), cancellationToken);
        if (outcome.Status == StoreStatus.NotFound)
        {
            return WorkflowNotFound(id);
        }
        return Json.Result(outcome.SignaledActivities.Count > 0
            ? new SignalResponse { Signaled = true, Message = "Activity signaled successfully" }
            : new SignalResponse
            {
                Signaled = false,
                Message = $"No waiting activity found for workflow {id} with key '{signal.ActivityKey}' and event '{signal.EventName}'",
            }, SpindleJsonContext.Default.SignalResponse);
    }

    public static async Task<IResult> CancelWorkflow(string id, HttpRequest request, IWorkflowStore store, CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: true, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        var fields = new Fields(body!);
        var reason = fields.String("reason", required: false);
        if (fields.HasErrors)
        {
            return ApiErrors.Validation(fields.Errors);
        }
        var outcome = Ids.IsValid(id) ? await store.CancelAsync(id, reason, cancellationToken) : new CancelOutcome(StoreStatus.NotFound, null);
        return outcome.Status switch
        {
            StoreStatus.NotFound => WorkflowNotFound(id),
            StoreStatus.Conflict => ApiErrors.Conflict($"Workflow {id} is already {outcome.WorkflowStatus} and cannot be cancelled"),
            _ => Json.Result(new CancelWorkflowResponse { WorkflowId = id, Status = WorkflowStatus.Cancelled, CancelRequested = true },
                SpindleJsonContext.Default.CancelWorkflowResponse),
        };
    }

    public static async Task<IResult> RetryWorkflow(string id, IWorkflowStore store, CancellationToken cancellationToken)
    {
        var outcome = Ids.IsValid(id) ? await store.RetryAsync(id, cancellationToken) : new RetryOutcome(StoreStatus.NotFound, null, []);
        return outcome.Status switch
        {
            StoreStatus.NotFound => WorkflowNotFound(id),
            StoreStatus.Conflict => ApiErrors.Conflict(outcome.Message!),
            _ => Json.Result(new RetryWorkflowResponse { WorkflowId = id, Status = outcome.WorkflowStatus, RetriedActivities = outcome.RetriedActivities },
                SpindleJsonContext.Default.RetryWorkflowResponse),
        };
    }

    public static async Task<IResult> GetWorkflowEvents(string id, HttpRequest request, IWorkflowStore store, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var limit = QueryInt(request.Query["limit"], 1000, 1, 1000, "limit", errors);
        string? after = request.Query["after"];
        if (after is not null && !Ids.IsValid(after))
        {
            errors["after"] = ["after must be an event id"];
        }
        HashSet<string>? types = null;
        if (request.Query["event_type"].ToString() is { Length: > 0 } typeList)
        {
            types = new HashSet<string>(typeList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), StringComparer.Ordinal);
            var unknown = types.Where(t => !EventTypes.All.Contains(t)).ToList();
            if (unknown.Count > 0)
            {
                errors["event_type"] = [$"Unknown event types: {string.Join(", ", unknown)}"];
            }
        }
        if (errors.Count > 0)
        {
            return ApiErrors.Validation(errors);
        }
        var page = Ids.IsValid(id) ? await store.GetEventsAsync(id, after, limit, types, cancellationToken) : null;
        if (page is null)
        {
            return WorkflowNotFound(id);
        }
        return Json.Result(new WorkflowEventList
        {
            WorkflowId = id,
            Events = page.Events.Select(WorkflowJson.Event).ToList(),
            Count = page.Events.Count,
            HasMore = page.HasMore,
        }, SpindleJsonContext.Default.WorkflowEventList);
    }

    private static IResult WorkflowNotFound(string id) => ApiErrors.NotFound($"Workflow {id} not found");

    internal static int QueryInt(string? text, int defaultValue, int min, int max, string field, Dictionary<string, IReadOnlyList<string>> errors)
    {
        if (text is null)
        {
            return defaultValue;
        }
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }
        errors[field] = [max == int.MaxValue ? $"{field} must be an integer ≥ {min}" : $"{field} must be an integer from {min} to {max}"];
        return defaultValue;
    }

    private static long? QueryTime(string? text, string field, Dictionary<string, IReadOnlyList<string>> errors)
    {
        if (text is null)
        {
            return null;
        }
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
        {
            return Timestamps.ToMicros(at);
        }
        errors[field] = [$"{field} must be an RFC 3339 timestamp such as 2026-03-01T10:00:00Z"];
        return null;
    }
}
