using System.Text;

namespace Spindle.Core.Templates;

/// <summary>String filters. Non-string inputs are printed first, as Jinja does.</summary>
internal static partial class Filters
{
    private static object? Replace(object? value, Arguments args)
    {
        var count = args.Get(2, "count");
        return PyString.Replace(
            Printer.ToStr(value),
            Printer.ToStr(args.Get(0, "old")),
            Printer.ToStr(args.Get(1, "new")),
            count == null ? -1 : Integer(count, "replace", "count"));
    }

    private static object? Split(object? value, Arguments args)
    {
        var maxSplit = args.Get(1, "maxsplit");
        return PyString.Split(
            Printer.ToStr(value),
            OptionalString(args.Get(0, "sep"), "split"),
            maxSplit == null ? -1 : Integer(maxSplit, "split", "maxsplit"));
    }

    /// <summary>Jinja's indent: every line but the first (unless <c>first</c>) gets the indentation, and blank
    /// lines only with <c>blank</c>. <c>width</c> may also be the indentation string itself.</summary>
    private static object? Indent(object? value, Arguments args)
    {
        var width = args.Get(0, "width", 4L);
        var indentation = width as string ?? new string(' ', (int)Math.Clamp(Integer(width, "indent", "width"), 0, 1000));
        var text = Printer.ToStr(value);
        var lines = PyString.SplitLines(text + "\n").Cast<string>().ToList();
        // Every line may get the indentation: the result's size is checked before it is built.
        TemplateBudget.Current.NewString(text.Length + TemplateBudget.Times(lines.Count + 1, indentation.Length + 1));
        var result = args.GetBool(2, "blank")
            ? string.Join("\n" + indentation, lines)
            : string.Join("\n", lines.Select((line, i) => i == 0 || line.Length == 0 ? line : indentation + line));
        return args.GetBool(1, "first") ? indentation + result : result;
    }

    /// <summary>A string is percent-encoded (keeping '/'); a map or list of pairs becomes a query string.</summary>
    private static object? UrlEncode(object? value, Arguments args)
    {
        if (value is string || !(Values.IsMap(value) || Values.IsSequence(value))) return UrlQuote(Printer.ToStr(value), forQuery: false);
        var pairs = Values.Entries(value) ?? Values.Iterate(value).Select(Pair);
        return string.Join("&", pairs.Select(pair => $"{UrlQuote(Printer.ToStr(pair.Key), forQuery: true)}={UrlQuote(Printer.ToStr(pair.Value), forQuery: true)}"));

        static KeyValuePair<object, object?> Pair(object? item)
        {
            var parts = Values.IsSequence(item) ? Values.Iterate(item) : [];
            if (parts.Count != 2) throw TemplateErrors.Runtime("urlencode: expected a map or a list of pairs");
            return new KeyValuePair<object, object?>(parts[0] ?? "none", parts[1]);
        }
    }

    private static string UrlQuote(string text, bool forQuery)
    {
        var sb = new StringBuilder();
        var budget = TemplateBudget.Current;
        // A character becomes up to nine (three %XX escapes): checked as the text grows.
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            if (sb.Length > budget.Limits.MaxOutputSize) budget.CheckSize(sb.Length);
            var c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-' or '~' || (c == '/' && !forQuery)) sb.Append(c);
            else if (c == ' ' && forQuery) sb.Append('+');
            else sb.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    private static string Escape(string text)
    {
        if (text.AsSpan().IndexOfAny("&<>\"'") < 0) return text;
        var budget = TemplateBudget.Current;
        var sb = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            // An escape is at most 5 characters for 1, so the builder cannot run far past the limit unseen.
            if (sb.Length > budget.Limits.MaxOutputSize) budget.CheckSize(sb.Length);
            switch (c)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '"': sb.Append("&#34;"); break;
                case '\'': sb.Append("&#39;"); break;
                default: sb.Append(c); break;
            }
        }
        return sb.ToString();
    }
}
