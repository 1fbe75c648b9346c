using System.Runtime.CompilerServices;

namespace Spindle.Core.Templates;

/// <summary>Python equality and hashing for map keys, <c>unique</c> and <c>groupby</c>: <c>1 == 1.0</c>,
/// lists compare by content.</summary>
internal sealed class PyComparer : IEqualityComparer<object?>
{
    public static readonly PyComparer Instance = new();

    public new bool Equals(object? x, object? y) => Operators.AreEqual(x, y);

    public int GetHashCode(object? obj)
    {
        switch (obj)
        {
            case null: return 0;
            case string s:
                // Hashing reads the whole string, on every lookup of a map key.
                TemplateBudget.Current.Text(s.Length);
                return StringComparer.Ordinal.GetHashCode(s);
            case long l: return ((double)l).GetHashCode();
            case double d: return d.GetHashCode();
            case bool b: return (b ? 1.0 : 0.0).GetHashCode();
        }
        if (Values.IsSequence(obj))
        {
            var hash = new HashCode();
            foreach (var item in Values.Iterate(obj)) hash.Add(GetHashCode(item));
            return hash.ToHashCode();
        }
        return Values.IsMap(obj) ? (int)Values.Length(obj) : RuntimeHelpers.GetHashCode(obj);
    }
}
