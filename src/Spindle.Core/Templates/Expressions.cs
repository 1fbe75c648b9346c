namespace Spindle.Core.Templates;

/// <summary>Expression nodes. <see cref="Source"/> is the expression as written; it names undefined values and
/// failing expressions in error messages.</summary>
internal abstract record Expr(string Source);

internal sealed record ConstExpr(object? Value, string Source) : Expr(Source);

internal sealed record NameExpr(string Name, string Source) : Expr(Source);

internal sealed record GetAttrExpr(Expr Target, string Name, string Source) : Expr(Source);

internal sealed record GetItemExpr(Expr Target, Expr Key, string Source) : Expr(Source);

internal sealed record SliceExpr(Expr Target, Expr? Start, Expr? Stop, Expr? Step, string Source) : Expr(Source);

internal sealed record ListExpr(Expr[] Items, string Source) : Expr(Source);

internal sealed record DictExpr(Expr[] Keys, Expr[] Values, string Source) : Expr(Source);

internal enum UnaryOperator { Negate, Plus, Not }

internal sealed record UnaryExpr(UnaryOperator Operator, Expr Operand, string Source) : Expr(Source);

internal enum BinaryOperator { Add, Subtract, Multiply, Divide, FloorDivide, Modulo, Power, Concat, And, Or }

internal sealed record BinaryExpr(BinaryOperator Operator, Expr Left, Expr Right, string Source) : Expr(Source);

internal enum CompareOperator { Equal, NotEqual, Less, LessOrEqual, Greater, GreaterOrEqual, In, NotIn }

/// <summary>A comparison chain: <c>a &lt; b &lt;= c</c> means <c>a &lt; b and b &lt;= c</c>, as in Python.</summary>
internal sealed record CompareExpr(Expr First, CompareOperator[] Operators, Expr[] Operands, string Source) : Expr(Source);

/// <summary><c>then if condition else otherwise</c>; without <c>else</c> a false condition gives undefined.</summary>
internal sealed record ConditionalExpr(Expr Condition, Expr Then, Expr? Otherwise, string Source) : Expr(Source);

internal sealed record FilterExpr(Expr Value, FilterDefinition Filter, CallArguments Arguments, string Source) : Expr(Source);

internal sealed record TestExpr(Expr Value, TestDefinition Test, CallArguments Arguments, bool Negated, string Source) : Expr(Source);

internal sealed record FunctionCallExpr(FunctionDefinition Function, CallArguments Arguments, string Source) : Expr(Source);

internal sealed record MethodCallExpr(Expr Target, string Method, CallArguments Arguments, string Source) : Expr(Source);

/// <summary>Arguments as written in a call: positional ones, then keyword ones.</summary>
internal sealed record CallArguments(Expr[] Positional, string[] Names, Expr[] Named)
{
    public static readonly CallArguments None = new([], [], []);

    public bool IsEmpty => Positional.Length == 0 && Names.Length == 0;
}
