namespace Spindle.Core.Templates;

/// <summary>
/// Python methods that templates commonly call on values: <c>d.items()</c>, <c>d.get(k, x)</c>,
/// <c>s.upper()</c>, <c>s.split(',')</c>, <c>loop.cycle('odd', 'even')</c>. A call always means the method,
/// even when a map also has a key of that name; plain access (<c>d.items</c>) reads the key.
/// </summary>
internal static class Methods
{
    public static object? Call(object? target, string method, Arguments args, string source)
    {
        var result = target switch
        {
            string s => CallString(s, method, args),
            LoopContext loop when method == "cycle" && args.PositionalCount > 0 => args.Positional[loop.Index0 % args.PositionalCount],
            _ when Values.IsMap(target) => CallMap(target, method, args),
            _ => NotFound.Value,
        };
        return ReferenceEquals(result, NotFound.Value)
            ? throw TemplateErrors.Runtime($"'{source}': a {Values.TypeName(target)} value has no method '{method}'")
            : result;
    }

    private static object? CallMap(object? map, string method, Arguments args) => method switch
    {
        "items" => Values.Entries(map)!.Select(pair => (object?)new List<object?> { pair.Key, pair.Value }).ToList(),
        "keys" => Values.Entries(map)!.Select(pair => (object?)pair.Key).ToList(),
        "values" => Values.Entries(map)!.Select(pair => pair.Value).ToList(),
        "get" => Values.TryGetItem(map, args.Get(0, "key"), out var value) ? value : args.Get(1, "default"),
        _ => NotFound.Value,
    };

    private static object? CallString(string s, string method, Arguments args)
    {
        // Every string method scans or copies the string.
        TemplateBudget.Current.Text(s.Length);
        return CallStringMethod(s, method, args);
    }

    private static object? CallStringMethod(string s, string method, Arguments args) => method switch
    {
        "upper" => Filters.Made(s.ToUpperInvariant()),
        "lower" => Filters.Made(s.ToLowerInvariant()),
        "title" => Filters.Made(PyString.Title(s)),
        "capitalize" => Filters.Made(PyString.Capitalize(s)),
        "strip" => PyString.Strip(s, OptionalString(args.Get(0, "chars"))),
        "lstrip" => PyString.Strip(s, OptionalString(args.Get(0, "chars")), end: false),
        "rstrip" => PyString.Strip(s, OptionalString(args.Get(0, "chars")), start: false),
        "split" => PyString.Split(s, OptionalString(args.Get(0, "sep")), args.Get(1, "maxsplit") is long max ? max : -1),
        "splitlines" => PyString.SplitLines(s),
        "startswith" => Affixes(args.Get(0, "prefix")).Any(prefix => s.StartsWith(prefix, StringComparison.Ordinal)),
        "endswith" => Affixes(args.Get(0, "suffix")).Any(suffix => s.EndsWith(suffix, StringComparison.Ordinal)),
        "replace" => PyString.Replace(s, Printer.ToStr(args.Get(0, "old")), Printer.ToStr(args.Get(1, "new")), args.Get(2, "count") is long count ? count : -1),
        "join" => Filters.JoinText(s, Values.Iterate(args.Get(0, "iterable"))),
        _ => NotFound.Value,
    };

    private static string? OptionalString(object? value) => value switch
    {
        null => null,
        string s => s,
        _ => throw TemplateErrors.Runtime($"expected a string argument, not {Values.TypeName(value)}"),
    };

    // startswith/endswith accept one string or a list of alternatives.
    private static IEnumerable<string> Affixes(object? value) =>
        value is string s ? [s] : Values.Iterate(value).Select(Printer.ToStr);

    /// <summary>Marks "no such method" apart from a method that returns none.</summary>
    private sealed class NotFound
    {
        public static readonly NotFound Value = new();
    }
}
