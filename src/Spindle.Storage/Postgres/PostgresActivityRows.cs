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
    /// Writes back one changed row, but only if its status is still the one this transaction read (<c>$30</c>;
    /// <c>$31</c> is <c>secret_parameters</c>, added later).
    /// Claims change pending rows without the workflow's lock; if one did, the update matches nothing, the statement
    /// raises a serialization failure (migration 5) and the transaction starts over instead of overwriting the claim.
    /// Raising, rather than counting rows afterwards, is what lets the COMMIT travel in the same batch.
    /// Heartbeats, too, change running rows without the workflow's lock: a lease this decision left as it read it
    /// (<c>$39</c>) keeps the row's own value, so a decision about a running activity (a cancel flagging it) does
    /// not take back an extension that committed after the read.
    /// </summary>
    public const string UpdateSql =
        "WITH changed AS (UPDATE activity_runs SET id = $3, ordinal = $4, worker = $5, activity_name = $6, status = $7, attempt = $8, " +
        "attempt_base = $9, max_attempts = $10, iteration = $11, runs = $12, parameters = $13, delivery = $14, " +
        "lease_seconds = $15, ready_at = $16, lease_owner = $17, " +
        "lease_until = CASE WHEN $18 IS NOT DISTINCT FROM $39 THEN lease_until ELSE $18 END, outputs = $19, error_code = $20, " +
        "error_message = $21, started_at = $22, claimed_at = $23, completed_at = $24, cost = $25, cancel_requested = $26, " +
        "signal_data = $27, signal_wait_until = $28, signal_satisfied = $29, secret_parameters = $31, map_state = $32, " +
        "priority = $33, concurrency_key = $34, concurrency_limit = $35, rate_key = $36, rate_per_second = $37, rate_burst = $38 " +
        "WHERE workflow_id = $1 AND activity_key = $2 AND status = $30 RETURNING 1) " +
        "SELECT spindle_require_rows(count(*), 'activity row ' || $1 || '/' || $2) FROM changed";

    public static NpgsqlBatchCommand Update(ActivityState a, int ordinal, ReadRow read)
    {
        var command = new NpgsqlBatchCommand(UpdateSql);
        var p = command.Parameters;
        p.Add(PgParameters.Text(a.WorkflowId));
        p.Add(PgParameters.Text(a.Key));
        p.Add(PgParameters.Text(a.Id));
        p.Add(PgParameters.Integer(ordinal));
        p.Add(PgParameters.Text(a.RoutingKey));
        p.Add(PgParameters.Text(a.ActivityName));
        p.Add(PgParameters.Text(a.Status));
        p.Add(PgParameters.Integer(a.Attempt));
        p.Add(PgParameters.Integer(a.AttemptBase));
        p.Add(PgParameters.Integer(a.MaxAttempts));
        p.Add(PgParameters.Integer(a.Iteration));
        p.Add(PgParameters.Integer(a.Runs));
        p.Add(PgParameters.Json(a.Parameters?.ToJsonString()));
        p.Add(PgParameters.Json(a.Delivery?.ToJsonString()));
        p.Add(PgParameters.Integer(a.LeaseSeconds));
        p.Add(PgParameters.Bigint(a.ReadyAt));
        p.Add(PgParameters.Text(a.LeaseOwner));
        p.Add(PgParameters.Bigint(a.LeaseUntil));
        p.Add(PgParameters.Json(a.Outputs?.ToJsonString()));
        p.Add(PgParameters.Text(a.ErrorCode));
        p.Add(PgParameters.Text(a.ErrorMessage));
        p.Add(PgParameters.Bigint(a.StartedAt));
        p.Add(PgParameters.Bigint(a.ClaimedAt));
        p.Add(PgParameters.Bigint(a.CompletedAt));
        p.Add(PgParameters.Numeric(a.Cost));
        p.Add(PgParameters.Boolean(a.CancelRequested));
        p.Add(PgParameters.Json(a.SignalData?.ToJsonString()));
        p.Add(PgParameters.Bigint(a.SignalWaitUntil));
        p.Add(PgParameters.Boolean(a.SignalSatisfied));
        p.Add(PgParameters.Text(read.Status));
        p.Add(PgParameters.Json(a.SecretParameters?.ToJsonString()));
        p.Add(PgParameters.Json(a.Map?.ToJson()));
        p.Add(PgParameters.Integer(a.Priority));
        p.Add(PgParameters.Text(a.ConcurrencyKey));
        p.Add(PgParameters.Integer(a.ConcurrencyLimit));
        p.Add(PgParameters.Text(a.RateKey));
        p.Add(PgParameters.Double(a.RatePerSecond));
        p.Add(PgParameters.Double(a.RateBurst));
        p.Add(PgParameters.Bigint(read.LeaseUntil));
        return command;
    }

    /// <summary>What a write transaction last read (or wrote) of an activity row: its status guards the update, its
    /// lease tells whether the decision changed the lease.</summary>
    public readonly record struct ReadRow(string Status, long? LeaseUntil)
    {
        /// <summary>A lease no row has: for a row this transaction did not read, whose lease is written as decided.</summary>
        private const long NotRead = long.MinValue;

        public static ReadRow Of(ActivityState a) => new(a.Status, a.LeaseUntil);

        public static ReadRow Unread(ActivityState a) => new(a.Status, NotRead);
    }

    public static NpgsqlBatchCommand InsertMany(IReadOnlyList<(ActivityState State, ActivityDefinition Definition)> rows)
    {
        var command = new NpgsqlBatchCommand(InsertManySql);
        var p = command.Parameters;
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.WorkflowId)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.Key)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.Id)));
        p.Add(PgParameters.IntegerArray(Column<int?>(rows, r => r.Definition.Index)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.RoutingKey)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.ActivityName)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.Status)));
        p.Add(PgParameters.IntegerArray(Column<int?>(rows, r => r.State.Attempt)));
        p.Add(PgParameters.IntegerArray(Column<int?>(rows, r => r.State.AttemptBase)));
        p.Add(PgParameters.IntegerArray(Column<int?>(rows, r => r.State.MaxAttempts)));
        p.Add(PgParameters.IntegerArray(Column<int?>(rows, r => r.State.Iteration)));
        p.Add(PgParameters.IntegerArray(Column<int?>(rows, r => r.State.Runs)));
        p.Add(PgParameters.JsonArray(Column(rows, r => r.State.Parameters?.ToJsonString())));
        p.Add(PgParameters.JsonArray(Column(rows, r => r.State.Delivery?.ToJsonString())));
        p.Add(PgParameters.IntegerArray(Column<int?>(rows, r => r.State.LeaseSeconds)));
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
        p.Add(PgParameters.IntegerArray(Column<int?>(rows, r => r.State.Priority)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.ConcurrencyKey)));
        p.Add(PgParameters.IntegerArray(Column(rows, r => r.State.ConcurrencyLimit)));
        p.Add(PgParameters.TextArray(Column(rows, r => r.State.RateKey)));
        p.Add(PgParameters.DoubleArray(Column(rows, r => r.State.RatePerSecond)));
        p.Add(PgParameters.DoubleArray(Column(rows, r => r.State.RateBurst)));
        return command;
    }

    private static T[] Column<T>(IReadOnlyList<(ActivityState State, ActivityDefinition Definition)> rows,
        Func<(ActivityState State, ActivityDefinition Definition), T> value)
    {
        var column = new T[rows.Count];
        for (var i = 0; i < rows.Count; i++)
        {
            column[i] = value(rows[i]);
        }
        return column;
    }
}
