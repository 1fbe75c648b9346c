using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Schedules;
using Spindle.Protocol;
using Spindle.Server.Auth;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>
/// Schedules (recurring submissions, docs/api.md, with Spindle's additions): create, list, read, change, delete,
/// pause and resume, trigger now, backfill a past range. Invalid fields get 422 with field errors.
/// </summary>
public static class SchedulesApi
{
    /// <summary>How many upcoming occurrences and recent runs a schedule's answer lists.</summary>
    private const int Upcoming = 5;

    private const int RecentRuns = 20;

    /// <summary>Occurrences one backfill may submit.</summary>
    public const int MaxBackfill = 1000;

    /// <summary>Fields a PATCH may change; the name is the schedule's identity in its occurrence keys.</summary>
    private static readonly HashSet<string> Patchable =
    [
        "definition_name", "definition_version", "input", "cron", "interval_seconds", "timezone", "overlap_policy", "enabled",
        "jitter_seconds", "start_at", "end_at", "remaining_runs", "catchup_window_seconds",
    ];

    public static RouteGroupBuilder MapSchedulesApi(this RouteGroupBuilder api)
    {
        api.MapPost("/schedules", CreateSchedule).WithTags("Schedules").WithSummary("Create a schedule (cron or interval_seconds)")
            .JsonBody<CreateScheduleRequest>().Answers<Schedule>(201, 409, 422);
        api.MapGet("/schedules", ListSchedules).WithTags("Schedules").WithSummary("List schedules, ordered by name").Answers<ScheduleList>();
        api.MapGet("/schedules/{id}", GetSchedule).WithTags("Schedules").WithSummary("A schedule with its recent runs and next occurrences")
            .Answers<Schedule>(200, 404);
        api.MapMethods("/schedules/{id}", ["PATCH"], UpdateSchedule).WithTags("Schedules").WithSummary("Change a schedule's fields")
            .JsonBody<UpdateScheduleRequest>().Answers<Schedule>(200, 404, 422);
        api.MapDelete("/schedules/{id}", DeleteSchedule).WithTags("Schedules").WithSummary("Delete a schedule").Errors(404);
        api.MapPost("/schedules/{id}/pause", PauseSchedule).WithTags("Schedules").WithSummary("Pause a schedule ({\"note\"?})")
            .JsonBody<PauseScheduleRequest>().Answers<Schedule>(200, 404, 422);
        api.MapPost("/schedules/{id}/resume", ResumeSchedule).WithTags("Schedules").WithSummary("Resume a paused schedule").Answers<Schedule>(200, 404);
        api.MapPost("/schedules/{id}/trigger", TriggerSchedule).WithTags("Schedules")
            .WithSummary("Run an occurrence now ({\"ignore_overlap\"?: true} starts it even while the last run is going)")
            .JsonBody<TriggerScheduleRequest>().Answers<TriggerScheduleResponse>(201, 404, 409, 422).Produces<TriggerScheduleResponse>(200, "application/json");
        api.MapPost("/schedules/{id}/backfill", BackfillSchedule).WithTags("Schedules")
            .WithSummary("Submit the occurrences of a past range ({\"start\", \"end\"}, RFC 3339, end exclusive)")
            .JsonBody<BackfillScheduleRequest>().Answers<BackfillScheduleResponse>(200, 404, 422);
        return api;
    }

    public static async Task<IResult> CreateSchedule(HttpContext context, IScheduleStore store, CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(context.Request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        var (spec, invalid) = Read(body!);
        if (invalid is not null)
        {
            return invalid;
        }
        var principal = context.Items[BearerAuthMiddleware.PrincipalKey] as TokenPrincipal;
        var outcome = await store.CreateScheduleAsync(spec!, principal?.ClientId, cancellationToken);
        return Written(outcome, 201);
    }

    public static async Task<IResult> ListSchedules(IScheduleStore store, CancellationToken cancellationToken)
    {
        var all = await store.ListSchedulesAsync(cancellationToken);
        return Json.Result(new ScheduleList { Schedules = all.Select(s => Describe(s)).ToList(), Count = all.Count },
            SpindleJsonContext.Default.ScheduleList);
    }

    public static async Task<IResult> GetSchedule(string id, IScheduleStore store, CancellationToken cancellationToken)
    {
        var schedule = Ids.IsValid(id) ? await store.GetScheduleAsync(id, cancellationToken) : null;
        if (schedule is null)
        {
            return NotFound(id);
        }
        var runs = await store.GetScheduleRunsAsync(id, RecentRuns, cancellationToken);
        return Json.Result(Describe(schedule, runs.Select(Run).ToList()), SpindleJsonContext.Default.Schedule);
    }

    public static async Task<IResult> UpdateSchedule(string id, HttpRequest request, IScheduleStore store,
        CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        var current = Ids.IsValid(id) ? await store.GetScheduleAsync(id, cancellationToken) : null;
        if (current is null)
        {
            return NotFound(id);
        }
        if (body!["name"] is { } name && (name.GetValueKind() != JsonValueKind.String || name.GetValue<string>() != current.Spec.Name))
        {
            return ApiErrors.Validation("name", "name cannot be changed; create a new schedule and delete this one");
        }
        var merged = current.Spec.ToJson();
        foreach (var (field, value) in body)
        {
            if (Patchable.Contains(field))
            {
                merged[field] = value?.DeepClone();
            }
        }
        // Giving one cadence replaces the other (as the reference).
        if (body.ContainsKey("cron") && !body.ContainsKey("interval_seconds"))
        {
            merged["interval_seconds"] = null;
        }
        if (body.ContainsKey("interval_seconds") && !body.ContainsKey("cron"))
        {
            merged["cron"] = null;
        }
        var (spec, invalid) = Read(merged);
        if (invalid is not null)
        {
            return invalid;
        }
        var outcome = await store.UpdateScheduleAsync(id, spec!, null, cancellationToken);
        return Written(outcome, 200);
    }

    public static async Task<IResult> DeleteSchedule(string id, IScheduleStore store, CancellationToken cancellationToken)
    {
        if (!Ids.IsValid(id) || !await store.DeleteScheduleAsync(id, cancellationToken))
        {
            return NotFound(id);
        }
        return Results.NoContent();
    }

    public static Task<IResult> PauseSchedule(string id, HttpRequest request, IScheduleStore store,
        CancellationToken cancellationToken) => SetEnabledAsync(id, false, request, store, cancellationToken);

    public static Task<IResult> ResumeSchedule(string id, HttpRequest request, IScheduleStore store,
        CancellationToken cancellationToken) => SetEnabledAsync(id, true, request, store, cancellationToken);

    private static async Task<IResult> SetEnabledAsync(string id, bool enabled, HttpRequest request, IScheduleStore store,
        CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: true, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        var fields = new Fields(body ?? new JsonObject());
        var note = fields.String("note", required: false, maxLength: 1000);
        if (fields.HasErrors)
        {
            return ApiErrors.Validation(fields.Errors);
        }
        var current = Ids.IsValid(id) ? await store.GetScheduleAsync(id, cancellationToken) : null;
        if (current is null)
        {
            return NotFound(id);
        }
        var outcome = await store.UpdateScheduleAsync(id, current.Spec with { Enabled = enabled }, note, cancellationToken);
        return Written(outcome, 200);
    }

    public static async Task<IResult> TriggerSchedule(string id, HttpRequest request, IScheduleStore store, CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: true, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        var fields = new Fields(body ?? new JsonObject());
        var ignoreOverlap = fields.Bool("ignore_overlap", false);
        if (fields.HasErrors)
        {
            return ApiErrors.Validation(fields.Errors);
        }
        if (!Ids.IsValid(id))
        {
            return NotFound(id);
        }
        var outcome = await store.TriggerScheduleAsync(id, ignoreOverlap, cancellationToken);
        if (outcome.Status == StoreStatus.NotFound)
        {
            return NotFound(id);
        }
        var answer = new TriggerScheduleResponse
        {
            ScheduleId = id,
            Outcome = outcome.Outcome,
            WorkflowId = outcome.WorkflowId,
            Message = outcome.Message,
        };
        return outcome.Status == StoreStatus.Conflict
            ? ApiErrors.Conflict(outcome.Message ?? $"The occurrence was not submitted ({outcome.Outcome})")
            : Json.Result(answer, SpindleJsonContext.Default.TriggerScheduleResponse, outcome.Outcome == ScheduleRunOutcomes.Submitted ? 201 : 200);
    }

    public static async Task<IResult> BackfillSchedule(string id, HttpRequest request, IScheduleStore store, CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        var (range, errors) = ScheduleSpecReader.Read(new JsonObject
        {
            // Reuses the reader's RFC 3339 checks: start/end are read as start_at/end_at of a throwaway spec.
            ["name"] = "backfill",
            ["definition_name"] = "backfill",
            ["interval_seconds"] = 1,
            ["start_at"] = body!["start"]?.DeepClone(),
            ["end_at"] = body["end"]?.DeepClone(),
        });
        var fieldErrors = errors.ToDictionary(e => e.Key switch { "start_at" => "start", "end_at" => "end", var k => k },
            e => (IReadOnlyList<string>)e.Value.Select(m => m.Replace("start_at", "start").Replace("end_at", "end")).ToList());
        if (range is not null && (range.StartAt is null || range.EndAt is null))
        {
            fieldErrors[range.StartAt is null ? "start" : "end"] = ["start and end are required (RFC 3339, end exclusive)"];
        }
        if (fieldErrors.Count > 0)
        {
            return ApiErrors.Validation(fieldErrors);
        }
        if (!Ids.IsValid(id))
        {
            return NotFound(id);
        }
        var outcome = await store.BackfillScheduleAsync(id, range!.StartAt!.Value, range.EndAt!.Value, MaxBackfill, cancellationToken);
        if (outcome.Status == StoreStatus.NotFound)
        {
            return NotFound(id);
        }
        return Json.Result(new BackfillScheduleResponse
        {
            ScheduleId = id,
            Runs = outcome.Runs.Select(Run).ToList(),
            Count = outcome.Runs.Count,
            Submitted = outcome.Runs.Count(r => r.Outcome == ScheduleRunOutcomes.Submitted),
        }, SpindleJsonContext.Default.BackfillScheduleResponse);
    }

    // ---- shapes -----------------------------------------------------------------------------------------------

    private static (ScheduleSpec? Spec, IResult? Error) Read(JsonObject body)
    {
        var (spec, errors) = ScheduleSpecReader.Read(body);
        if (spec?.DefinitionVersion is { } version && !DefinitionVersions.TryParse(version, out _))
        {
            errors["definition_version"] = [$"Invalid version '{version}': expected YYYYmmdd.HHMMSS.uuuuuu"];
        }
        return errors.Count > 0
            ? (null, ApiErrors.Validation(errors.ToDictionary(e => e.Key, e => (IReadOnlyList<string>)e.Value)))
            : (spec, null);
    }

    private static IResult Written(ScheduleWriteOutcome outcome, int status) => outcome.Status switch
    {
        StoreStatus.Conflict => ApiErrors.Conflict(outcome.Message!),
        // An unknown definition is a field error of the body (the 422; the reference answers 400).
        StoreStatus.NotFound when outcome.Message!.StartsWith("Workflow definition", StringComparison.Ordinal) =>
            ApiErrors.Validation("definition_name", outcome.Message),
        StoreStatus.NotFound => ApiErrors.NotFound(outcome.Message!),
        _ => Json.Result(Describe(outcome.Schedule!), SpindleJsonContext.Default.Schedule, status),
    };

    private static IResult NotFound(string id) => ApiErrors.NotFound($"Schedule {id} not found");

    /// <summary>A schedule as the API answers it; <paramref name="recentRuns"/> only in <c>GET /schedules/{id}</c>.</summary>
    public static Schedule Describe(StoredSchedule s, IReadOnlyList<ScheduleRunRecord>? recentRuns = null)
    {
        var spec = s.Spec;
        var upcoming = s.NextRunAt is { } next
            ? [next, .. ScheduleCadence.Upcoming(spec, s.AnchorAt, next, Upcoming - 1)]
            : Array.Empty<long>();
        return new Schedule
        {
            Id = s.Id,
            Name = spec.Name,
            DefinitionName = spec.DefinitionName,
            DefinitionVersion = spec.DefinitionVersion,
            Input = spec.Input.DeepClone().AsObject(),
            Cron = spec.Cron,
            IntervalSeconds = spec.IntervalSeconds,
            Timezone = spec.Timezone,
            OverlapPolicy = spec.OverlapPolicy,
            Enabled = spec.Enabled,
            JitterSeconds = spec.JitterSeconds,
            StartAt = Timestamps.Format(spec.StartAt),
            EndAt = Timestamps.Format(spec.EndAt),
            RemainingRuns = spec.RemainingRuns,
            CatchupWindowSeconds = spec.CatchupWindowSeconds,
            NextRunAt = Timestamps.Format(s.NextRunAt),
            LastRunAt = Timestamps.Format(s.LastRunAt),
            LastWorkflowId = s.LastWorkflowId,
            CreatedBy = s.CreatedBy,
            CreatedAt = Timestamps.Format(s.CreatedAt),
            UpdatedAt = Timestamps.Format(s.UpdatedAt),
            Note = s.PauseNote,
            RunCount = s.RunCount,
            SkippedCount = s.SkippedCount,
            BufferedAt = Timestamps.Format(s.BufferedAt),
            DeclaredBy = s.DeclaredBy,
            Upcoming = upcoming.Select(t => Timestamps.Format(t)).ToList(),
            RecentRuns = recentRuns,
        };
    }

    private static ScheduleRunRecord Run(ScheduleRun r) => new()
    {
        OccurrenceAt = Timestamps.Format(r.OccurrenceAt),
        Outcome = r.Outcome,
        WorkflowId = r.WorkflowId,
        Message = r.Message,
        RecordedAt = Timestamps.Format(r.CreatedAt),
    };
}
