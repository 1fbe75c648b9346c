using System.Collections.Frozen;

namespace Spindle.Core.Templates;

/// <summary>The template tests (<c>x is defined</c>, <c>x is divisibleby 3</c>), with Jinja's aliases so that
/// <c>select('equalto', 1)</c> and <c>selectattr('n', '&gt;', 2)</c> work too.</summary>
internal static class Tests
{
    public static readonly FrozenDictionary<string, TestDefinition> Registry = new TestDefinition[]
    {
        new("defined", [], (v, _) => v is not Undefined, AcceptsUndefined: true),
        new("undefined", [], (v, _) => v is Undefined, AcceptsUndefined: true),
        new("none", [], (v, _) => v is null),
        new("true", [], (v, _) => v is true),
        new("false", [], (v, _) => v is false),
        new("boolean", [], (v, _) => v is bool),
        // Python counts booleans as numbers but not as integers.
        new("number", [], (v, _) => Values.IsNumber(v)),
        new("integer", [], (v, _) => v is long),
        new("float", [], (v, _) => v is double),
        new("string", [], (v, _) => v is string),
        new("sequence", [], (v, _) => v is string || Values.IsSequence(v) || Values.IsMap(v)),
        new("mapping", [], (v, _) => Values.IsMap(v)),
        new("iterable", [], (v, _) => v is string || Values.IsSequence(v) || Values.IsMap(v)),
        // Python's islower/isupper: some cased character, none of the other case.
        new("lower", [], (v, _) => v is string s && Scanned(s).Any(char.IsLower) && !s.Any(char.IsUpper)),
        new("upper", [], (v, _) => v is string s && Scanned(s).Any(char.IsUpper) && !s.Any(char.IsLower)),
        new("even", [], (v, _) => IsMultiple(v, 2L)),
        new("odd", [], (v, _) => !IsMultiple(v, 2L)),
        new("divisibleby", ["num"], (v, a) => IsMultiple(v, a.Get(0, "num"))),
        Compare("eq", CompareOperator.Equal),
        Compare("equalto", CompareOperator.Equal),
        Compare("==", CompareOperator.Equal),
        Compare("ne", CompareOperator.NotEqual),
        Compare("!=", CompareOperator.NotEqual),
        Compare("lt", CompareOperator.Less),
        Compare("lessthan", CompareOperator.Less),
        Compare("<", CompareOperator.Less),
        Compare("le", CompareOperator.LessOrEqual),
        Compare("<=", CompareOperator.LessOrEqual),
        Compare("gt", CompareOperator.Greater),
        Compare("greaterthan", CompareOperator.Greater),
        Compare(">", CompareOperator.Greater),
        Compare("ge", CompareOperator.GreaterOrEqual),
        Compare(">=", CompareOperator.GreaterOrEqual),
        new("in", ["seq"], (v, a) => Operators.Contains(a.Get(0, "seq"), v)),
        new("startingwith", ["prefix"], (v, a) => v is string s && s.StartsWith(Printer.ToStr(a.Get(0, "prefix")), StringComparison.Ordinal)),
        new("endingwith", ["suffix"], (v, a) => v is string s && s.EndsWith(Printer.ToStr(a.Get(0, "suffix")), StringComparison.Ordinal)),
    }.ToFrozenDictionary(test => test.Name, StringComparer.Ordinal);

    private static string Scanned(string s)
    {
        TemplateBudget.Current.Text(s.Length);
        return s;
    }

    private static TestDefinition Compare(string name, CompareOperator op) =>
        new(name, ["other"], (v, a) => Operators.Compare(op, v, a.Get(0, "other")));

    private static bool IsMultiple(object? value, object? divisor) =>
        Operators.AreEqual(Operators.Binary(BinaryOperator.Modulo, value, divisor), 0L);
}
