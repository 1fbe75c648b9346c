using System.Data.Common;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Costs;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;

namespace Spindle.Storage.Rows;

/// <summary>
/// Maps rows to the store's models for both backends. The two schemas have the same columns in the same order and
/// keep JSON as text and instants as engine microseconds (bigint); they differ only in how money and flags are
/// stored, which each backend says in the two hooks (<see cref="GetMoney"/>, <see cref="GetFlag"/>). Each method
/// expects the columns of its constant, in that order.
/// </summary>
internal abstract class RowReader
{
    /// <summary>The columns of <c>activity_runs</c>, in the order <see cref="Activity"/> reads them.</summary>
    public const string ActivityColumns =
        "workflow_id, activity_key, id, ordinal, worker, activity_name, status, attempt, attempt_base, max_attempts, " +
        "iteration, runs, parameters, delivery, lease_seconds, ready_at, lease_owner, lease_until, outputs, error_code, " +
        "error_message, started_at, claimed_at, completed_at, cost, cancel_requested, signal_data, signal_wait_until, " +
        "signal_satisfied, secret_parameters, map_of, map_index, map_item, map_state, " +
        "priority, concurrency_key, concurrency_limit, rate_key, rate_per_second, rate_burst";

    /// <summary>The columns of <c>workflows</c> that <see cref="Workflow"/> reads.</summary>
    public const string WorkflowColumns =
        "id, definition_name, definition_version, status, input, unique_key, error_message, created_at, updated_at, " +
        "completed_at, deadline_at, total_cost, budget_limit, schedule_id, scheduled_at, priority, parent_id, parent_activity_key, " +
        "parent_activity_id, parent_attempt, concurrency_key";

    /// <summary>The columns of <c>workflows</c> that <see cref="ChildLink"/> reads.</summary>
    public const string ChildLinkColumns =
        "id, definition_name, status, parent_activity_key, parent_activity_id, parent_attempt, created_at, completed_at";

    /// <summary>What a claim returns of each leased row (<see cref="Claimed"/>).</summary>
    public const string ClaimedColumns =
        "id, workflow_id, activity_key, activity_name, parameters, delivery, signal_data, attempt, iteration, lease_seconds, secret_parameters";

    /// <summary>The columns of <c>events</c> that <see cref="Event"/> reads.</summary>
    public const string EventColumns = "id, event_type, activity_key, iteration, payload, created_at";

    /// <summary>A cost line (alias <c>c</c>) with its workflow (alias <c>w</c>), as <see cref="CostLine"/> reads them.</summary>
    public const string CostLineColumns =
        "c.seq, c.workflow_id, c.activity_key, c.iteration, c.attempt, c.provider, c.model, c.input_tokens, c.output_tokens, " +
        "c.cache_read_tokens, c.cache_creation_tokens, c.cache_storage_token_hours, c.cost_usd, c.budget_limit_usd, c.budget_event, " +
        "c.estimated_cost_usd, c.created_at, w.definition_name, w.status, w.created_at, w.budget_limit";

    /// <summary>The columns of <c>workflows</c> that <see cref="WorkflowSummary"/> reads.</summary>
    public const string WorkflowSummaryColumns =
        "id, status, definition_name, definition_version, created_at, updated_at, error_message, schedule_id, scheduled_at, total_cost, completed_at";

    /// <summary>The columns of <c>definitions</c> that <see cref="DefinitionSummary"/> reads.</summary>
    public const string DefinitionSummaryColumns = "name, version, activity_count, created_at";

    /// <summary>A money amount (costs, budgets): exact either way, but as text in SQLite and numeric in PostgreSQL.</summary>
    protected abstract decimal GetMoney(DbDataReader r, int i);

    /// <summary>A yes/no column: an integer 0/1 in SQLite, a boolean in PostgreSQL.</summary>
    protected abstract bool GetFlag(DbDataReader r, int i);

    public ActivityState Activity(DbDataReader r) => new()
    {
        WorkflowId = r.GetString(0),
        Key = r.GetString(1),
        Id = r.GetString(2),
        RoutingKey = r.GetString(4),
        ActivityName = r.GetString(5),
        Status = r.GetString(6),
        Attempt = r.GetInt32(7),
        AttemptBase = r.GetInt32(8),
        MaxAttempts = r.GetInt32(9),
        Iteration = r.GetInt32(10),
        Runs = r.GetInt32(11),
        Parameters = ObjectOrNull(r, 12),
        Delivery = ObjectOrNull(r, 13),
        LeaseSeconds = r.GetInt32(14),
        ReadyAt = LongOrNull(r, 15),
        LeaseOwner = StringOrNull(r, 16),
        LeaseUntil = LongOrNull(r, 17),
        Outputs = ObjectOrNull(r, 18),
        ErrorCode = StringOrNull(r, 19),
        ErrorMessage = StringOrNull(r, 20),
        StartedAt = LongOrNull(r, 21),
        ClaimedAt = LongOrNull(r, 22),
        CompletedAt = LongOrNull(r, 23),
        Cost = GetMoney(r, 24),
        CancelRequested = GetFlag(r, 25),
        SignalData = r.IsDBNull(26) ? null : JsonLimits.ParseStored(r.GetString(26)),
        SignalWaitUntil = LongOrNull(r, 27),
        SignalSatisfied = GetFlag(r, 28),
        SecretParameters = r.IsDBNull(29) ? null : JsonNode.Parse(r.GetString(29))?.AsArray(),
        MapOf = StringOrNull(r, 30),
        MapIndex = r.IsDBNull(31) ? null : r.GetInt32(31),
        MapItem = r.IsDBNull(32) ? null : JsonLimits.ParseStored(r.GetString(32)),
        Map = Core.Maps.MapProgress.Parse(StringOrNull(r, 33)),
        Priority = r.GetInt32(34),
        ConcurrencyKey = StringOrNull(r, 35),
        ConcurrencyLimit = r.IsDBNull(36) ? null : r.GetInt32(36),
        RateKey = StringOrNull(r, 37),
        RatePerSecond = r.IsDBNull(38) ? null : r.GetDouble(38),
        RateBurst = r.IsDBNull(39) ? null : r.GetDouble(39),
    };

    /// <summary>
    /// The workflow row alone: its definition is looked up afterwards (<see cref="WorkflowRow.ToState"/>), once the
    /// caller may run another statement on the connection.
    /// </summary>
    public WorkflowRow Workflow(DbDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), StringOrNull(r, 5), StringOrNull(r, 6),
        r.GetInt64(7), r.GetInt64(8), LongOrNull(r, 9), LongOrNull(r, 10), GetMoney(r, 11), r.IsDBNull(12) ? null : GetMoney(r, 12),
        StringOrNull(r, 13), LongOrNull(r, 14), r.GetInt32(15))
    {
        ParentId = StringOrNull(r, 16),
        ParentActivityKey = StringOrNull(r, 17),
        ParentActivityId = StringOrNull(r, 18),
        ParentAttempt = r.IsDBNull(19) ? null : r.GetInt32(19),
        ConcurrencyKey = StringOrNull(r, 20),
    };

    /// <summary>A child of a workflow (<see cref="ChildLinkColumns"/>).</summary>
    public static ChildLink ChildLink(DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetInt32(5), r.GetInt64(6), LongOrNull(r, 7));

    /// <summary>A row a claim leased to a worker of routing key <paramref name="routingKey"/>; its secrets not yet rebuilt.</summary>
    public static ClaimedActivity Claimed(DbDataReader r, string routingKey) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), routingKey, r.GetString(3),
            r.IsDBNull(4) ? new JsonObject() : JsonLimits.ParseStored(r.GetString(4))!.AsObject(),
            r.IsDBNull(5) ? new JsonObject() : JsonLimits.ParseStored(r.GetString(5))!.AsObject(),
            r.IsDBNull(6) ? null : JsonLimits.ParseStored(r.GetString(6)),
            r.GetInt32(7), r.GetInt32(8), r.GetInt32(9))
        {
            SecretParameters = r.IsDBNull(10) ? null : JsonLimits.ParseStored(r.GetString(10))?.AsArray(),
        };

    public static StoredEvent Event(DbDataReader r, string workflowId) =>
        new(r.GetString(0), workflowId, r.GetString(1), StringOrNull(r, 2), r.IsDBNull(3) ? null : r.GetInt32(3),
            JsonLimits.ParseStored(r.GetString(4))!.AsObject(), r.GetInt64(5));

    public StoredCostLine CostLine(DbDataReader r)
    {
        var line = new CostLine(
            r.GetString(2), r.GetInt32(3), r.GetInt32(4), StringOrNull(r, 5), StringOrNull(r, 6),
            new TokenUsage(r.GetInt64(7), r.GetInt64(8), r.GetInt64(9), r.GetInt64(10), GetMoney(r, 11)),
            GetMoney(r, 12), MoneyOrNull(r, 13), StringOrNull(r, 14), MoneyOrNull(r, 15));
        return new StoredCostLine(r.GetInt64(0), r.GetString(1), line, r.GetInt64(16), r.GetString(17), r.GetString(18), r.GetInt64(19),
            MoneyOrNull(r, 20));
    }

    public WorkflowSummary WorkflowSummary(DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4), r.GetInt64(5), StringOrNull(r, 6))
        {
            ScheduleId = StringOrNull(r, 7),
            ScheduledAt = LongOrNull(r, 8),
            TotalCost = GetMoney(r, 9),
            CompletedAt = LongOrNull(r, 10),
        };

    public static DefinitionSummary DefinitionSummary(DbDataReader r) => new(r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetInt64(3));

    private decimal? MoneyOrNull(DbDataReader r, int i) => r.IsDBNull(i) ? null : GetMoney(r, i);

    private static string? StringOrNull(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static long? LongOrNull(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt64(i);

    private static JsonObject? ObjectOrNull(DbDataReader r, int i) => r.IsDBNull(i) ? null : JsonLimits.ParseStored(r.GetString(i))?.AsObject();
}

/// <summary>A <c>workflows</c> row as read (<see cref="RowReader.Workflow"/>), before its activities and definition join it.</summary>
internal sealed record WorkflowRow(
    string Id, string DefinitionName, string DefinitionVersion, string Status, string Input, string? UniqueKey,
    string? ErrorMessage, long CreatedAt, long UpdatedAt, long? CompletedAt, long? DeadlineAt, decimal TotalCost,
    decimal? BudgetLimit, string? ScheduleId, long? ScheduledAt, int Priority)
{
    public string? ParentId { get; init; }

    public string? ParentActivityKey { get; init; }

    public string? ParentActivityId { get; init; }

    public int? ParentAttempt { get; init; }

    public string? ConcurrencyKey { get; init; }

    public WorkflowState ToState(WorkflowDefinition definition, IEnumerable<ActivityState> activities)
    {
        var wf = new WorkflowState
        {
            Id = Id,
            Definition = definition,
            DefinitionVersion = DefinitionVersion,
            Status = Status,
            Input = JsonLimits.ParseStored(Input)!.AsObject(),
            UniqueKey = UniqueKey,
            ErrorMessage = ErrorMessage,
            CreatedAt = CreatedAt,
            UpdatedAt = UpdatedAt,
            CompletedAt = CompletedAt,
            DeadlineAt = DeadlineAt,
            TotalCost = TotalCost,
            BudgetLimit = BudgetLimit,
            ScheduleId = ScheduleId,
            ScheduledAt = ScheduledAt,
            Priority = Priority,
            ParentId = ParentId,
            ParentActivityKey = ParentActivityKey,
            ParentActivityId = ParentActivityId,
            ParentAttempt = ParentAttempt,
            ConcurrencyKey = ConcurrencyKey,
        };
        foreach (var a in activities)
        {
            wf.Activities[a.Key] = a;
        }
        return wf;
    }
}
