using System.Globalization;
using System.Text;

namespace Spindle.Core.Templates;

/// <summary>
/// Turns values into text: printing inside string templates (docs/workflow-format.md, Templates: <c>true</c>, <c>none</c>,
/// <c>[1, "a"]</c>, Python float repr) and the <c>tojson</c> filter.
/// </summary>
internal static class Printer
{
    // Only a namespace that contains itself gets this deep; it must fail instead of overflowing the stack.
    private const int MaxDepth = 512;

    // Printing a list or map costs a few steps beyond its items: it walks a container and its entries.
    private const int ContainerSteps = 4;

    /// <summary>The value as text. Reading a string is charged to the current budget: every caller goes on to
    /// scan or copy it.</summary>
    public static string ToStr(object? value)
    {
        switch (value)
        {
            case string s:
                TemplateBudget.Current.Text(s.Length);
                return s;
            case long l:
                return l.ToString(CultureInfo.InvariantCulture);
            default:
                return Append(new StringBuilder(), value, quoteStrings: false, 0).ToString();
        }
    }

    public static void AppendStr(StringBuilder sb, object? value) => Append(sb, value, quoteStrings: false, 0);

    private static StringBuilder Append(StringBuilder sb, object? value, bool quoteStrings, int depth)
    {
        CheckDepth(depth);
        switch (value)
        {
            case null: return sb.Append("none");
            case bool b: return sb.Append(b ? "true" : "false");
            case long l: return sb.Append(l.ToString(CultureInfo.InvariantCulture));
            case double d: return sb.Append(FormatFloat(d));
            case string s:
                TemplateBudget.Current.Append(sb, s.Length);
                return quoteStrings ? AppendQuoted(sb, s, htmlSafe: false) : sb.Append(s);
            case Undefined u: throw u.ToException();
            case LoopContext loop: return sb.Append("<loop ").Append(loop.Index0 + 1).Append('/').Append(loop.Items.Count).Append('>');
        }

        if (Values.Entries(value) is { } entries)
        {
            TemplateBudget.Current.Steps(ContainerSteps);
            sb.Append('{');
            var first = true;
            foreach (var (key, item) in entries)
            {
                if (!first) sb.Append(", ");
                first = false;
                Append(sb, key, quoteStrings: true, depth + 1).Append(": ");
                Append(sb, item, quoteStrings: true, depth + 1);
                TemplateBudget.Current.Steps(1);
                TemplateBudget.Current.CheckSize(sb.Length);
            }
            return sb.Append('}');
        }

        sb.Append('[');
        var items = Values.Iterate(value);
        var budget = TemplateBudget.Current;
        budget.Steps(ContainerSteps);
        for (var i = 0; i < items.Count; i++)
        {
            if (i > 0) sb.Append(", ");
            Append(sb, items[i], quoteStrings: true, depth + 1);
            budget.CheckSize(sb.Length);
        }
        return sb.Append(']');
    }

    /// <summary>Python's float repr: the shortest digits that read back the same, always with a '.' or an
    /// exponent, and an exponent only below 1e-4 or from 1e16 on (<c>2.0</c>, <c>1e-05</c>, <c>1e+20</c>).</summary>
    public static string FormatFloat(double value)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsInfinity(value)) return value > 0 ? "inf" : "-inf";
        if (value == 0) return double.IsNegative(value) ? "-0.0" : "0.0";

        var shortest = value.ToString("R", CultureInfo.InvariantCulture).AsSpan();
        var sign = shortest[0] == '-' ? "-" : "";
        if (sign.Length > 0) shortest = shortest[1..];

        var exponent = 0;
        var e = shortest.IndexOf('E');
        if (e >= 0)
        {
            exponent = int.Parse(shortest[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            shortest = shortest[..e];
        }
        var dot = shortest.IndexOf('.');
        var digits = dot < 0 ? shortest.ToString() : string.Concat(shortest[..dot], shortest[(dot + 1)..]);
        var point = (dot < 0 ? shortest.Length : dot) + exponent;
        var leadingZeros = digits.Length - digits.TrimStart('0').Length;
        digits = digits.Trim('0');
        point -= leadingZeros;

        var scientific = point - 1;
        if (scientific is < -4 or >= 16)
        {
            var mantissa = digits.Length == 1 ? digits : $"{digits[0]}.{digits[1..]}";
            var exponentSign = scientific < 0 ? "-" : "+";
            return $"{sign}{mantissa}e{exponentSign}{Math.Abs(scientific):00}";
        }
        if (point <= 0) return $"{sign}0.{new string('0', -point)}{digits}";
        if (point >= digits.Length) return $"{sign}{digits}{new string('0', point - digits.Length)}.0";
        return $"{sign}{digits[..point]}.{digits[point..]}";
    }

    /// <summary>The <c>tojson</c> filter: compact unless <paramref name="indent"/> is given (then Python's
    /// <c>json.dumps(indent=n)</c> layout), with &lt; &gt; &amp; ' escaped as Jinja does.</summary>
    public static string ToJson(object? value, int? indent)
    {
        var sb = new StringBuilder();
        AppendJson(sb, value, indent, 0);
        return sb.ToString();
    }

    private static void AppendJson(StringBuilder sb, object? value, int? indent, int depth)
    {
        CheckDepth(depth);
        switch (value)
        {
            case null: sb.Append("null"); return;
            case bool b: sb.Append(b ? "true" : "false"); return;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); return;
            case double d: sb.Append(JsonFloat(d)); return;
            case string s:
                TemplateBudget.Current.Append(sb, s.Length);
                AppendQuoted(sb, s, htmlSafe: true);
                return;
            case Undefined u: throw u.ToException();
            case LoopContext: throw TemplateErrors.Runtime("a loop value cannot be converted to JSON");
        }

        if (Values.Entries(value) is { } entries)
        {
            AppendJsonContainer(sb, '{', '}', entries, indent, depth, (pair, level) =>
            {
                AppendQuoted(sb, JsonKey(pair.Key), htmlSafe: true);
                sb.Append(indent == null ? ":" : ": ");
                AppendJson(sb, pair.Value, indent, level);
            });
            return;
        }
        AppendJsonContainer(sb, '[', ']', Values.Iterate(value), indent, depth, (item, level) => AppendJson(sb, item, indent, level));
    }

    private static void AppendJsonContainer<T>(StringBuilder sb, char open, char close, IEnumerable<T> items, int? indent, int depth, Action<T, int> appendItem)
    {
        var budget = TemplateBudget.Current;
        budget.Steps(ContainerSteps);
        sb.Append(open);
        var any = false;
        foreach (var item in items)
        {
            if (any) sb.Append(',');
            any = true;
            if (indent is { } width) AppendIndent(sb, budget, width, depth + 1);
            appendItem(item, depth + 1);
            budget.Steps(1);
            budget.CheckSize(sb.Length);
        }
        if (any && indent is { } w) AppendIndent(sb, budget, w, depth);
        sb.Append(close);
    }

    // The width comes from the template, so the spaces are paid for before they are allocated.
    private static void AppendIndent(StringBuilder sb, TemplateBudget budget, int width, int depth)
    {
        var spaces = TemplateBudget.Times(Math.Max(width, 0), depth);
        budget.Append(sb, spaces + 1);
        sb.Append('\n').Append(' ', (int)spaces);
    }

    // json.dumps turns non-string keys into their JSON text.
    private static string JsonKey(object key) => key switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        double d => JsonFloat(d),
        _ => ToStr(key),
    };

    private static string JsonFloat(double d) =>
        double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : FormatFloat(d);

    private static StringBuilder AppendQuoted(StringBuilder sb, string s, bool htmlSafe)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '<' or '>' or '&' or '\'' when htmlSafe: AppendUnicodeEscape(sb, c); break;
                case < ' ': AppendUnicodeEscape(sb, c); break;
                default: sb.Append(c); break;
            }
        }
        return sb.Append('"');
    }

    public static void CheckDepth(int depth)
    {
        if (depth > MaxDepth) throw TemplateErrors.Runtime($"the value is nested more than {MaxDepth} levels deep");
    }

    private static void AppendUnicodeEscape(StringBuilder sb, char c) =>
        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
}
