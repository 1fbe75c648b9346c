namespace Spindle.Core.Templates;

/// <summary>Arithmetic, comparison and membership with Python semantics: <c>/</c> always gives a float,
/// <c>//</c> and <c>%</c> round towards negative infinity, integers mix with floats, booleans count as 0 and 1.</summary>
internal static class Operators
{
    public static object? Binary(BinaryOperator op, object? left, object? right)
    {
        Values.Defined(left);
        Values.Defined(right);
        if (op == BinaryOperator.Concat) return Concat(Printer.ToStr(left), Printer.ToStr(right));
        if (AsInteger(left, out var a) && AsInteger(right, out var b)) return IntegerArithmetic(op, a, b);
        if (AsFloat(left, out var x) && AsFloat(right, out var y)) return FloatArithmetic(op, x, y);

        switch (op)
        {
            case BinaryOperator.Add when left is string s && right is string t:
                return Concat(s, t);
            case BinaryOperator.Add when Values.IsSequence(left) && Values.IsSequence(right):
                // Iterate pays a step per item of both sides, which is the copy.
                return Values.Iterate(left).Concat(Values.Iterate(right)).ToList();
            case BinaryOperator.Multiply when AsInteger(right, out var times) && !Values.IsNumber(left):
                return Repeat(left, times);
            case BinaryOperator.Multiply when AsInteger(left, out var times) && !Values.IsNumber(right):
                return Repeat(right, times);
        }
        throw TemplateErrors.Runtime($"unsupported operand types for {Symbol(op)}: {Values.TypeName(left)} and {Values.TypeName(right)}");
    }

    // Arms are cast to object: a switch mixing long and double arms would be typed double.
    public static object Negate(object? value) => Values.Defined(value) switch
    {
        long l => l == long.MinValue ? throw Overflow() : (object)-l,
        double d => -d,
        bool b => b ? -1L : 0L,
        _ => throw TemplateErrors.Runtime($"bad operand type for unary -: {Values.TypeName(value)}"),
    };

    public static object Plus(object? value) => Values.Defined(value) switch
    {
        long l => (object)l,
        double d => d,
        bool b => b ? 1L : 0L,
        _ => throw TemplateErrors.Runtime($"bad operand type for unary +: {Values.TypeName(value)}"),
    };

    private static string Concat(string s, string t)
    {
        TemplateBudget.Current.NewString((long)s.Length + t.Length);
        return string.Concat(s, t);
    }

    /// <summary><c>'x' * n</c> and <c>[x] * n</c>: the result's size is checked and paid for before it is built.</summary>
    private static object Repeat(object? value, long times)
    {
        var count = (int)Math.Clamp(times, 0, int.MaxValue);
        var budget = TemplateBudget.Current;
        if (value is string s)
        {
            budget.NewString(TemplateBudget.Times(s.Length, count));
            return RepeatString(s, count);
        }
        if (Values.IsSequence(value))
        {
            var items = Values.Iterate(value);
            budget.Steps(TemplateBudget.Times(items.Count, count));
            var repeated = new List<object?>(items.Count * count);
            for (var i = 0; i < count; i++) repeated.AddRange(items);
            return repeated;
        }
        throw TemplateErrors.Runtime($"unsupported operand types for *: {Values.TypeName(value)} and integer");
    }

    // Copies in doubling blocks: a million one-character pieces would cost a million appends.
    private static string RepeatString(string s, int count)
    {
        if (s.Length == 0 || count == 0) return "";
        if (s.Length == 1) return new string(s[0], count);
        return string.Create(s.Length * count, s, static (span, text) =>
        {
            text.AsSpan().CopyTo(span);
            var filled = text.Length;
            while (filled < span.Length)
            {
                var block = Math.Min(filled, span.Length - filled);
                span[..block].CopyTo(span[filled..]);
                filled += block;
            }
        });
    }

    private static object IntegerArithmetic(BinaryOperator op, long a, long b)
    {
        try
        {
            checked
            {
                switch (op)
                {
                    case BinaryOperator.Add: return a + b;
                    case BinaryOperator.Subtract: return a - b;
                    case BinaryOperator.Multiply: return a * b;
                    case BinaryOperator.Divide: return b == 0 ? throw DivisionByZero() : (double)a / b;
                    case BinaryOperator.FloorDivide:
                        if (b == 0) throw DivisionByZero();
                        var quotient = a / b;
                        return a % b != 0 && (a < 0) != (b < 0) ? quotient - 1 : quotient;
                    case BinaryOperator.Modulo:
                        if (b == 0) throw DivisionByZero();
                        var remainder = a % b;
                        return remainder != 0 && (remainder < 0) != (b < 0) ? remainder + b : remainder;
                    default:
                        if (b >= 0) return IntegerPower(a, b);
                        return FloatArithmetic(op, a, b);
                }
            }
        }
        catch (OverflowException)
        {
            throw Overflow();
        }
    }

    private static long IntegerPower(long value, long exponent)
    {
        var result = 1L;
        checked
        {
            while (exponent > 0)
            {
                if ((exponent & 1) == 1) result *= value;
                exponent >>= 1;
                if (exponent > 0) value *= value;
            }
        }
        return result;
    }

    private static double FloatArithmetic(BinaryOperator op, double x, double y)
    {
        switch (op)
        {
            case BinaryOperator.Add: return x + y;
            case BinaryOperator.Subtract: return x - y;
            case BinaryOperator.Multiply: return x * y;
            case BinaryOperator.Divide: return y == 0 ? throw DivisionByZero() : x / y;
            case BinaryOperator.FloorDivide: return y == 0 ? throw DivisionByZero() : Math.Floor(x / y);
            case BinaryOperator.Modulo:
                if (y == 0) throw DivisionByZero();
                var remainder = x % y;
                return remainder != 0 && (remainder < 0) != (y < 0) ? remainder + y : remainder;
            default:
                return x == 0 && y < 0 ? throw DivisionByZero() : Math.Pow(x, y);
        }
    }

    public static bool Compare(CompareOperator op, object? left, object? right) => op switch
    {
        CompareOperator.Equal => AreEqual(left, right),
        CompareOperator.NotEqual => !AreEqual(left, right),
        CompareOperator.Less => Order(left, right, "<") < 0,
        CompareOperator.LessOrEqual => Order(left, right, "<=") <= 0,
        CompareOperator.Greater => Order(left, right, ">") > 0,
        CompareOperator.GreaterOrEqual => Order(left, right, ">=") >= 0,
        CompareOperator.In => Contains(right, left),
        _ => !Contains(right, left),
    };

    public static bool AreEqual(object? a, object? b)
    {
        Values.Defined(a);
        Values.Defined(b);
        switch (a)
        {
            case null: return b is null;
            case string s:
                if (b is not string t) return false;
                TemplateBudget.Current.Text(Math.Min(s.Length, t.Length));
                return s == t;
            case long or double or bool:
                if (AsInteger(a, out var i) && AsInteger(b, out var j)) return i == j;
                return AsFloat(a, out var x) && AsFloat(b, out var y) && x == y;
        }
        if (Values.IsSequence(a) && Values.IsSequence(b))
        {
            var left = Values.Iterate(a);
            var right = Values.Iterate(b);
            if (left.Count != right.Count) return false;
            for (var k = 0; k < left.Count; k++)
            {
                if (!AreEqual(left[k], right[k])) return false;
            }
            return true;
        }
        if (Values.Entries(a) is { } entries && Values.IsMap(b) && Values.IsMap(a))
        {
            if (Values.Length(a) != Values.Length(b)) return false;
            foreach (var (key, value) in entries)
            {
                if (!Values.TryGetItem(b, key, out var other) || !AreEqual(value, other)) return false;
            }
            return true;
        }
        return ReferenceEquals(a, b);
    }

    /// <summary>Python ordering: numbers with numbers, strings by code unit, lists element by element.</summary>
    public static int Order(object? a, object? b, string symbol = "<")
    {
        Values.Defined(a);
        Values.Defined(b);
        if (AsInteger(a, out var i) && AsInteger(b, out var j)) return i.CompareTo(j);
        if (AsFloat(a, out var x) && AsFloat(b, out var y)) return x.CompareTo(y);
        if (a is string s && b is string t)
        {
            TemplateBudget.Current.Text(Math.Min(s.Length, t.Length));
            return Math.Sign(string.CompareOrdinal(s, t));
        }
        if (Values.IsSequence(a) && Values.IsSequence(b))
        {
            var left = Values.Iterate(a);
            var right = Values.Iterate(b);
            for (var k = 0; k < left.Count && k < right.Count; k++)
            {
                if (!AreEqual(left[k], right[k])) return Order(left[k], right[k], symbol);
            }
            return left.Count.CompareTo(right.Count);
        }
        throw TemplateErrors.Runtime($"'{symbol}' is not supported between {Values.TypeName(a)} and {Values.TypeName(b)}");
    }

    /// <summary><c>item in container</c>: substring, list membership or map key.</summary>
    public static bool Contains(object? container, object? item)
    {
        Values.Defined(item);
        switch (Values.Defined(container))
        {
            case string s:
                return item is string sub
                    ? SearchedFor(s, sub).Contains(sub, StringComparison.Ordinal)
                    : throw TemplateErrors.Runtime($"'in <string>' requires a string on the left, not {Values.TypeName(item)}");
            case System.Text.Json.Nodes.JsonObject obj:
                return item is string key && obj.ContainsKey(Hashed(key));
            case OrderedDictionary<object, object?> map:
                return item != null && map.ContainsKey(item);
        }
        if (!Values.IsSequence(container)) throw TemplateErrors.Runtime($"a {Values.TypeName(container)} value is not a container");
        foreach (var element in Values.Iterate(container))
        {
            if (AreEqual(element, item)) return true;
        }
        return false;
    }

    // A key is hashed or compared in full.
    private static string Hashed(string key)
    {
        TemplateBudget.Current.Text(key.Length);
        return key;
    }

    private static string SearchedFor(string s, string sub)
    {
        TemplateBudget.Current.Search(s.Length, sub.Length);
        return s;
    }

    public static bool AsInteger(object? value, out long result)
    {
        switch (value)
        {
            case long l: result = l; return true;
            case bool b: result = b ? 1 : 0; return true;
            default: result = 0; return false;
        }
    }

    public static bool AsFloat(object? value, out double result)
    {
        switch (value)
        {
            case double d: result = d; return true;
            case long l: result = l; return true;
            case bool b: result = b ? 1 : 0; return true;
            default: result = 0; return false;
        }
    }

    private static string Symbol(BinaryOperator op) => op switch
    {
        BinaryOperator.Add => "+",
        BinaryOperator.Subtract => "-",
        BinaryOperator.Multiply => "*",
        BinaryOperator.Divide => "/",
        BinaryOperator.FloorDivide => "//",
        BinaryOperator.Modulo => "%",
        BinaryOperator.Power => "**",
        _ => op.ToString(),
    };

    private static TemplateException DivisionByZero() => TemplateErrors.Runtime("division by zero");

    private static TemplateException Overflow() => TemplateErrors.Runtime("integer overflow");
}
