namespace Spindle.Core.Common;

/// <summary>UUIDv7 identifiers: time-ordered, so primary keys insert at the end of indexes.</summary>
public static class Ids
{
    public static string New() => Guid.CreateVersion7().ToString("D");

    public static bool IsValid(string? value) => Guid.TryParse(value, out _);
}
