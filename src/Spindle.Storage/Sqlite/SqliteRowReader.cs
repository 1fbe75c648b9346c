using System.Data.Common;
using System.Globalization;
using Spindle.Storage.Rows;

namespace Spindle.Storage.Sqlite;

/// <summary>SQLite's column types for <see cref="RowReader"/>.</summary>
internal sealed class SqliteRowReader : RowReader
{
    public static readonly SqliteRowReader Instance = new();

    /// <summary>Money is TEXT: SQLite has no exact decimal type, and REAL would round.</summary>
    protected override decimal GetMoney(DbDataReader r, int i) =>
        decimal.Parse(r.GetString(i), NumberStyles.Float, CultureInfo.InvariantCulture);

    protected override bool GetFlag(DbDataReader r, int i) => r.GetInt64(i) != 0;
}
