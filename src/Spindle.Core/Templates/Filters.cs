using System.Collections.Frozen;

namespace Spindle.Core.Templates;

/// <summary>
/// The template filters (docs/workflow-format.md, Templates) with Jinja's argument names and defaults. This part holds the registry, the
/// missing-value and JSON filters and the helpers the other parts share.
/// </summary>
internal static partial class Filters
{
    public static readonly FrozenDictionary<string, FilterDefinition> Registry = new FilterDefinition[]
    {
        new("default", ["default_value", "boolean"], Default, AcceptsUndefined: true),
        new("d", ["default_value", "boolean"], Default, AcceptsUndefined: true),
        new("coalesce", ["*"], Coalesce, AcceptsUndefined: true),

        new("length", [], (v, _) => Values.Length(v)),
        new("count", [], (v, _) => Values.Length(v)),
        new("first", [], First),
        new("last", [], Last),
        new("join", ["d", "attribute", "sep"], Join),
        new("sort", ["reverse", "case_sensitive", "attribute"], Sort),
        new("reverse", [], Reverse),
        new("unique", ["case_sensitive", "attribute"], Unique),
        new("list", [], (v, _) => Values.Iterate(v).ToList()),
        new("sum", ["attribute", "start"], Sum),
        new("min", ["case_sensitive", "attribute"], (v, a) => MinOrMax(v, a, wantMax: false)),
        new("max", ["case_sensitive", "attribute"], (v, a) => MinOrMax(v, a, wantMax: true)),
        new("map", null, Map),
        new("select", null, (v, a) => SelectOrReject(v, a, select: true, byAttribute: false)),
        new("reject", null, (v, a) => SelectOrReject(v, a, select: false, byAttribute: false)),
        new("selectattr", null, (v, a) => SelectOrReject(v, a, select: true, byAttribute: true)),
        new("rejectattr", null, (v, a) => SelectOrReject(v, a, select: false, byAttribute: true)),
        new("batch", ["linecount", "fill_with"], Batch),
        new("slice", ["slices", "fill_with"], Slice),
        new("items", [], Items),
        new("dictsort", ["case_sensitive", "by", "reverse"], DictSort),
        new("groupby", ["attribute", "default", "case_sensitive"], GroupBy),
        new("attr", ["name"], Attr),
        new("keys", [], (v, _) => Entries(v, "keys").Select(pair => pair.Key).ToList<object?>()),
        new("values", [], (v, _) => Entries(v, "values").Select(pair => pair.Value).ToList()),
        new("contains", ["substring"], Contains),

        new("lower", [], (v, _) => Made(Printer.ToStr(v).ToLowerInvariant())),
        new("upper", [], (v, _) => Made(Printer.ToStr(v).ToUpperInvariant())),
        new("title", [], (v, _) => Made(PyString.Title(Printer.ToStr(v)))),
        new("capitalize", [], (v, _) => Made(PyString.Capitalize(Printer.ToStr(v)))),
        new("trim", ["chars"], (v, a) => PyString.Strip(Printer.ToStr(v), OptionalString(a.Get(0, "chars"), "trim"))),
        new("replace", ["old", "new", "count"], Replace),
        new("split", ["sep", "maxsplit"], Split),
        new("lines", [], (v, _) => PyString.SplitLines(Printer.ToStr(v))),
        new("indent", ["width", "first", "blank"], Indent),
        new("string", [], (v, _) => Printer.ToStr(v)),
        new("urlencode", [], UrlEncode),
        new("escape", [], (v, _) => Escape(Printer.ToStr(v))),
        new("e", [], (v, _) => Escape(Printer.ToStr(v))),
        // There is no autoescaping, so marking a value safe changes nothing; accepted for Jinja habits.
        new("safe", [], (v, _) => v),

        new("int", ["default", "base"], Int),
        new("float", ["default"], Float),
        new("round", ["precision", "method"], Round),
        new("abs", [], Abs),
        new("bool", [], (v, _) => Values.IsTrue(v)),

        new("tojson", ["indent"], ToJson),
        new("json", ["indent"], ToJson),
    }.ToFrozenDictionary(filter => filter.Name, StringComparer.Ordinal);

    /// <summary>Keeps none unless <c>boolean</c> is true, then any falsy value is replaced too (as Jinja's default).</summary>
    private static object? Default(object? value, Arguments args)
    {
        var fallback = args.Get(0, "default_value", "");
        var replaceFalsy = args.Has(1, "boolean") && Values.IsTrue(args.Get(1, "boolean"));
        return value is Undefined || (replaceFalsy && !Values.IsTrue(value)) ? fallback : value;
    }

    /// <summary>The first of the value and the arguments that is neither undefined nor none.</summary>
    private static object? Coalesce(object? value, Arguments args)
    {
        if (value is not (null or Undefined)) return value;
        foreach (var candidate in args.Positional)
        {
            if (candidate is not (null or Undefined)) return candidate;
        }
        return null;
    }

    private static object? ToJson(object? value, Arguments args)
    {
        var indent = args.Get(0, "indent");
        return Printer.ToJson(value, indent == null ? null : (int)Integer(indent, "tojson", "indent"));
    }

    /// <summary>Pays for a string made character by character from one of the same length (already paid to read,
    /// so its size was bounded before it was made).</summary>
    internal static string Made(string s)
    {
        TemplateBudget.Current.NewString(s.Length);
        return s;
    }

    private static long Integer(object? value, string filter, string parameter) =>
        Operators.AsInteger(value, out var result)
            ? result
            : throw TemplateErrors.Runtime($"{filter}: '{parameter}' must be an integer, not {Values.TypeName(value)}");

    private static string? OptionalString(object? value, string filter) => value switch
    {
        null => null,
        string s => s,
        _ => throw TemplateErrors.Runtime($"{filter}: expected a string argument, not {Values.TypeName(value)}"),
    };

    private static IEnumerable<KeyValuePair<object, object?>> Entries(object? value, string filter) =>
        Values.Entries(value) ?? throw TemplateErrors.Runtime($"{filter}: expected a map, not {Values.TypeName(value)}");

    /// <summary>A sort compares about n·log2(n) pairs; paid for before sorting (Iterate pays the n visits).</summary>
    private static void ChargeSort(object? value)
    {
        var count = value is List<object?> list ? list.Count : Values.IsSequence(value) || Values.IsMap(value) ? Values.Length(value) : 0;
        if (count > 1) TemplateBudget.Current.Steps(TemplateBudget.Times(count, (long)Math.Ceiling(Math.Log2(count))));
    }

    private static object? IgnoreCase(object? value) => value is string s ? s.ToLowerInvariant() : value;

    /// <summary>Jinja's attribute getter: "a.b.0" walks keys (digits index lists); a missing step is undefined,
    /// replaced by <paramref name="fallback"/> when given.</summary>
    private static Func<object?, object?> AttributeGetter(object? attribute, object? fallback = null, bool ignoreCase = false)
    {
        if (attribute == null) return ignoreCase ? IgnoreCase : item => item;
        object?[] parts = attribute is string path
            ? [.. path.Split('.').Select(part => long.TryParse(part, out var index) ? index : (object)part)]
            : [attribute];
        var missing = $"an item has no attribute '{Printer.ToStr(attribute)}'";
        return item =>
        {
            foreach (var part in parts)
            {
                item = item is not Undefined && Values.TryGetItem(item, part, out var found) ? found : new Undefined(null, missing);
            }
            if (fallback != null && item is Undefined) item = fallback;
            return ignoreCase ? IgnoreCase(item) : item;
        };
    }

    /// <summary>As <see cref="AttributeGetter"/>, but "a,b" gives the list of both values (sort by several keys).</summary>
    private static Func<object?, object?> MultiAttributeGetter(object? attribute, bool ignoreCase)
    {
        if (attribute is not string names || !names.Contains(',', StringComparison.Ordinal)) return AttributeGetter(attribute, ignoreCase: ignoreCase);
        var getters = names.Split(',').Select(name => AttributeGetter(name, ignoreCase: ignoreCase)).ToArray();
        return item => getters.Select(getter => getter(item)).ToList();
    }

    /// <summary>A stable merge sort by key. Python's sort is stable even when reversed, and unlike Array.Sort
    /// this lets a <see cref="TemplateException"/> from a comparison through unwrapped.</summary>
    private static List<object?> StableSort(IReadOnlyList<object?> items, Func<object?, object?> keyOf, bool reverse)
    {
        var keys = items.Select(keyOf).ToArray();
        var order = Enumerable.Range(0, items.Count).ToArray();
        var buffer = new int[order.Length];
        MergeSort(0, order.Length);
        return [.. order.Select(i => items[i])];

        void MergeSort(int from, int to)
        {
            if (to - from < 2) return;
            var middle = (from + to) / 2;
            MergeSort(from, middle);
            MergeSort(middle, to);
            int left = from, right = middle, next = from;
            while (left < middle && right < to)
            {
                var comparison = Operators.Order(keys[order[right]], keys[order[left]]);
                var takeRight = reverse ? comparison > 0 : comparison < 0;
                buffer[next++] = takeRight ? order[right++] : order[left++];
            }
            while (left < middle) buffer[next++] = order[left++];
            while (right < to) buffer[next++] = order[right++];
            Array.Copy(buffer, from, order, from, to - from);
        }
    }
}
