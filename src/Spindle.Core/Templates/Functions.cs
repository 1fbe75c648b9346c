using System.Collections.Frozen;

namespace Spindle.Core.Templates;

/// <summary>The global functions of the template language: <c>range</c>, <c>dict</c> and <c>namespace</c>.</summary>
internal static class Functions
{
    public static readonly FrozenDictionary<string, FunctionDefinition> Registry = new FunctionDefinition[]
    {
        new("range", ["start", "stop", "step"], Range),
        new("dict", null, Dict),
        new("namespace", null, NewNamespace),
    }.ToFrozenDictionary(function => function.Name, StringComparer.Ordinal);

    /// <summary><c>range(stop)</c> or <c>range(start, stop[, step])</c>, as in Python.</summary>
    private static object? Range(Arguments args)
    {
        if (args.Names.Length > 0 || args.PositionalCount == 0) throw TemplateErrors.Runtime("range: expected 1 to 3 positional integers");
        var numbers = args.Positional.Select(n => Operators.AsInteger(n, out var i) && n is not bool
            ? i
            : throw TemplateErrors.Runtime($"range: expected integers, not {Values.TypeName(n)}")).ToArray();
        var (start, stop) = numbers.Length == 1 ? (0, numbers[0]) : (numbers[0], numbers[1]);
        var step = numbers.Length == 3 ? numbers[2] : 1;
        if (step == 0) throw TemplateErrors.Runtime("range: step must not be zero");

        // Int128: the distance between two longs may not fit a long.
        var span = step > 0 ? ((Int128)stop - start + step - 1) / step : ((Int128)start - stop - step - 1) / -(Int128)step;
        var count = (long)Int128.Clamp(span, 0, long.MaxValue);
        // The list is paid for, a step per item, before it is made: range(10**9) fails at once.
        TemplateBudget.Current.Steps(count);
        var items = new List<object?>((int)count);
        for (var i = 0L; i < count; i++) items.Add(start + (i * step));
        return items;
    }

    private static object? Dict(Arguments args)
    {
        var map = Values.NewMap();
        foreach (var (key, value) in InitialEntries(args, "dict")) map[key] = value;
        return map;
    }

    private static object? NewNamespace(Arguments args)
    {
        var ns = new Namespace();
        foreach (var (key, value) in InitialEntries(args, "namespace")) ns.Attributes[Printer.ToStr(key)] = value;
        return ns;
    }

    // An optional positional map to copy, then keyword arguments.
    private static IEnumerable<KeyValuePair<object, object?>> InitialEntries(Arguments args, string function)
    {
        if (args.PositionalCount > 1) throw TemplateErrors.Runtime($"{function}: expected at most one positional map");
        var copied = args.PositionalCount == 1
            ? Values.Entries(args.Positional[0]) ?? throw TemplateErrors.Runtime($"{function}: expected a map, not {Values.TypeName(args.Positional[0])}")
            : [];
        return copied.Concat(args.Names.Select((name, i) => new KeyValuePair<object, object?>(name, args.Named[i])));
    }
}
