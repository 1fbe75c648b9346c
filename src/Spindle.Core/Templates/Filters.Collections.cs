namespace Spindle.Core.Templates;

/// <summary>Collection filters. Jinja returns generators for several of them; here they return lists.</summary>
internal static partial class Filters
{
    private static object? First(object? value, Arguments args)
    {
        var items = Values.Iterate(value);
        return items.Count > 0 ? items[0] : new Undefined(null, "the sequence is empty");
    }

    private static object? Last(object? value, Arguments args)
    {
        var items = Values.Iterate(value);
        return items.Count > 0 ? items[^1] : new Undefined(null, "the sequence is empty");
    }

    private static object? Join(object? value, Arguments args)
    {
        var separator = Printer.ToStr(args.Has(0, "d") ? args.Get(0, "d") : args.Get(-1, "sep", ""));
        var getter = AttributeGetter(args.Get(1, "attribute"));
        return JoinText(separator, Values.Iterate(value).Select(item => getter(item)));
    }

    /// <summary>Joins the items as text; the result's length is checked before it is built.</summary>
    internal static string JoinText(string separator, IEnumerable<object?> items)
    {
        var parts = items.Select(Printer.ToStr).ToArray();
        var length = (long)separator.Length * Math.Max(parts.Length - 1, 0);
        foreach (var part in parts) length += part.Length;
        TemplateBudget.Current.NewString(length);
        return string.Join(separator, parts);
    }

    /// <summary>Case-insensitive unless <c>case_sensitive</c>, like Jinja.</summary>
    private static object? Sort(object? value, Arguments args)
    {
        ChargeSort(value);
        var keyOf = MultiAttributeGetter(args.Get(2, "attribute"), ignoreCase: !args.GetBool(1, "case_sensitive"));
        return StableSort(Values.Iterate(value), keyOf, args.GetBool(0, "reverse"));
    }

    private static object? Reverse(object? value, Arguments args)
    {
        if (value is string s) return PyString.Reverse(s);
        var items = Values.Iterate(value).ToList();
        items.Reverse();
        return items;
    }

    private static object? Unique(object? value, Arguments args)
    {
        var keyOf = AttributeGetter(args.Get(1, "attribute"), ignoreCase: !args.GetBool(0, "case_sensitive"));
        var seen = new HashSet<object?>(PyComparer.Instance);
        return Values.Iterate(value).Where(item => seen.Add(Values.Defined(keyOf(item)))).ToList();
    }

    private static object? Sum(object? value, Arguments args)
    {
        var getter = AttributeGetter(args.Get(0, "attribute"));
        var total = args.Get(1, "start", 0L);
        foreach (var item in Values.Iterate(value)) total = Operators.Binary(BinaryOperator.Add, total, getter(item));
        return total;
    }

    private static object? MinOrMax(object? value, Arguments args, bool wantMax)
    {
        var keyOf = AttributeGetter(args.Get(1, "attribute"), ignoreCase: !args.GetBool(0, "case_sensitive"));
        var items = Values.Iterate(value);
        if (items.Count == 0) return new Undefined(null, "the sequence is empty");
        var best = items[0];
        var bestKey = keyOf(best);
        foreach (var item in items.Skip(1))
        {
            var key = keyOf(item);
            var order = Operators.Order(key, bestKey);
            if (wantMax ? order > 0 : order < 0) (best, bestKey) = (item, key);
        }
        return best;
    }

    /// <summary><c>map(attribute='x', default=…)</c> or <c>map('filter', args…)</c>.</summary>
    private static object? Map(object? value, Arguments args)
    {
        Func<object?, object?> transform;
        if (args.PositionalCount == 0)
        {
            if (!args.Has(-1, "attribute")) throw TemplateErrors.Runtime("map: give a filter name or attribute=");
            if (args.Names.Any(name => name is not ("attribute" or "default"))) throw TemplateErrors.Runtime("map: only 'attribute' and 'default' may be given with attribute=");
            transform = AttributeGetter(args.Get(-1, "attribute"), args.Get(-1, "default"));
        }
        else
        {
            var filter = Lookup(Registry, args.Positional[0], "map", "filter");
            var forwarded = args.Skip(1);
            transform = item => filter.Invoke(filter.AcceptsUndefined ? item : Values.Defined(item), forwarded);
        }
        // Like Jinja, a falsy input (none, empty) maps to an empty list.
        return Values.IsTrue(value) ? Values.Iterate(value).Select(transform).ToList() : new List<object?>();
    }

    /// <summary>select/reject(test, args…) and selectattr/rejectattr(attribute, test, args…); without a test the
    /// value's truth decides.</summary>
    private static object? SelectOrReject(object? value, Arguments args, bool select, bool byAttribute)
    {
        var offset = byAttribute ? 1 : 0;
        if (byAttribute && args.PositionalCount == 0) throw TemplateErrors.Runtime("selectattr/rejectattr: the attribute name is missing");
        var transform = AttributeGetter(byAttribute ? args.Positional[0] : null);
        Func<object?, bool> test = item => Values.IsTrue(item);
        if (args.PositionalCount > offset)
        {
            var definition = Lookup(Tests.Registry, args.Positional[offset], "select", "test");
            var forwarded = args.Skip(offset + 1);
            test = item => definition.Invoke(definition.AcceptsUndefined ? item : Values.Defined(item), forwarded);
        }
        if (!Values.IsTrue(value)) return new List<object?>();
        return Values.Iterate(value).Where(item => test(transform(item)) == select).ToList();
    }

    private static T Lookup<T>(IReadOnlyDictionary<string, T> registry, object? name, string filter, string kind) =>
        name is string s && registry.TryGetValue(s, out var found)
            ? found
            : throw TemplateErrors.Runtime($"{filter}: unknown {kind} {Printer.ToStr(name)}");

    private static object? Batch(object? value, Arguments args)
    {
        var size = Integer(args.Get(0, "linecount"), "batch", "linecount");
        if (size < 1) throw TemplateErrors.Runtime("batch: 'linecount' must be at least 1");
        var fill = args.Get(1, "fill_with");
        var batches = new List<object?>();
        var items = Values.Iterate(value);
        // Filling pads the last batch up to the given size: paid for before it is allocated.
        if (fill != null && items.Count % size != 0) TemplateBudget.Current.Steps(size - (items.Count % size));
        foreach (var chunk in items.Chunk((int)Math.Min(size, Math.Max(items.Count, 1))))
        {
            var batch = chunk.ToList();
            while (fill != null && batch.Count < size) batch.Add(fill);
            batches.Add(batch);
        }
        return batches;
    }

    /// <summary>Splits into <c>slices</c> columns; the first columns take one extra item each.</summary>
    private static object? Slice(object? value, Arguments args)
    {
        var count = Integer(args.Get(0, "slices"), "slice", "slices");
        if (count < 1) throw TemplateErrors.Runtime("slice: 'slices' must be at least 1");
        TemplateBudget.Current.Steps(count);
        var fill = args.Get(1, "fill_with");
        var items = Values.Iterate(value);
        var perSlice = items.Count / (int)count;
        var withExtra = items.Count % (int)count;
        var slices = new List<object?>();
        var offset = 0;
        for (var i = 0; i < count; i++)
        {
            var start = offset + (i * perSlice);
            if (i < withExtra) offset++;
            var end = offset + ((i + 1) * perSlice);
            var slice = items.Skip(start).Take(end - start).ToList();
            if (fill != null && i >= withExtra) slice.Add(fill);
            slices.Add(slice);
        }
        return slices;
    }

    private static object? Items(object? value, Arguments args) =>
        Entries(value, "items").Select(pair => (object?)new List<object?> { pair.Key, pair.Value }).ToList();

    private static object? DictSort(object? value, Arguments args)
    {
        var by = args.Get(1, "by", "key");
        if (by is not ("key" or "value")) throw TemplateErrors.Runtime("dictsort: 'by' must be 'key' or 'value'");
        var keyOf = AttributeGetter(by is "key" ? 0L : 1L, ignoreCase: !args.GetBool(0, "case_sensitive"));
        var pairs = Entries(value, "dictsort").Select(pair => (object?)new List<object?> { pair.Key, pair.Value }).ToList();
        ChargeSort(pairs);
        return StableSort(pairs, keyOf, args.GetBool(2, "reverse"));
    }

    /// <summary>Sorts by the attribute and groups equal keys. Case-insensitive by default; the group then shows
    /// the key as written in its first item.</summary>
    private static object? GroupBy(object? value, Arguments args)
    {
        var attribute = args.Get(0, "attribute") ?? throw TemplateErrors.Runtime("groupby: the attribute is missing");
        var fallback = args.Get(1, "default");
        var caseSensitive = args.GetBool(2, "case_sensitive");
        var keyOf = AttributeGetter(attribute, fallback, ignoreCase: !caseSensitive);
        var displayKeyOf = AttributeGetter(attribute, fallback);

        ChargeSort(value);
        var groups = new List<object?>();
        List<object?>? current = null;
        object? currentKey = null;
        foreach (var item in StableSort(Values.Iterate(value), keyOf, reverse: false))
        {
            var key = keyOf(item);
            if (current == null || !Operators.AreEqual(key, currentKey))
            {
                current = [];
                currentKey = key;
                groups.Add(new GroupTuple(caseSensitive ? key : displayKeyOf(item), current));
            }
            current.Add(item);
        }
        return groups;
    }

    /// <summary>Attribute lookup by name; over JSON data that is the key of a map.</summary>
    private static object? Attr(object? value, Arguments args)
    {
        var name = Printer.ToStr(args.Get(0, "name"));
        return Values.TryGetAttribute(value, name, out var found) ? found : new Undefined(null, $"no attribute '{name}'");
    }

    /// <summary>Spindle addition: substring test for strings, membership for lists, key test for maps.</summary>
    private static object? Contains(object? value, Arguments args)
    {
        if (!args.Has(0, "substring")) throw TemplateErrors.Runtime("contains: the value to look for is missing");
        var needle = args.Get(0, "substring");
        return Operators.Contains(value, value is string ? Printer.ToStr(needle) : needle);
    }
}
