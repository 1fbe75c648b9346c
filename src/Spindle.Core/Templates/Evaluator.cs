using System.Runtime.CompilerServices;

namespace Spindle.Core.Templates;

/// <summary>Evaluates expression nodes. Undefined values flow only through lookups and into default/coalesce
/// and the defined tests; every other consumer calls <see cref="Values.Defined"/> (undefined values are strict).</summary>
internal static class Evaluator
{
    /// <summary>Each node evaluated is a step. The depth is not restored when an exception escapes: it ends the
    /// whole evaluation (nothing inside catches), and the context is not reused.</summary>
    public static object? Evaluate(Expr expr, RenderContext context)
    {
        context.Budget.Step();
        if (++context.Depth > context.Budget.Limits.MaxDepth) context.Budget.CheckDepth(context.Depth);
        // Only matters when the depth limit is configured deeper than the thread's stack allows.
        if ((context.Depth & 15) == 0) RuntimeHelpers.EnsureSufficientExecutionStack();
        var result = EvaluateNode(expr, context);
        context.Depth--;
        return result;
    }

    private static object? EvaluateNode(Expr expr, RenderContext context)
    {
        switch (expr)
        {
            case ConstExpr c:
                return c.Value;
            case NameExpr name:
                return context.TryLookup(name.Name, out var value) ? value : new Undefined(name.Source);
            case GetAttrExpr attr:
                var owner = Evaluate(attr.Target, context);
                return owner is not Undefined && Values.TryGetAttribute(owner, attr.Name, out var field) ? field : new Undefined(attr.Source);
            case GetItemExpr item:
                var container = Evaluate(item.Target, context);
                var key = Values.Defined(Evaluate(item.Key, context));
                return container is not Undefined && Values.TryGetItem(container, key, out var element) ? element : new Undefined(item.Source);
            case FilterExpr filter:
                return EvaluateFilter(filter, context);
            case CompareExpr compare:
                return EvaluateCompare(compare, context);
            case BinaryExpr binary:
                return EvaluateBinary(binary, context);
            case TestExpr test:
                var tested = Evaluate(test.Value, context);
                if (!test.Test.AcceptsUndefined) Values.Defined(tested);
                return test.Test.Invoke(tested, EvaluateArguments(test.Arguments, context, allowUndefined: false)) != test.Negated;
            case UnaryExpr unary:
                var operand = Evaluate(unary.Operand, context);
                return unary.Operator switch
                {
                    UnaryOperator.Not => !Values.IsTrue(operand),
                    UnaryOperator.Negate => Operators.Negate(operand),
                    _ => Operators.Plus(operand),
                };
            case ConditionalExpr conditional:
                if (Values.IsTrue(Evaluate(conditional.Condition, context))) return Evaluate(conditional.Then, context);
                return conditional.Otherwise == null
                    ? new Undefined(conditional.Source, "the condition is false and there is no else")
                    : Evaluate(conditional.Otherwise, context);
            case SliceExpr slice:
                var sliced = Evaluate(slice.Target, context);
                var start = Optional(slice.Start, context);
                var stop = Optional(slice.Stop, context);
                var step = Optional(slice.Step, context);
                return sliced is not Undefined && Values.TrySlice(sliced, start, stop, step, out var part) ? part : new Undefined(slice.Source);
            case ListExpr list:
                var items = new List<object?>(list.Items.Length);
                foreach (var itemExpr in list.Items) items.Add(Values.Defined(Evaluate(itemExpr, context)));
                return items;
            case DictExpr dict:
                var map = Values.NewMap(dict.Keys.Length);
                for (var i = 0; i < dict.Keys.Length; i++)
                {
                    var mapKey = Values.Defined(Evaluate(dict.Keys[i], context)) ?? throw TemplateErrors.Runtime($"none cannot be a map key in '{dict.Source}'");
                    map[mapKey] = Values.Defined(Evaluate(dict.Values[i], context));
                }
                return map;
            case FunctionCallExpr call:
                return call.Function.Invoke(EvaluateArguments(call.Arguments, context, allowUndefined: false));
            case MethodCallExpr method:
                var target = Values.Defined(Evaluate(method.Target, context));
                return Methods.Call(target, method.Method, EvaluateArguments(method.Arguments, context, allowUndefined: false), method.Source);
            default:
                throw new InvalidOperationException($"unknown expression node {expr.GetType().Name}");
        }
    }

    private static object? Optional(Expr? expr, RenderContext context) => expr == null ? null : Values.Defined(Evaluate(expr, context));

    private static object? EvaluateFilter(FilterExpr filter, RenderContext context)
    {
        var value = Evaluate(filter.Value, context);
        if (!filter.Filter.AcceptsUndefined) Values.Defined(value);
        var args = EvaluateArguments(filter.Arguments, context, filter.Filter.AcceptsUndefined);
        var result = filter.Filter.Invoke(value, args);
        // Filters such as first or min return a nameless undefined for an empty input; name it after the call.
        return result is Undefined { Name: null } undefined ? undefined.WithName(filter.Source) : result;
    }

    private static object? EvaluateBinary(BinaryExpr binary, RenderContext context)
    {
        var left = Evaluate(binary.Left, context);
        switch (binary.Operator)
        {
            case BinaryOperator.And:
                return Values.IsTrue(left) ? Evaluate(binary.Right, context) : left;
            case BinaryOperator.Or:
                return Values.IsTrue(left) ? left : Evaluate(binary.Right, context);
            default:
                return Operators.Binary(binary.Operator, left, Evaluate(binary.Right, context));
        }
    }

    private static bool EvaluateCompare(CompareExpr compare, RenderContext context)
    {
        var left = Evaluate(compare.First, context);
        for (var i = 0; i < compare.Operators.Length; i++)
        {
            var right = Evaluate(compare.Operands[i], context);
            if (!Operators.Compare(compare.Operators[i], left, right)) return false;
            left = right;
        }
        return true;
    }

    private static Arguments EvaluateArguments(CallArguments args, RenderContext context, bool allowUndefined)
    {
        if (args.IsEmpty) return Arguments.None;
        var positional = new object?[args.Positional.Length];
        for (var i = 0; i < positional.Length; i++) positional[i] = Argument(args.Positional[i]);
        var named = new object?[args.Named.Length];
        for (var i = 0; i < named.Length; i++) named[i] = Argument(args.Named[i]);
        return new Arguments(positional, args.Names, named);

        object? Argument(Expr expr)
        {
            var value = Evaluate(expr, context);
            return allowUndefined ? value : Values.Defined(value);
        }
    }
}
