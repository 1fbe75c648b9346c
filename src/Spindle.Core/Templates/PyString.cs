using System.Text;

namespace Spindle.Core.Templates;

/// <summary>Python <c>str</c> behaviour that filters and methods share. Python counts code points, so a
/// surrogate pair is one character here.</summary>
internal static class PyString
{
    /// <summary>True when every character is one char (no surrogate pairs), so indexes into the string are
    /// Python's. The scan is vectorised, and paid for as text.</summary>
    public static bool IsSimple(string s)
    {
        TemplateBudget.Current.Text(s.Length);
        return s.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') < 0;
    }

    public static long Length(string s)
    {
        TemplateBudget.Current.Text(s.Length);
        var length = s.Length;
        foreach (var c in s)
        {
            if (char.IsLowSurrogate(c)) length--;
        }
        return length;
    }

    /// <summary>One string per character: a step each, as that is an allocation each.</summary>
    public static List<object?> Characters(string s)
    {
        TemplateBudget.Current.Steps(s.Length);
        var chars = new List<object?>(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            var width = char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;
            chars.Add(s.Substring(i, width));
            i += width - 1;
        }
        return chars;
    }

    public static string Reverse(string s)
    {
        var chars = Characters(s);
        chars.Reverse();
        return string.Concat(chars);
    }

    public static string Strip(string s, string? chars, bool start = true, bool end = true)
    {
        var from = 0;
        var to = s.Length;
        while (start && from < to && IsStripped(s[from], chars)) from++;
        while (end && to > from && IsStripped(s[to - 1], chars)) to--;
        return s[from..to];
    }

    private static bool IsStripped(char c, string? chars) => chars == null ? char.IsWhiteSpace(c) : chars.Contains(c, StringComparison.Ordinal);

    /// <summary><c>str.split(sep, maxsplit)</c>: without a separator, runs of whitespace split and empty parts
    /// are dropped.</summary>
    /// <summary>Each part is a step, paid as it is made.</summary>
    public static List<object?> Split(string s, string? separator, long maxSplit)
    {
        var budget = TemplateBudget.Current;
        var parts = new List<object?>();
        if (separator == null)
        {
            var i = 0;
            while (true)
            {
                while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
                if (i >= s.Length) break;
                if (maxSplit >= 0 && parts.Count == maxSplit)
                {
                    parts.Add(s[i..]);
                    break;
                }
                var start = i;
                while (i < s.Length && !char.IsWhiteSpace(s[i])) i++;
                budget.Step();
                parts.Add(s[start..i]);
            }
            return parts;
        }

        if (separator.Length == 0) throw TemplateErrors.Runtime("split: empty separator");
        budget.Search(s.Length, separator.Length);
        var from = 0;
        while (maxSplit < 0 || parts.Count < maxSplit)
        {
            var at = s.IndexOf(separator, from, StringComparison.Ordinal);
            if (at < 0) break;
            budget.Step();
            parts.Add(s[from..at]);
            from = at + separator.Length;
        }
        parts.Add(s[from..]);
        return parts;
    }

    /// <summary><c>str.splitlines()</c>: every line break Python knows, no trailing empty line.</summary>
    public static List<object?> SplitLines(string s)
    {
        var budget = TemplateBudget.Current;
        var lines = new List<object?>();
        var start = 0;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c is not ('\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029')) continue;
            budget.Step();
            lines.Add(s[start..i]);
            if (c == '\r' && i + 1 < s.Length && s[i + 1] == '\n') i++;
            start = i + 1;
        }
        if (start < s.Length) lines.Add(s[start..]);
        return lines;
    }

    /// <summary><c>str.replace(old, new, count)</c>, including Python's rule that an empty <paramref name="old"/>
    /// inserts between characters.</summary>
    public static string Replace(string s, string old, string replacement, long count)
    {
        CheckReplacedSize(s, old, replacement, count);
        if (count < 0 && old.Length > 0) return s.Replace(old, replacement, StringComparison.Ordinal);
        var sb = new StringBuilder();
        var done = 0L;
        if (old.Length == 0)
        {
            foreach (var c in Characters(s))
            {
                if (count < 0 || done < count)
                {
                    sb.Append(replacement);
                    done++;
                }
                sb.Append((string)c!);
            }
            return count < 0 || done < count ? sb.Append(replacement).ToString() : sb.ToString();
        }

        var from = 0;
        while (done < count)
        {
            var at = s.IndexOf(old, from, StringComparison.Ordinal);
            if (at < 0) break;
            sb.Append(s, from, at - from).Append(replacement);
            from = at + old.Length;
            done++;
        }
        return sb.Append(s, from, s.Length - from).ToString();
    }

    // Counts the replacements first so that a short string cannot grow past the size limit ('ab'|replace('', big)).
    private static void CheckReplacedSize(string s, string old, string replacement, long count)
    {
        var budget = TemplateBudget.Current;
        long occurrences;
        if (old.Length == 0)
        {
            var slots = PyString.Length(s) + 1;
            occurrences = count < 0 ? slots : Math.Min(count, slots);
        }
        else
        {
            budget.Search(s.Length, old.Length);
            occurrences = 0;
            var from = 0;
            int at;
            while ((count < 0 || occurrences < count) && (at = s.IndexOf(old, from, StringComparison.Ordinal)) >= 0)
            {
                occurrences++;
                from = at + old.Length;
            }
        }
        budget.NewString(s.Length - (occurrences * old.Length) + TemplateBudget.Times(occurrences, replacement.Length));
    }

    /// <summary>Jinja's <c>title</c>: a word starts after whitespace or one of <c>-([{&lt;</c>.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        var wordStart = true;
        foreach (var c in s)
        {
            sb.Append(wordStart ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            wordStart = char.IsWhiteSpace(c) || c is '-' or '(' or '{' or '[' or '<';
        }
        return sb.ToString();
    }

    public static string Capitalize(string s) =>
        s.Length == 0 ? s : string.Concat(char.ToUpperInvariant(s[0]).ToString(), s[1..].ToLowerInvariant());
}
