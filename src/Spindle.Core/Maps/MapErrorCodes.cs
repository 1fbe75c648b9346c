namespace Spindle.Core.Maps;

/// <summary>Error codes of map activities (docs/workflow-format.md#maps).</summary>
public static class MapErrorCodes
{
    /// <summary><c>for_each</c> yielded something other than a list.</summary>
    public const string ForEachNotAList = "FOR_EACH_NOT_A_LIST";

    /// <summary><c>for_each</c> yielded more than <see cref="Definitions.MapSettings.MaxItems"/> items.</summary>
    public const string ForEachTooLarge = "FOR_EACH_TOO_LARGE";

    /// <summary>An item failed and the map has no <c>continue_on_failure</c>.</summary>
    public const string ItemFailed = "MAP_ITEM_FAILED";

    /// <summary>The key of item <paramref name="index"/> of map <paramref name="mapKey"/>: <c>key[index]</c>.</summary>
    public static string ItemKey(string mapKey, int index) =>
        mapKey + "[" + index.ToString(System.Globalization.CultureInfo.InvariantCulture) + "]";
}
