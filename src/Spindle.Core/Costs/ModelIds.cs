using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace Spindle.Core.Costs;

/// <summary>Model ids of the form <c>"&lt;provider&gt;/&lt;name&gt;"</c>.</summary>
public static partial class ModelIds
{
    /// <summary>Splits at the first '/', so names may contain further slashes (e.g. Ollama namespaces).</summary>
    public static bool TrySplit(string? id, [NotNullWhen(true)] out string? provider, [NotNullWhen(true)] out string? name)
    {
        provider = null;
        name = null;
        if (string.IsNullOrWhiteSpace(id))
        {
            return false;
        }

        int slash = id.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == id.Length - 1)
        {
            return false;
        }

        provider = id[..slash].Trim().ToLowerInvariant();
        name = id[(slash + 1)..].Trim();
        return provider.Length > 0 && name.Length > 0;
    }

    public static string Join(string provider, string name) => provider.ToLowerInvariant() + "/" + name;

    /// <summary>
    /// The names to try when looking up a model's price: the name itself, then the name without a snapshot suffix
    /// (<c>-20251001</c>, <c>-2024-08-06</c>, <c>-latest</c>) or an Ollama tag (<c>:8b</c>), because providers
    /// bill dated snapshots and tags at the price of their family alias.
    /// </summary>
    public static IEnumerable<string> LookupNames(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        yield return name;
        string stripped = name;
        int colon = stripped.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0)
        {
            stripped = stripped[..colon];
            yield return stripped;
        }

        string withoutSnapshot = SnapshotSuffix().Replace(stripped, "");
        if (withoutSnapshot.Length > 0 && withoutSnapshot != stripped)
        {
            yield return withoutSnapshot;
        }
    }

    [GeneratedRegex(@"-(\d{8}|\d{4}-\d{2}-\d{2}|latest|preview(-\d{2}-\d{4})?|v\d+(:\d+)?)$", RegexOptions.CultureInvariant)]
    private static partial Regex SnapshotSuffix();
}
