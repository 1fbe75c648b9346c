namespace Spindle.Core.Templates;

internal delegate object? FilterFunction(object? value, Arguments args);

internal delegate bool TestFunction(object? value, Arguments args);

internal delegate object? BuiltinFunction(Arguments args);

/// <summary>Parameter names of a filter, test or function, in positional order; a last name "*" accepts any
/// number of further positional arguments, and null accepts anything (the callee checks). Calls are checked at
/// parse time so that typos surface as deploy warnings.</summary>
internal abstract record Callable(string Kind, string Name, string[]? Parameters)
{
    public string? Check(CallArguments args)
    {
        if (Parameters == null) return null;
        var variadic = Parameters.Length > 0 && Parameters[^1] == "*";
        var maximum = variadic ? int.MaxValue : Parameters.Length;
        if (args.Positional.Length > maximum)
        {
            return $"{Kind} '{Name}' takes at most {maximum} argument(s), got {args.Positional.Length}";
        }
        foreach (var name in args.Names)
        {
            var index = Array.IndexOf(Parameters, name);
            if (index < 0) return $"{Kind} '{Name}' has no argument named '{name}'";
            if (index < args.Positional.Length) return $"{Kind} '{Name}' got argument '{name}' twice";
        }
        return null;
    }
}

/// <summary>A filter; only <c>default</c> and <c>coalesce</c> may receive undefined values (docs/workflow-format.md, Templates).</summary>
internal sealed record FilterDefinition(string Name, string[]? Parameters, FilterFunction Invoke, bool AcceptsUndefined = false)
    : Callable("filter", Name, Parameters);

internal sealed record TestDefinition(string Name, string[]? Parameters, TestFunction Invoke, bool AcceptsUndefined = false)
    : Callable("test", Name, Parameters);

internal sealed record FunctionDefinition(string Name, string[]? Parameters, BuiltinFunction Invoke)
    : Callable("function", Name, Parameters);

/// <summary>Evaluated call arguments. A parameter is read by its position or, failing that, by its name.</summary>
internal readonly struct Arguments(object?[] positional, string[] names, object?[] named)
{
    public static readonly Arguments None = new([], [], []);

    public object?[] Positional { get; } = positional;

    public string[] Names { get; } = names;

    public object?[] Named { get; } = named;

    public int PositionalCount => Positional.Length;

    /// <summary>Whether the parameter at <paramref name="index"/> (-1: keyword-only) was given.</summary>
    public bool Has(int index, string name) => (index >= 0 && index < Positional.Length) || Array.IndexOf(Names, name) >= 0;

    public object? Get(int index, string name, object? fallback = null)
    {
        if (index >= 0 && index < Positional.Length) return Positional[index];
        var at = Array.IndexOf(Names, name);
        return at >= 0 ? Named[at] : fallback;
    }

    public bool GetBool(int index, string name, bool fallback = false) =>
        Has(index, name) ? Values.IsTrue(Get(index, name)) : fallback;

    /// <summary>Arguments from <paramref name="skip"/> on, for filters that forward them (map, select...).</summary>
    public Arguments Skip(int skip) =>
        skip == 0 ? this : new Arguments(Positional.Length > skip ? Positional[skip..] : [], Names, Named);
}
