namespace Spindle.Core.Templates;

/// <summary>Expressions, from loosest to tightest binding as in Jinja: conditional, or, and, not, comparison,
/// + -, ~, * / // %, **, unary - +, then primaries with postfix access, filters and tests.</summary>
internal sealed partial class Parser
{
    private Expr ParseExpression() => Nested(ParseConditional);

    private Expr ParseConditional()
    {
        var start = Current.Start;
        var expression = ParseOr();
        while (SkipName("if"))
        {
            var condition = ParseOr();
            var otherwise = SkipName("else") ? ParseExpression() : null;
            expression = new ConditionalExpr(condition, expression, otherwise, SourceFrom(start));
        }
        return expression;
    }

    /// <summary>An expression or a bare tuple (<c>{% set a, b = 1, 2 %}</c>).</summary>
    private Expr ParseTupleExpression()
    {
        var start = Current.Start;
        var first = ParseExpression();
        if (!Current.IsOperator(",")) return first;
        var items = new List<Expr> { first };
        while (SkipOperator(",") && Current.Kind is not (TokenKind.BlockEnd or TokenKind.VariableEnd or TokenKind.End))
        {
            items.Add(ParseExpression());
        }
        return new ListExpr([.. items], SourceFrom(start));
    }

    private Expr ParseOr()
    {
        var start = Current.Start;
        var left = ParseAnd();
        while (SkipName("or")) left = new BinaryExpr(BinaryOperator.Or, left, ParseAnd(), SourceFrom(start));
        return left;
    }

    private Expr ParseAnd()
    {
        var start = Current.Start;
        var left = ParseNot();
        while (SkipName("and")) left = new BinaryExpr(BinaryOperator.And, left, ParseNot(), SourceFrom(start));
        return left;
    }

    private Expr ParseNot()
    {
        var start = Current.Start;
        return SkipName("not") ? new UnaryExpr(UnaryOperator.Not, Nested(ParseNot), SourceFrom(start)) : ParseCompare();
    }

    private Expr ParseCompare()
    {
        var start = Current.Start;
        var first = ParseAdditive();
        var operators = new List<CompareOperator>();
        var operands = new List<Expr>();
        while (TryParseCompareOperator(out var op))
        {
            operators.Add(op);
            operands.Add(ParseAdditive());
        }
        return operators.Count == 0 ? first : new CompareExpr(first, [.. operators], [.. operands], SourceFrom(start));
    }

    private bool TryParseCompareOperator(out CompareOperator op)
    {
        var token = Current;
        CompareOperator? symbol = token.Kind != TokenKind.Operator ? null : token.Text switch
        {
            "==" => CompareOperator.Equal,
            "!=" => CompareOperator.NotEqual,
            "<" => CompareOperator.Less,
            "<=" => CompareOperator.LessOrEqual,
            ">" => CompareOperator.Greater,
            ">=" => CompareOperator.GreaterOrEqual,
            _ => null,
        };
        if (symbol is { } found)
        {
            Next();
            op = found;
            return true;
        }
        op = CompareOperator.In;
        if (SkipName("in")) return true;
        if (!token.IsName("not") || !Peek(1).IsName("in")) return false;
        Next();
        Next();
        op = CompareOperator.NotIn;
        return true;
    }

    private Expr ParseAdditive()
    {
        var start = Current.Start;
        var left = ParseConcat();
        while (true)
        {
            if (SkipOperator("+")) left = new BinaryExpr(BinaryOperator.Add, left, ParseConcat(), SourceFrom(start));
            else if (SkipOperator("-")) left = new BinaryExpr(BinaryOperator.Subtract, left, ParseConcat(), SourceFrom(start));
            else return left;
        }
    }

    private Expr ParseConcat()
    {
        var start = Current.Start;
        var left = ParseMultiplicative();
        while (SkipOperator("~")) left = new BinaryExpr(BinaryOperator.Concat, left, ParseMultiplicative(), SourceFrom(start));
        return left;
    }

    private Expr ParseMultiplicative()
    {
        var start = Current.Start;
        var left = ParsePower();
        while (Current.Kind == TokenKind.Operator)
        {
            BinaryOperator op;
            switch (Current.Text)
            {
                case "*": op = BinaryOperator.Multiply; break;
                case "/": op = BinaryOperator.Divide; break;
                case "//": op = BinaryOperator.FloorDivide; break;
                case "%": op = BinaryOperator.Modulo; break;
                default: return left;
            }
            Next();
            left = new BinaryExpr(op, left, ParsePower(), SourceFrom(start));
        }
        return left;
    }

    private Expr ParsePower()
    {
        var start = Current.Start;
        var left = ParseUnary(withFilters: true);
        while (SkipOperator("**")) left = new BinaryExpr(BinaryOperator.Power, left, ParseUnary(withFilters: true), SourceFrom(start));
        return left;
    }

    // As in Jinja, a sign binds tighter than filters and "**": -x|abs is (-x)|abs and -2 ** 2 is 4.
    private Expr ParseUnary(bool withFilters)
    {
        var start = Current.Start;
        Expr node;
        if (SkipOperator("-")) node = new UnaryExpr(UnaryOperator.Negate, Nested(() => ParseUnary(withFilters: false)), SourceFrom(start));
        else if (SkipOperator("+")) node = new UnaryExpr(UnaryOperator.Plus, Nested(() => ParseUnary(withFilters: false)), SourceFrom(start));
        else node = ParsePrimary();
        node = ParsePostfix(node, start);
        return withFilters ? ParseFiltersAndTests(node, start) : node;
    }

    private Expr ParsePrimary()
    {
        var token = Current;
        switch (token.Kind)
        {
            case TokenKind.Name:
                Next();
                return token.Text switch
                {
                    "true" or "True" => new ConstExpr(true, token.Text),
                    "false" or "False" => new ConstExpr(false, token.Text),
                    "none" or "None" or "null" => new ConstExpr(null, token.Text),
                    _ => new NameExpr(token.Text, token.Text),
                };
            case TokenKind.String:
                var text = Next().Text;
                // Adjacent string literals concatenate, as in Python.
                while (Current.Kind == TokenKind.String) text += Next().Text;
                return new ConstExpr(text, SourceFrom(token.Start));
            case TokenKind.Integer or TokenKind.Float:
                Next();
                return new ConstExpr(token.Value, token.Text);
            case TokenKind.Operator when token.Text == "(":
                return ParseParenthesized();
            case TokenKind.Operator when token.Text == "[":
                Next();
                return new ListExpr(ParseSequence("]"), SourceFrom(token.Start));
            case TokenKind.Operator when token.Text == "{":
                return ParseDict();
            default:
                throw Error(token, $"unexpected {Describe(token)}");
        }
    }

    private Expr ParseParenthesized()
    {
        var start = Next().Start;
        if (SkipOperator(")")) return new ListExpr([], SourceFrom(start));
        var first = ParseExpression();
        if (SkipOperator(")")) return first;
        ExpectOperator(",");
        Expr[] items = [first, .. ParseSequence(")")];
        return new ListExpr(items, SourceFrom(start));
    }

    // Items up to the closing bracket, allowing a trailing comma; the opening bracket is already consumed.
    private Expr[] ParseSequence(string close)
    {
        var items = new List<Expr>();
        while (!SkipOperator(close))
        {
            items.Add(ParseExpression());
            if (!SkipOperator(","))
            {
                ExpectOperator(close);
                break;
            }
        }
        return [.. items];
    }

    private DictExpr ParseDict()
    {
        var start = Next().Start;
        var keys = new List<Expr>();
        var values = new List<Expr>();
        while (!SkipOperator("}"))
        {
            keys.Add(ParseExpression());
            ExpectOperator(":");
            values.Add(ParseExpression());
            if (!SkipOperator(","))
            {
                ExpectOperator("}");
                break;
            }
        }
        return new DictExpr([.. keys], [.. values], SourceFrom(start));
    }

    private Expr ParsePostfix(Expr node, int start)
    {
        while (Current.Kind == TokenKind.Operator)
        {
            if (SkipOperator("."))
            {
                var token = Next();
                if (token.Kind == TokenKind.Integer)
                {
                    node = new GetItemExpr(node, new ConstExpr(token.Value, token.Text), SourceFrom(start));
                }
                else if (token.Kind != TokenKind.Name)
                {
                    throw Error(token, $"expected an attribute name after '.', found {Describe(token)}");
                }
                else if (Current.IsOperator("("))
                {
                    node = new MethodCallExpr(node, token.Text, ParseCallArguments(), SourceFrom(start));
                }
                else
                {
                    node = new GetAttrExpr(node, token.Text, SourceFrom(start));
                }
            }
            else if (Current.IsOperator("["))
            {
                node = ParseSubscript(node, start);
            }
            else if (Current.IsOperator("("))
            {
                node = ParseFunctionCall(node, start);
            }
            else
            {
                break;
            }
        }
        return node;
    }

    private Expr ParseSubscript(Expr target, int start)
    {
        Next();
        var first = Current.IsOperator(":") ? null : ParseExpression();
        if (first != null && SkipOperator("]")) return new GetItemExpr(target, first, SourceFrom(start));

        ExpectOperator(":");
        var stop = Current.IsOperator("]") || Current.IsOperator(":") ? null : ParseExpression();
        Expr? step = null;
        if (SkipOperator(":") && !Current.IsOperator("]")) step = ParseExpression();
        ExpectOperator("]");
        return new SliceExpr(target, first, stop, step, SourceFrom(start));
    }

    private FunctionCallExpr ParseFunctionCall(Expr target, int start)
    {
        var at = Current;
        if (target is not NameExpr name) throw Error(at, $"'{target.Source}' is not callable");
        if (!Functions.Registry.TryGetValue(name.Name, out var function)) throw Error(at, $"unknown function '{name.Name}'");
        var args = ParseCallArguments();
        CheckCall(function, args, at);
        return new FunctionCallExpr(function, args, SourceFrom(start));
    }

    private Expr ParseFiltersAndTests(Expr node, int start)
    {
        while (true)
        {
            if (SkipOperator("|"))
            {
                var name = Expect(TokenKind.Name);
                if (!Filters.Registry.TryGetValue(name.Text, out var filter)) throw Error(name, $"unknown filter '{name.Text}'");
                var args = Current.IsOperator("(") ? ParseCallArguments() : CallArguments.None;
                CheckCall(filter, args, name);
                node = new FilterExpr(node, filter, args, SourceFrom(start));
            }
            else if (SkipName("is"))
            {
                var negated = SkipName("not");
                var name = Expect(TokenKind.Name);
                if (!Tests.Registry.TryGetValue(name.Text, out var test)) throw Error(name, $"unknown test '{name.Text}'");
                var args = ParseTestArguments();
                CheckCall(test, args, name);
                node = new TestExpr(node, test, args, negated, SourceFrom(start));
            }
            else
            {
                return node;
            }
        }
    }

    // A test takes its arguments in parentheses or, as in Jinja, one bare argument: "x is divisibleby 3".
    private CallArguments ParseTestArguments()
    {
        if (Current.IsOperator("(")) return ParseCallArguments();
        var token = Current;
        var startsArgument = token.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float
            || token.IsOperator("[") || token.IsOperator("{");
        if (!startsArgument || token.IsName("else") || token.IsName("or") || token.IsName("and") || token.IsName("if")) return CallArguments.None;
        if (token.IsName("is")) throw Error(token, "tests cannot be chained with 'is'");
        var argument = ParsePostfix(ParsePrimary(), token.Start);
        return new CallArguments([argument], [], []);
    }

    private CallArguments ParseCallArguments()
    {
        ExpectOperator("(");
        var positional = new List<Expr>();
        var names = new List<string>();
        var named = new List<Expr>();
        while (!SkipOperator(")"))
        {
            if (Current.Kind == TokenKind.Name && Peek(1).IsOperator("="))
            {
                names.Add(Next().Text);
                Next();
                named.Add(ParseExpression());
            }
            else if (names.Count > 0)
            {
                throw Error(Current, "a positional argument cannot follow a keyword argument");
            }
            else
            {
                positional.Add(ParseExpression());
            }
            if (!SkipOperator(","))
            {
                ExpectOperator(")");
                break;
            }
        }
        return positional.Count == 0 && names.Count == 0 ? CallArguments.None : new CallArguments([.. positional], [.. names], [.. named]);
    }

    private void CheckCall(Callable callable, CallArguments args, Token at)
    {
        if (callable.Check(args) is { } problem) throw Error(at, problem);
    }
}
