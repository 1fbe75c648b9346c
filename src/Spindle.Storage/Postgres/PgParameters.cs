using Npgsql;
using NpgsqlTypes;

namespace Spindle.Storage.Postgres;

/// <summary>
/// Positional (<c>$n</c>) parameters with their PostgreSQL type spelled out, so that a NULL is typed and prepared
/// statements get one plan whatever the values.
/// </summary>
internal static class PgParameters
{
    public static NpgsqlParameter Text(string? value) => Of(value, NpgsqlDbType.Text);

    public static NpgsqlParameter Json(string? value) => Of(value, NpgsqlDbType.Json);

    public static NpgsqlParameter Bigint(long? value) => Of(value, NpgsqlDbType.Bigint);

    public static NpgsqlParameter Integer(int? value) => Of(value, NpgsqlDbType.Integer);

    public static NpgsqlParameter Numeric(decimal? value) => Of(value, NpgsqlDbType.Numeric);

    public static NpgsqlParameter Boolean(bool value) => Of(value, NpgsqlDbType.Boolean);

    public static NpgsqlParameter Double(double? value) => Of(value, NpgsqlDbType.Double);

    public static NpgsqlParameter DoubleArray(IReadOnlyList<double?> values) => Of(values.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Double);

    public static NpgsqlParameter TextArray(IReadOnlyList<string?> values) => Of(values.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text);

    public static NpgsqlParameter JsonArray(IReadOnlyList<string?> values) => Of(values.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Json);

    public static NpgsqlParameter BigintArray(IReadOnlyList<long?> values) => Of(values.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint);

    public static NpgsqlParameter IntegerArray(IReadOnlyList<int?> values) => Of(values.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Integer);

    public static NpgsqlParameter NumericArray(IReadOnlyList<decimal> values) => Of(values.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Numeric);

    public static NpgsqlParameter BooleanArray(IReadOnlyList<bool> values) => Of(values.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Boolean);

    /// <summary>A batch statement with its parameters.</summary>
    public static NpgsqlBatchCommand Statement(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }

    private static NpgsqlParameter Of(object? value, NpgsqlDbType type) => new() { Value = value ?? DBNull.Value, NpgsqlDbType = type };
}
