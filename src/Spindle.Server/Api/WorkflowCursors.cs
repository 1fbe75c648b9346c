using System.Buffers.Text;
using System.Globalization;
using System.Text;
using Spindle.Core.Common;
using Spindle.Storage;

namespace Spindle.Server.Api;

/// <summary>
/// The runs list's opaque keyset cursors: a row's (created_at, id) and the direction to read from it, base64url-encoded
/// so clients treat them as tokens. A cursor names a position, not a row count, so runs added meanwhile never shift
/// a page (offsets do).
/// </summary>
public static class WorkflowCursors
{
    public static string Older(WorkflowSummary row) => Encode('n', row);

    public static string Newer(WorkflowSummary row) => Encode('p', row);

    private static string Encode(char direction, WorkflowSummary row) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(
            string.Create(CultureInfo.InvariantCulture, $"{direction}:{row.CreatedAt}:{row.Id}")));

    public static bool TryDecode(string text, out WorkflowCursor? cursor)
    {
        cursor = null;
        if (text.Length > 200)
        {
            return false;
        }
        string plain;
        try
        {
            plain = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(text));
        }
        catch (FormatException)
        {
            return false;
        }
        var parts = plain.Split(':');
        if (parts.Length != 3 || parts[0] is not ("n" or "p") ||
            !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var createdAt) || !Ids.IsValid(parts[2]))
        {
            return false;
        }
        cursor = new WorkflowCursor(createdAt, parts[2], Backward: parts[0] == "p");
        return true;
    }
}
