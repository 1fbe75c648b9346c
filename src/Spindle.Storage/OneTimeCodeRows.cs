using System.Data.Common;

namespace Spindle.Storage;

/// <summary>What both one-time code stores share: the statement that takes a code, and reading what it returned.</summary>
internal static class OneTimeCodeRows
{
    /// <summary>DELETE … RETURNING: of two servers redeeming the same code at once, only one gets the row.</summary>
    public const string Take =
        "DELETE FROM one_time_codes WHERE code_hash = $1 AND kind = $2 RETURNING client_id, scopes, issued_at, expires_at";

    /// <summary>The code the take returned, or null when there was none or it had expired (it is gone either way).</summary>
    public static async Task<OneTimeCode?> ReadTakenAsync(DbDataReader r, string kind, long nowMs, CancellationToken cancellationToken)
    {
        if (!await r.ReadAsync(cancellationToken))
        {
            return null;
        }
        var code = new OneTimeCode(kind, r.GetString(0), r.GetString(1).Split(' ', StringSplitOptions.RemoveEmptyEntries), r.GetInt64(2), r.GetInt64(3));
        return code.ExpiresAtMs > nowMs ? code : null;
    }
}
