using System.Data.Common;
using System.Globalization;
using Spindle.Core.Orchestration;
using Spindle.Storage.Rows;

namespace Spindle.Storage.Sqlite;

/// <summary>Binds <see cref="ActivityState"/> to <c>activity_runs</c> statements (rows are read by <see cref="SqliteRowReader"/>).</summary>
internal static class ActivityRows
{
    public static void Bind(DbCommand cmd, ActivityState a, int ordinal)
    {
        Set(cmd, "$workflow_id", a.WorkflowId);
        Set(cmd, "$activity_key", a.Key);
        Set(cmd, "$id", a.Id);
        Set(cmd, "$ordinal", ordinal);
        Set(cmd, "$worker", a.RoutingKey);
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
        Set(cmd, "$map_of", a.MapOf);
        Set(cmd, "$map_index", a.MapIndex);
        Set(cmd, "$map_item", a.MapItem?.ToJsonString() ?? (a.MapIndex is null ? null : "null"));
        Set(cmd, "$map_state", a.Map?.ToJson());
        Set(cmd, "$priority", a.Priority);
        Set(cmd, "$concurrency_key", a.ConcurrencyKey);
        Set(cmd, "$concurrency_limit", a.ConcurrencyLimit);
        Set(cmd, "$rate_key", a.RateKey);
        Set(cmd, "$rate_per_second", a.RatePerSecond);
        Set(cmd, "$rate_burst", a.RateBurst);
    }

    public static string InsertSql =>
        $"INSERT INTO activity_runs ({RowReader.ActivityColumns}) VALUES ({string.Join(", ", RowReader.ActivityColumns.Split(", ").Select(c => "$" + c))})";

    public static string UpdateSql =>
        "UPDATE activity_runs SET " +
        string.Join(", ", RowReader.ActivityColumns.Split(", ").Where(c => c is not ("workflow_id" or "activity_key")).Select(c => $"{c} = ${c}")) +
        " WHERE workflow_id = $workflow_id AND activity_key = $activity_key";

    public static void Set(DbCommand cmd, string name, object? value)
    {
        var p = cmd.CreateParameter();
        p.ParameterName = name;
        p.Value = value ?? DBNull.Value;
        cmd.Parameters.Add(p);
    }
}
