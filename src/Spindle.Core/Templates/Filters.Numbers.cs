using System.Globalization;

namespace Spindle.Core.Templates;

/// <summary>Number and type conversion filters with Jinja's forgiving rules: unparsable input gives the default.</summary>
internal static partial class Filters
{
    private static object? Int(object? value, Arguments args)
    {
        var fallback = args.Get(0, "default", 0L);
        var numberBase = Integer(args.Get(1, "base", 10L), "int", "base");
        switch (value)
        {
            case long or bool:
                return Operators.AsInteger(value, out var integer) ? integer : fallback;
            case double d:
                return Truncate(d) ?? fallback;
            case string s:
                if (TryParseInteger(s, numberBase, out var parsed)) return parsed;
                return TryParseFloat(s, out var number) ? Truncate(number) ?? fallback : fallback;
            default:
                return fallback;
        }
    }

    private static long? Truncate(double value)
    {
        if (double.IsNaN(value)) return null;
        var truncated = Math.Truncate(value);
        return truncated is >= long.MinValue and < long.MaxValue
            ? (long)truncated
            : throw TemplateErrors.Runtime($"int: {Printer.FormatFloat(value)} is too large for an integer");
    }

    /// <summary>Python's <c>int(text, base)</c>: surrounding whitespace, a sign, underscores between digits, and
    /// a 0x/0o/0b prefix matching the base.</summary>
    private static bool TryParseInteger(string text, long numberBase, out long result)
    {
        TemplateBudget.Current.Text(text.Length);
        result = 0;
        if (numberBase is < 2 or > 36) throw TemplateErrors.Runtime("int: 'base' must be between 2 and 36");
        var s = text.AsSpan().Trim();
        var negative = s.Length > 0 && s[0] == '-';
        if (s.Length > 0 && s[0] is '-' or '+') s = s[1..];
        if (s.Length > 2 && s[0] == '0' && (char.ToLowerInvariant(s[1]), numberBase) is ('x', 16) or ('o', 8) or ('b', 2)) s = s[2..];
        if (s.Length == 0 || s[0] == '_' || s[^1] == '_') return false;

        var value = 0L;
        for (var i = 0; i < s.Length; i++)
        {
            var c = char.ToLowerInvariant(s[i]);
            if (c == '_' && s[i - 1] != '_') continue;
            var digit = char.IsAsciiDigit(c) ? c - '0' : char.IsAsciiLetterLower(c) ? c - 'a' + 10 : int.MaxValue;
            if (digit >= numberBase) return false;
            try
            {
                value = checked((value * numberBase) + digit);
            }
            catch (OverflowException)
            {
                throw TemplateErrors.Runtime($"int: '{text}' is too large for an integer");
            }
        }
        result = negative ? -value : value;
        return true;
    }

    private static object? Float(object? value, Arguments args)
    {
        var fallback = args.Get(0, "default", 0.0);
        return value switch
        {
            string s => TryParseFloat(s, out var parsed) ? parsed : fallback,
            _ => Operators.AsFloat(value, out var number) ? number : fallback,
        };
    }

    /// <summary>Python's <c>float(text)</c>: decimal or exponent notation, inf, infinity and nan in any case.</summary>
    private static bool TryParseFloat(string text, out double result)
    {
        TemplateBudget.Current.Text(text.Length);
        var s = text.AsSpan().Trim();
        var negative = s.Length > 0 && s[0] == '-';
        var body = s.Length > 0 && s[0] is '+' or '-' ? s[1..] : s;
        if (body.Equals("inf", StringComparison.OrdinalIgnoreCase) || body.Equals("infinity", StringComparison.OrdinalIgnoreCase))
        {
            result = negative ? double.NegativeInfinity : double.PositiveInfinity;
            return true;
        }
        if (body.Equals("nan", StringComparison.OrdinalIgnoreCase))
        {
            result = double.NaN;
            return true;
        }
        // .NET also reads its own spellings ("Infinity", "∞"), so only a digit or '.' may start a number here.
        result = 0;
        return body.Length > 0 && (char.IsAsciiDigit(body[0]) || body[0] == '.')
            && double.TryParse(s, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out result);
    }

    /// <summary><c>round(precision, method)</c>: 'common' rounds half to even like Python's round() and keeps
    /// integers integers; 'ceil' and 'floor' always give floats.</summary>
    private static object? Round(object? value, Arguments args)
    {
        var precision = Integer(args.Get(0, "precision", 0L), "round", "precision");
        var method = args.Get(1, "method", "common");
        if (method is not ("common" or "ceil" or "floor")) throw TemplateErrors.Runtime("round: 'method' must be 'common', 'ceil' or 'floor'");
        if (!Operators.AsFloat(value, out var number)) throw TemplateErrors.Runtime($"round: expected a number, not {Values.TypeName(value)}");

        if (method is "common")
        {
            if (value is long or bool) return RoundInteger(Operators.AsInteger(value, out var integer) ? integer : 0, precision);
            if (precision > 15) return number;
            if (precision >= 0) return Math.Round(number, (int)precision, MidpointRounding.ToEven);
            var step = Math.Pow(10, -precision);
            return Math.Round(number / step, MidpointRounding.ToEven) * step;
        }
        var factor = Math.Pow(10, precision);
        var scaled = number * factor;
        return (method is "ceil" ? Math.Ceiling(scaled) : Math.Floor(scaled)) / factor;
    }

    private static long RoundInteger(long value, long precision)
    {
        if (precision >= 0) return value;
        if (precision < -18) return 0;
        var step = (long)Math.Pow(10, -precision);
        var quotient = (long)Operators.Binary(BinaryOperator.FloorDivide, value, step)!;
        var remainder = value - (quotient * step);
        if ((remainder * 2) > step || ((remainder * 2) == step && quotient % 2 != 0)) quotient++;
        return quotient * step;
    }

    private static object? Abs(object? value, Arguments args) => value switch
    {
        long l => l == long.MinValue ? throw TemplateErrors.Runtime("integer overflow") : (object)Math.Abs(l),
        double d => Math.Abs(d),
        bool b => b ? 1L : 0L,
        _ => throw TemplateErrors.Runtime($"abs: expected a number, not {Values.TypeName(value)}"),
    };
}
