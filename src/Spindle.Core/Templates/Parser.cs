namespace Spindle.Core.Templates;

/// <summary>
/// Recursive-descent parser for Jinja syntax. This part holds the token cursor and the statements of string
/// templates; <c>Parser.Expressions.cs</c> holds expressions with Jinja's operator precedence.
/// </summary>
internal sealed partial class Parser
{
    private static readonly string[] NoStopTags = [];

    // Deeper nesting than any real template; stops hostile input from overflowing the stack.
    private const int MaxNesting = 64;

    private const int MaxSourceLength = 200;

    private readonly string _source;
    private readonly List<Token> _tokens;
    private int _index;
    private int _lastStop;
    private int _nesting;

    private Parser(string source, List<Token> tokens)
    {
        _source = source;
        _tokens = tokens;
    }

    public static Node[] ParseTemplate(string source)
    {
        var parser = new Parser(source, Lexer.TokenizeTemplate(source));
        return parser.ParseBody(NoStopTags, out _);
    }

    /// <summary>Parses <paramref name="source"/>[start..end) as a single expression (a whole-value template).</summary>
    public static Expr ParseExpression(string source, int start, int end)
    {
        var parser = new Parser(source, Lexer.TokenizeExpression(source, start, end));
        var expression = parser.ParseExpression();
        parser.Expect(TokenKind.End);
        return expression;
    }

    private Token Current => _tokens[_index];

    private Token Peek(int offset) => _tokens[Math.Min(_index + offset, _tokens.Count - 1)];

    private Token Next()
    {
        var token = _tokens[_index];
        if (_index < _tokens.Count - 1) _index++;
        _lastStop = token.Stop;
        return token;
    }

    private bool SkipOperator(string op)
    {
        if (!Current.IsOperator(op)) return false;
        Next();
        return true;
    }

    private bool SkipName(string name)
    {
        if (!Current.IsName(name)) return false;
        Next();
        return true;
    }

    private Token Expect(TokenKind kind) =>
        Current.Kind == kind ? Next() : throw Error(Current, $"expected {Describe(kind)}, found {Describe(Current)}");

    private void ExpectOperator(string op)
    {
        if (!SkipOperator(op)) throw Error(Current, $"expected '{op}', found {Describe(Current)}");
    }

    private void ExpectName(string name)
    {
        if (!SkipName(name)) throw Error(Current, $"expected '{name}', found {Describe(Current)}");
    }

    /// <summary>The source text from <paramref name="start"/> to the end of the last consumed token, shortened:
    /// it only names expressions in messages, and every node of a long chain (<c>1 + 1 + …</c>) takes one, so
    /// whole texts would make parsing quadratic (an 80 KB chain allocated 1.6 GB).</summary>
    private string SourceFrom(int start)
    {
        var length = Math.Max(0, _lastStop - start);
        return length <= MaxSourceLength ? _source.Substring(start, length) : string.Concat(_source.AsSpan(start, MaxSourceLength), "…");
    }

    private TemplateException Error(Token at, string message) => TemplateErrors.Syntax(_source, at.Start, message);

    private T Nested<T>(Func<T> parse)
    {
        if (++_nesting > MaxNesting) throw Error(Current, "the template is nested too deeply");
        var result = parse();
        _nesting--;
        return result;
    }

    private static string Describe(TokenKind kind) => kind switch
    {
        TokenKind.End => "end of expression",
        TokenKind.VariableEnd => "'}}'",
        TokenKind.BlockEnd => "'%}'",
        TokenKind.Name => "a name",
        _ => kind.ToString(),
    };

    private static string Describe(Token token) => token.Kind switch
    {
        TokenKind.End or TokenKind.VariableEnd or TokenKind.BlockEnd => Describe(token.Kind),
        TokenKind.String => "a string",
        _ => $"'{token.Text}'",
    };

    private Node[] ParseBody(string[] stopTags, out string? stoppedAt)
    {
        var nodes = new List<Node>();
        while (true)
        {
            var token = Current;
            switch (token.Kind)
            {
                case TokenKind.End when stopTags.Length == 0:
                    stoppedAt = null;
                    return [.. nodes];
                case TokenKind.End:
                    throw Error(token, $"unexpected end of template, expected '{string.Join("' or '", stopTags)}'");
                case TokenKind.Text:
                    nodes.Add(new TextNode(Next().Text));
                    break;
                case TokenKind.VariableBegin:
                    Next();
                    nodes.Add(new OutputNode(ParseExpression()));
                    Expect(TokenKind.VariableEnd);
                    break;
                default:
                    Expect(TokenKind.BlockBegin);
                    var tag = Current.Kind == TokenKind.Name ? Next() : throw Error(Current, "expected a tag name");
                    if (Array.IndexOf(stopTags, tag.Text) >= 0)
                    {
                        stoppedAt = tag.Text;
                        return [.. nodes];
                    }
                    nodes.Add(Nested(() => ParseStatement(tag)));
                    break;
            }
        }
    }

    private Node[] ParseBodyUntil(string endTag)
    {
        var body = ParseBody([endTag], out _);
        Expect(TokenKind.BlockEnd);
        return body;
    }

    private Node ParseStatement(Token tag) => tag.Text switch
    {
        "if" => ParseIf(),
        "for" => ParseFor(),
        "set" => ParseSet(),
        "elif" or "else" or "endif" or "endfor" or "endset" or "endraw" => throw Error(tag, $"unexpected '{tag.Text}'"),
        "include" or "import" or "from" or "extends" or "block" or "macro" or "call" or "filter" or "with" =>
            throw Error(tag, $"the '{tag.Text}' tag is not supported"),
        _ => throw Error(tag, $"unknown tag '{tag.Text}'"),
    };

    private IfNode ParseIf()
    {
        var conditions = new List<Expr> { ParseExpression() };
        var bodies = new List<Node[]>();
        Expect(TokenKind.BlockEnd);
        while (true)
        {
            bodies.Add(ParseBody(["elif", "else", "endif"], out var stoppedAt));
            switch (stoppedAt)
            {
                case "elif":
                    conditions.Add(ParseExpression());
                    Expect(TokenKind.BlockEnd);
                    break;
                case "else":
                    Expect(TokenKind.BlockEnd);
                    return new IfNode([.. conditions], [.. bodies], ParseBodyUntil("endif"));
                default:
                    Expect(TokenKind.BlockEnd);
                    return new IfNode([.. conditions], [.. bodies], null);
            }
        }
    }

    private ForNode ParseFor()
    {
        var targets = ParseTargets();
        ExpectName("in");
        // No conditional expression here: a trailing "if" filters the loop items.
        var iterable = ParseOr();
        var filter = SkipName("if") ? ParseExpression() : null;
        if (Current.IsName("recursive")) throw Error(Current, "recursive loops are not supported");
        Expect(TokenKind.BlockEnd);

        var body = ParseBody(["else", "endfor"], out var stoppedAt);
        Expect(TokenKind.BlockEnd);
        var otherwise = stoppedAt == "else" ? ParseBodyUntil("endfor") : null;
        return new ForNode(targets, iterable, filter, body, otherwise);
    }

    private string[] ParseTargets()
    {
        var parenthesized = SkipOperator("(");
        var targets = new List<string> { Expect(TokenKind.Name).Text };
        while (SkipOperator(",")) targets.Add(Expect(TokenKind.Name).Text);
        if (parenthesized) ExpectOperator(")");
        return [.. targets];
    }

    private Node ParseSet()
    {
        if (Current.Kind == TokenKind.Name && Peek(1).IsOperator("."))
        {
            var ns = Next().Text;
            Next();
            var attribute = Expect(TokenKind.Name).Text;
            ExpectOperator("=");
            var value = ParseTupleExpression();
            Expect(TokenKind.BlockEnd);
            return new SetAttributeNode(ns, attribute, value);
        }

        var targets = ParseTargets();
        if (SkipOperator("="))
        {
            var value = ParseTupleExpression();
            Expect(TokenKind.BlockEnd);
            return new SetNode(targets, value);
        }
        if (targets.Length > 1) throw Error(Current, "a block set takes a single name");
        Expect(TokenKind.BlockEnd);
        return new SetBlockNode(targets[0], ParseBodyUntil("endset"));
    }
}
