using System.Globalization;
using System.Text;

namespace Spindle.Core.Templates;

/// <summary>
/// Splits a template into text and tag tokens, or a bare expression into expression tokens. Whitespace control
/// (<c>{%-</c>, <c>-%}</c> and friends) and <c>{% raw %}</c> are applied here so the parser never sees them.
/// </summary>
internal sealed class Lexer
{
    private static readonly string[] TwoCharOperators = ["**", "//", "==", "!=", "<=", ">="];
    private const string SingleCharOperators = "+-*/%~|.,:()[]{}<>=";

    private readonly string _source;
    private readonly int _end;
    private readonly List<Token> _tokens = [];
    private int _pos;

    private Lexer(string source, int start, int end)
    {
        _source = source;
        _pos = start;
        _end = end;
    }

    public static List<Token> TokenizeTemplate(string source)
    {
        var lexer = new Lexer(source, 0, TrailingNewlineStart(source));
        lexer.LexTemplate();
        lexer._tokens.Add(new Token(TokenKind.End, "", lexer._end, lexer._end));
        return lexer._tokens;
    }

    /// <summary>Tokenizes <paramref name="source"/>[start..end) as one expression, ending with an End token.</summary>
    public static List<Token> TokenizeExpression(string source, int start, int end)
    {
        var lexer = new Lexer(source, start, end);
        lexer.LexExpression(closer: null);
        return lexer._tokens;
    }

    // Jinja drops a single trailing newline of the template (keep_trailing_newline is off by default).
    private static int TrailingNewlineStart(string source)
    {
        if (source.EndsWith("\r\n", StringComparison.Ordinal)) return source.Length - 2;
        return source.EndsWith('\n') || source.EndsWith('\r') ? source.Length - 1 : source.Length;
    }

    private void LexTemplate()
    {
        var stripNextText = false;
        while (_pos < _end)
        {
            var tagStart = FindTagStart(_pos);
            var textEnd = tagStart < 0 ? _end : tagStart;
            var stripsBefore = tagStart >= 0 && tagStart + 2 < _end && _source[tagStart + 2] == '-';
            AddText(_pos, textEnd, stripNextText, stripsBefore);
            if (tagStart < 0) return;

            _pos = tagStart + (stripsBefore ? 3 : 2);
            stripNextText = _source[tagStart + 1] switch
            {
                '#' => LexComment(tagStart),
                '{' => LexTag(TokenKind.VariableBegin, TokenKind.VariableEnd, "}}", tagStart),
                _ => TryLexRaw(tagStart, out var stripAfterRaw)
                    ? stripAfterRaw
                    : LexTag(TokenKind.BlockBegin, TokenKind.BlockEnd, "%}", tagStart),
            };
        }
    }

    private int FindTagStart(int from)
    {
        for (var i = _source.IndexOf('{', from); i >= 0 && i + 1 < _end; i = _source.IndexOf('{', i + 1))
        {
            var next = _source[i + 1];
            if (next is '{' or '%' or '#') return i;
        }
        return -1;
    }

    private void AddText(int start, int end, bool trimStart, bool trimEnd)
    {
        var span = _source.AsSpan(start, end - start);
        if (trimStart) span = span.TrimStart();
        if (trimEnd) span = span.TrimEnd();
        if (!span.IsEmpty) _tokens.Add(new Token(TokenKind.Text, span.ToString(), start, end));
    }

    private bool LexComment(int tagStart)
    {
        var close = _source.IndexOf("#}", _pos, _end - _pos, StringComparison.Ordinal);
        if (close < 0) throw Error(tagStart, "unclosed comment, expected '#}'");
        _pos = close + 2;
        return close > tagStart + 2 && _source[close - 1] == '-';
    }

    private bool LexTag(TokenKind begin, TokenKind end, string closer, int tagStart)
    {
        _tokens.Add(new Token(begin, _source.Substring(tagStart, _pos - tagStart), tagStart, _pos));
        var stripAfter = LexExpression(closer);
        _tokens.Add(new Token(end, closer, _pos - closer.Length, _pos));
        return stripAfter;
    }

    /// <summary>Handles <c>{% raw %}…{% endraw %}</c>: the body becomes one text token, tags inside stay literal.</summary>
    private bool TryLexRaw(int tagStart, out bool stripAfter)
    {
        stripAfter = false;
        if (!TryMatchTagBody(_pos, "raw", out var bodyStart, out var stripBodyStart)) return false;

        for (var i = _source.IndexOf("{%", bodyStart, _end - bodyStart, StringComparison.Ordinal);
             i >= 0;
             i = _source.IndexOf("{%", i + 2, _end - i - 2, StringComparison.Ordinal))
        {
            var stripBodyEnd = i + 2 < _end && _source[i + 2] == '-';
            if (!TryMatchTagBody(i + (stripBodyEnd ? 3 : 2), "endraw", out var after, out stripAfter)) continue;
            AddText(bodyStart, i, stripBodyStart, stripBodyEnd);
            _pos = after;
            return true;
        }
        throw Error(tagStart, "unclosed raw block, expected '{% endraw %}'");
    }

    // Matches "  name  -%}" starting at `from`; `after` is the index past "%}".
    private bool TryMatchTagBody(int from, string name, out int after, out bool stripAfter)
    {
        after = 0;
        stripAfter = false;
        var i = SkipWhitespace(from);
        if (string.CompareOrdinal(_source, i, name, 0, name.Length) != 0) return false;
        i = SkipWhitespace(i + name.Length);
        if (i < _end && _source[i] == '-')
        {
            stripAfter = true;
            i++;
        }
        if (i + 1 >= _end || _source[i] != '%' || _source[i + 1] != '}') return false;
        after = i + 2;
        return true;
    }

    private int SkipWhitespace(int i)
    {
        while (i < _end && char.IsWhiteSpace(_source[i])) i++;
        return i;
    }

    /// <summary>Lexes expression tokens up to <paramref name="closer"/> (or the end when null). Like Jinja, a closer
    /// inside open brackets does not count, so <c>{{ {'a': {'b': 1}} }}</c> works. Returns whether the closer
    /// carried a '-' (strip the whitespace that follows).</summary>
    private bool LexExpression(string? closer)
    {
        var depth = 0;
        while (true)
        {
            _pos = SkipWhitespace(_pos);
            if (_pos >= _end)
            {
                if (closer != null) throw Error(_pos, $"unexpected end of template, expected '{closer}'");
                _tokens.Add(new Token(TokenKind.End, "", _end, _end));
                return false;
            }
            if (closer != null && depth <= 0)
            {
                if (StartsWith(_pos, closer))
                {
                    _pos += closer.Length;
                    return false;
                }
                if (_source[_pos] == '-' && StartsWith(_pos + 1, closer))
                {
                    _pos += closer.Length + 1;
                    return true;
                }
            }

            var c = _source[_pos];
            if (char.IsLetter(c) || c == '_') LexName();
            else if (char.IsAsciiDigit(c)) LexNumber();
            else if (c is '\'' or '"') LexString(c);
            else depth += LexOperator();
        }
    }

    private bool StartsWith(int at, string value) =>
        at + value.Length <= _end && string.CompareOrdinal(_source, at, value, 0, value.Length) == 0;

    private void LexName()
    {
        var start = _pos;
        while (_pos < _end && (char.IsLetterOrDigit(_source[_pos]) || _source[_pos] == '_')) _pos++;
        _tokens.Add(new Token(TokenKind.Name, _source[start.._pos], start, _pos));
    }

    private void LexNumber()
    {
        var start = _pos;
        SkipDigits();
        var isFloat = false;
        if (_pos + 1 < _end && _source[_pos] == '.' && char.IsAsciiDigit(_source[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            SkipDigits();
        }
        if (_pos < _end && _source[_pos] is 'e' or 'E')
        {
            var exponent = _pos + 1;
            if (exponent < _end && _source[exponent] is '+' or '-') exponent++;
            if (exponent < _end && char.IsAsciiDigit(_source[exponent]))
            {
                isFloat = true;
                _pos = exponent;
                SkipDigits();
            }
        }

        var text = _source[start.._pos].Replace("_", "", StringComparison.Ordinal);
        if (isFloat)
        {
            var value = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
            _tokens.Add(new Token(TokenKind.Float, text, start, _pos, value));
        }
        else if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            _tokens.Add(new Token(TokenKind.Integer, text, start, _pos, value));
        }
        else
        {
            throw Error(start, $"integer literal {text} is too large");
        }
    }

    private void SkipDigits()
    {
        while (_pos < _end && (char.IsAsciiDigit(_source[_pos]) || (_source[_pos] == '_' && _pos + 1 < _end && char.IsAsciiDigit(_source[_pos + 1]))))
        {
            _pos++;
        }
    }

    private void LexString(char quote)
    {
        var start = _pos++;
        var sb = new StringBuilder();
        while (true)
        {
            if (_pos >= _end) throw Error(start, "unterminated string literal");
            var c = _source[_pos++];
            if (c == quote) break;
            if (c != '\\' || _pos >= _end)
            {
                sb.Append(c);
                continue;
            }
            var escape = _source[_pos++];
            switch (escape)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '0': sb.Append('\0'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '\\' or '\'' or '"': sb.Append(escape); break;
                case '\n': break;
                case 'x': AppendCodePoint(sb, 2, start); break;
                case 'u': AppendCodePoint(sb, 4, start); break;
                case 'U': AppendCodePoint(sb, 8, start); break;
                // Python keeps unknown escapes as written.
                default: sb.Append('\\').Append(escape); break;
            }
        }
        _tokens.Add(new Token(TokenKind.String, sb.ToString(), start, _pos));
    }

    private void AppendCodePoint(StringBuilder sb, int digits, int literalStart)
    {
        if (_pos + digits > _end
            || !int.TryParse(_source.AsSpan(_pos, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code)
            || !Rune.IsValid(code))
        {
            throw Error(literalStart, "invalid escape sequence in string literal");
        }
        sb.Append(char.ConvertFromUtf32(code));
        _pos += digits;
    }

    private int LexOperator()
    {
        var start = _pos;
        foreach (var op in TwoCharOperators)
        {
            if (!StartsWith(_pos, op)) continue;
            _pos += 2;
            _tokens.Add(new Token(TokenKind.Operator, op, start, _pos));
            return 0;
        }

        var c = _source[_pos];
        if (StartsWith(_pos, "&&")) throw Error(start, "'&&' is not supported, use 'and'");
        if (StartsWith(_pos, "||")) throw Error(start, "'||' is not supported, use 'or'");
        if (c == '!') throw Error(start, "'!' is not supported, use 'not'");
        if (!SingleCharOperators.Contains(c, StringComparison.Ordinal)) throw Error(start, $"unexpected character '{c}'");

        _pos++;
        _tokens.Add(new Token(TokenKind.Operator, c.ToString(), start, _pos));
        return c switch
        {
            '(' or '[' or '{' => 1,
            ')' or ']' or '}' => -1,
            _ => 0,
        };
    }

    private TemplateException Error(int position, string message) => TemplateErrors.Syntax(_source, position, message);
}
