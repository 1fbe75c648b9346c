using Npgsql;
using Spindle.Core.Definitions;
using Spindle.Core.Orchestration;
using Spindle.Storage.Rows;

namespace Spindle.Storage.Postgres;

/// <summary>Writes <see cref="ActivityState"/> to <c>activity_runs</c> in PostgreSQL's types (rows are read by <see cref="PostgresRowReader"/>).</summary>
internal static class PostgresActivityRows
{
    /// <summary>
    /// All new rows of a workflow in one statement, however many activities it has: one array per column.
    /// </summary>
    public const string InsertManySql =
        $"INSERT INTO activity_runs ({RowReader.ActivityColumns}) " +
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::text[], $6::text[], $7::text[], " +
        "$8::integer[], $9::integer[], $10::integer[], $11::integer[], $12::integer[], $13::json[], $14::json[], $15::integer[], " +
        "$16::bigint[], $17::text[], $18::bigint[], $19::json[], $20::text[], $21::text[], $22::bigint[], $23::bigint[], " +
        "$24::bigint[], $25::numeric[], $26::boolean[], $27::json[], $28::bigint[], $29::boolean[], $30::json[], " +
        "$31::text[], $32::integer[], $33::json[], $34::json[], " +
        "$35::integer[], $36::text[], $37::integer[], $38::text[], $39::float8[], $40::float8[])";

    /// <summary>
    /// Writes back every changed row of a decision in one statement, each only if its status is still the one this
    /// transaction read (<c>$30</c>; <c>$31</c> is <c>secret_parameters</c>, added later): one array per column, joined
    /// to the workflow's rows (<c>$1</c>, a scalar) by key. The scalar matters: prepared statements run a generic plan
    /// that cannot know how long the arrays are, and with the workflow id only in an array the plan chosen while the
    /// table was small (hash join over a scan of activity_runs) stayed cached as the table grew (1 ms per call after
    /// 15 s); with it, every plan starts from the primary key. Claims change pending rows without the workflow's lock; if one did, fewer rows
    /// match than were sent, the statement raises a serialization failure (migration 5) and the transaction starts
    /// over instead of overwriting the claim. Raising, rather than counting rows afterwards, is what lets the COMMIT
    /// travel in the same batch; one statement rather than one per row is what a step costs the database (a
    /// completion that leases its successor changes two rows, a fan-out many).
    /// </summary>
    public const string UpdateManySql = "WITH changed AS (" + UpdateManyDml + ") " + UpdateManyGuard;

    /// <summary>The update of <see cref="UpdateManySql"/>, without its guard.</summary>
    public const string UpdateManyDml =
        "UPDATE activity_runs a SET id = v.id, ordinal = v.ordinal, worker = v.worker, activity_name = v.activity_name, " +
        "status = v.status, attempt = v.attempt, attempt_base = v.attempt_base, max_attempts = v.max_attempts, iteration = v.iteration, " +
        "runs = v.runs, parameters = v.parameters, delivery = v.delivery, lease_seconds = v.lease_seconds, ready_at = v.ready_at, " +
        "lease_owner = v.lease_owner, lease_until = v.lease_until, outputs = v.outputs, error_code = v.error_code, " +
        "error_message = v.error_message, started_at = v.started_at, claimed_at = v.claimed_at, completed_at = v.completed_at, " +
        "cost = v.cost, cancel_requested = v.cancel_requested, signal_data = v.signal_data, signal_wait_until = v.signal_wait_until, " +
        "signal_satisfied = v.signal_satisfied, secret_parameters = v.secret_parameters, map_state = v.map_state, " +
        "priority = v.priority, concurrency_key = v.concurrency_key, concurrency_limit = v.concurrency_limit, rate_key = v.rate_key, " +
        "rate_per_second = v.rate_per_second, rate_burst = v.rate_burst " +
        "FROM unnest($2::text[], $3::text[], $4::integer[], $5::text[], $6::text[], $7::text[], $8::integer[], " +
        "$9::integer[], $10::integer[], $11::integer[], $12::integer[], $13::json[], $14::json[], $15::integer[], $16::bigint[], " +
        "$17::text[], $18::bigint[], $19::json[], $20::text[], $21::text[], $22::bigint[], $23::bigint[], $24::bigint[], " +
        "$25::numeric[], $26::boolean[], $27::json[], $28::bigint[], $29::boolean[], $30::text[], $31::json[], $32::json[], " +
        "$33::integer[], $34::text[], $35::integer[], $36::text[], $37::float8[], $38::float8[]) " +
        "AS v(activity_key, id, ordinal, worker, activity_name, status, attempt, attempt_base, max_attempts, iteration, " +
        "runs, parameters, delivery, lease_seconds, ready_at, lease_owner, lease_until, outputs, error_code, error_message, " +
        "started_at, claimed_at, completed_at, cost, cancel_requested, signal_data, signal_wait_until, signal_satisfied, expected, " +
        "secret_parameters, map_state, priority, concurrency_key, concurrency_limit, rate_key, rate_per_second, rate_burst) " +
        "WHERE a.workflow_id = $1 AND a.activity_key = v.activity_key AND a.status = v.expected RETURNING 1";

    /// <summary>The guard of <see cref="UpdateManySql"/>: the update's rows are the CTE <c>changed</c>.</summary>
    public const string UpdateManyGuard =
        "SELECT spindle_require_rows(CASE WHEN count(*) = cardinality($2::text[]) THEN count(*) ELSE 0 END, " +
        "'activity rows of ' || $1::text) FROM changed";

    /// <summary>The rows a decision changed, with the status each had when read (the guard).</summary>
    public static NpgsqlBatchCommand UpdateMany(string workflowId, IReadOnlyList<(ActivityState State, int Ordinal, string ExpectedStatus)> rows)
    {
        var command = new NpgsqlBatchCommand(UpdateManySql);
        var p = command.Parameters;
        p.Add(PgParameters.Text(workflowId));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.Key)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.Id)));
        p.Add(PgParameters.IntegerArray(Column(rows, r => (int?)r.Ordinal)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.RoutingKey)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.ActivityName)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.Status)));
        p.Add(PgParameters.IntegerArray(Column(rows, r => (int?)r.State.Attempt)));
        p.Add(PgParameters.IntegerArray(Column(rows, r => (int?)r.State.AttemptBase)));
        p.Add(PgParameters.IntegerArray(Column(rows, r => (int?)r.State.MaxAttempts)));
        p.Add(PgParameters.IntegerArray(Column(rows, r => (int?)r.State.Iteration)));
        p.Add(PgParameters.IntegerArray(Column(rows, r => (int?)r.State.Runs)));
        p.Add(PgParameters.JsonArray(Column(rows, r => r.State.Parameters?.ToJsonString())));
        p.Add(PgParameters.JsonArray(Column(rows, r => r.State.Delivery?.ToJsonString())));
        p.Add(PgParameters.IntegerArray(Column(rows, r => (int?)r.State.LeaseSeconds)));
        p.Add(PgParameters.BigintArray(Column(rows, r => r.State.ReadyAt)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.LeaseOwner)));
        p.Add(PgParameters.BigintArray(Column(rows, r => r.State.LeaseUntil)));
        p.Add(PgParameters.JsonArray(Column(rows, r => r.State.Outputs?.ToJsonString())));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.ErrorCode)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.ErrorMessage)));
        p.Add(PgParameters.BigintArray(Column(rows, r => r.State.StartedAt)));
        p.Add(PgParameters.BigintArray(Column(rows, r => r.State.ClaimedAt)));
        p.Add(PgParameters.BigintArray(Column(rows, r => r.State.CompletedAt)));
        p.Add(PgParameters.NumericArray(Column(rows, r => r.State.Cost)));
        p.Add(PgParameters.BooleanArray(Column(rows, r => r.State.CancelRequested)));
        p.Add(PgParameters.JsonArray(Column(rows, r => r.State.SignalData?.ToJsonString())));
        p.Add(PgParameters.BigintArray(Column(rows, r => r.State.SignalWaitUntil)));
        p.Add(PgParameters.BooleanArray(Column(rows, r => r.State.SignalSatisfied)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.ExpectedStatus)));
        p.Add(PgParameters.JsonArray(Column(rows, r => r.State.SecretParameters?.ToJsonString())));
        p.Add(PgParameters.JsonArray(Column(rows, r => r.State.Map?.ToJson())));
        p.Add(PgParameters.IntegerArray(Column(rows, r => (int?)r.State.Priority)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.ConcurrencyKey)));
        p.Add(PgParameters.IntegerArray(Column(rows, r => r.State.ConcurrencyLimit)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.RateKey)));
        p.Add(PgParameters.DoubleArray(Column(rows, r => r.State.RatePerSecond)));
        p.Add(PgParameters.DoubleArray(Column(rows, r => r.State.RateBurst)));
        return command;
    }

    public static NpgsqlBatchCommand InsertMany(IReadOnlyList<(ActivityState State, ActivityDefinition Definition)> rows)
    {
        var command = new NpgsqlBatchCommand(InsertManySql);
        var p = command.Parameters;
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.WorkflowId)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.Key)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.Id)));
        p.Add(PgParameters.IntegerArray(Column(rows, r => (int?)r.Definition.Index)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.RoutingKey)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.ActivityName)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.Status)));
        p.Add(PgParameters.IntegerArray(Column(rows, r => (int?)r.State.Attempt)));
        p.Add(PgParameters.IntegerArray(Column(rows, r => (int?)r.State.AttemptBase)));
        p.Add(PgParameters.IntegerArray(Column(rows, r => (int?)r.State.MaxAttempts)));
        p.Add(PgParameters.IntegerArray(Column(rows, r => (int?)r.State.Iteration)));
        p.Add(PgParameters.IntegerArray(Column(rows, r => (int?)r.State.Runs)));
        p.Add(PgParameters.JsonArray(Column(rows, r => r.State.Parameters?.ToJsonString())));
        p.Add(PgParameters.JsonArray(Column(rows, r => r.State.Delivery?.ToJsonString())));
        p.Add(PgParameters.IntegerArray(Column(rows, r => (int?)r.State.LeaseSeconds)));
        p.Add(PgParameters.BigintArray(Column(rows, r => r.State.ReadyAt)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.LeaseOwner)));
        p.Add(PgParameters.BigintArray(Column(rows, r => r.State.LeaseUntil)));
        p.Add(PgParameters.JsonArray(Column(rows, r => r.State.Outputs?.ToJsonString())));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.ErrorCode)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.ErrorMessage)));
        p.Add(PgParameters.BigintArray(Column(rows, r => r.State.StartedAt)));
        p.Add(PgParameters.BigintArray(Column(rows, r => r.State.ClaimedAt)));
        p.Add(PgParameters.BigintArray(Column(rows, r => r.State.CompletedAt)));
        p.Add(PgParameters.NumericArray(Column(rows, r => r.State.Cost)));
        p.Add(PgParameters.BooleanArray(Column(rows, r => r.State.CancelRequested)));
        p.Add(PgParameters.JsonArray(Column(rows, r => r.State.SignalData?.ToJsonString())));
        p.Add(PgParameters.BigintArray(Column(rows, r => r.State.SignalWaitUntil)));
        p.Add(PgParameters.BooleanArray(Column(rows, r => r.State.SignalSatisfied)));
        p.Add(PgParameters.JsonArray(Column(rows, r => r.State.SecretParameters?.ToJsonString())));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.MapOf)));
        p.Add(PgParameters.IntegerArray(Column(rows, r => r.State.MapIndex)));
        p.Add(PgParameters.JsonArray(Column(rows, r => r.State.MapItem?.ToJsonString() ?? (r.State.MapIndex is null ? null : "null"))));
        p.Add(PgParameters.JsonArray(Column(rows, r => r.State.Map?.ToJson())));
        p.Add(PgParameters.IntegerArray(Column(rows, r => (int?)r.State.Priority)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.ConcurrencyKey)));
        p.Add(PgParameters.IntegerArray(Column(rows, r => r.State.ConcurrencyLimit)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.RateKey)));
        p.Add(PgParameters.DoubleArray(Column(rows, r => r.State.RatePerSecond)));
        p.Add(PgParameters.DoubleArray(Column(rows, r => r.State.RateBurst)));
        return command;
    }

    private static T[] Column<TRow, T>(IReadOnlyList<TRow> rows, Func<TRow, T> value)
    {
        var column = new T[rows.Count];
        for (var i = 0; i < rows.Count; i++)
        {
            column[i] = value(rows[i]);
        }
        return column;
    }
}
