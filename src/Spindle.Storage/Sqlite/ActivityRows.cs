using System.Data.Common;
using System.Globalization;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Orchestration;

namespace Spindle.Storage.Sqlite;

/// <summary>Maps <c>activity_runs</c> rows to <see cref="ActivityState"/> and back.</summary>
internal static class ActivityRows
{
    public const string Columns =
        "workflow_id, activity_key, id, ordinal, worker, activity_name, status, attempt, attempt_base, max_attempts, " +
        "iteration, runs, parameters, delivery, lease_seconds, ready_at, lease_owner, lease_until, outputs, error_code, " +
        "error_message, started_at, claimed_at, completed_at, cost, cancel_requested, signal_data, signal_wait_until, " +
        "signal_satisfied, secret_parameters";

    public static ActivityState Read(DbDataReader r) => new()
    {
        WorkflowId = r.GetString(0),
        Key = r.GetString(1),
        Id = r.GetString(2),
        Worker = r.GetString(4),
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
        LeaseOwner = r.IsDBNull(16) ? null : r.GetString(16),
        LeaseUntil = LongOrNull(r, 17),
        Outputs = ObjectOrNull(r, 18),
        ErrorCode = r.IsDBNull(19) ? null : r.GetString(19),
        ErrorMessage = r.IsDBNull(20) ? null : r.GetString(20),
        StartedAt = LongOrNull(r, 21),
        ClaimedAt = LongOrNull(r, 22),
        CompletedAt = LongOrNull(r, 23),
        Cost = decimal.Parse(r.GetString(24), CultureInfo.InvariantCulture),
        CancelRequested = r.GetInt64(25) != 0,
        SignalData = r.IsDBNull(26) ? null : JsonLimits.ParseStored(r.GetString(26)),
        SignalWaitUntil = LongOrNull(r, 27),
        SignalSatisfied = r.GetInt64(28) != 0,
        SecretParameters = r.IsDBNull(29) ? null : JsonNode.Parse(r.GetString(29))?.AsArray(),
    };

    public static void Bind(DbCommand cmd, ActivityState a, int ordinal)
    {
        Set(cmd, "$workflow_id", a.WorkflowId);
        Set(cmd, "$activity_key", a.Key);
        Set(cmd, "$id", a.Id);
        Set(cmd, "$ordinal", ordinal);
        Set(cmd, "$worker", a.Worker);
        Set(cmd, "$activity_name", a.ActivityName);
        Set(cmd, "$status", a.Status);
        Set(cmd, "$attempt", a.Attempt);
        Set(cmd, "$attempt_base", a.AttemptBase);
        Set(cmd, "$max_attempts", a.MaxAttempts);
        Set(cmd, "$iteration", a.Iteration);
        Set(cmd, "$runs", a.Runs);
        Set(cmd, "$parameters", a.Parameters?.ToJsonString());
        Set(cmd, "$delivery", a.Delivery?.ToJsonString());
        Set(cmd, "$lease_seconds", a.LeaseSeconds);
        Set(cmd, "$ready_at", a.ReadyAt);
        Set(cmd, "$lease_owner", a.LeaseOwner);
        Set(cmd, "$lease_until", a.LeaseUntil);
        Set(cmd, "$outputs", a.Outputs?.ToJsonString());
        Set(cmd, "$error_code", a.ErrorCode);
        Set(cmd, "$error_message", a.ErrorMessage);
        Set(cmd, "$started_at", a.StartedAt);
        Set(cmd, "$claimed_at", a.ClaimedAt);
        Set(cmd, "$completed_at", a.CompletedAt);
        Set(cmd, "$cost", a.Cost.ToString(CultureInfo.InvariantCulture));
        Set(cmd, "$cancel_requested", a.CancelRequested ? 1 : 0);
        Set(cmd, "$signal_data", a.SignalData?.ToJsonString());
        Set(cmd, "$signal_wait_until", a.SignalWaitUntil);
        Set(cmd, "$signal_satisfied", a.SignalSatisfied ? 1 : 0);
        Set(cmd, "$secret_parameters", a.SecretParameters?.ToJsonString());
    }

    public static string InsertSql =>
        $"INSERT INTO activity_runs ({Columns}) VALUES ({string.Join(", ", Columns.Split(", ").Select(c => "$" + c))})";

    public static string UpdateSql =>
        "UPDATE activity_runs SET " +
        string.Join(", ", Columns.Split(", ").Where(c => c is not ("workflow_id" or "activity_key")).Select(c => $"{c} = ${c}")) +
        " WHERE workflow_id = $workflow_id AND activity_key = $activity_key";

    public static void Set(DbCommand cmd, string name, object? value)
    {
        var p = cmd.CreateParameter();
        p.ParameterName = name;
        p.Value = value ?? DBNull.Value;
        cmd.Parameters.Add(p);
    }

    private static long? LongOrNull(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt64(i);

    private static JsonObject? ObjectOrNull(DbDataReader r, int i) => r.IsDBNull(i) ? null : JsonLimits.ParseStored(r.GetString(i))?.AsObject();
}
