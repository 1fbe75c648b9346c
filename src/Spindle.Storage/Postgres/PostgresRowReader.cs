using System.Data.Common;
using Spindle.Storage.Rows;

namespace Spindle.Storage.Postgres;

/// <summary>PostgreSQL's column types for <see cref="RowReader"/>: numeric money and real booleans.</summary>
internal sealed class PostgresRowReader : RowReader
{
    public static readonly PostgresRowReader Instance = new();

    protected override decimal GetMoney(DbDataReader r, int i) => r.GetDecimal(i);

    protected override bool GetFlag(DbDataReader r, int i) => r.GetBoolean(i);
}
