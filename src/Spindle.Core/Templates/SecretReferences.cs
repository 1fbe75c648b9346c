namespace Spindle.Core.Templates;

/// <summary>
/// Where a template may use <c>SECRET</c>: secrets are resolved only when an activity is handed to a worker, so
/// the server never computes with a secret's value. The one allowed form is printing a named secret as it is,
/// <c>{{ SECRET.name }}</c> or <c>{{ SECRET['name'] }}</c>, as a whole value or inside a string template.
/// </summary>
public static class SecretReferences
{
    /// <summary>The name of the secret namespace in templates.</summary>
    public const string Namespace = "SECRET";

    /// <summary>
    /// Null when <paramref name="text"/> uses <c>SECRET</c> only as allowed (or not at all, or does not parse: syntax
    /// errors are reported elsewhere); otherwise why not. With <paramref name="printAllowed"/> false (conditions, cache
    /// keys, delays: evaluated on the server) any use of <c>SECRET</c> is refused.
    /// </summary>
    public static string? FindMisuse(string text, bool printAllowed)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!TemplateEvaluator.ContainsTemplate(text) || !text.Contains(Namespace, StringComparison.Ordinal))
        {
            return null;
        }
        var compiled = CompiledTemplate.Compile(text);
        if (compiled.Error is not null)
        {
            return null;
        }
        var found = new List<string>();
        if (compiled.Expression is { } expression)
        {
            Output(expression, printAllowed, found);
        }
        else
        {
            Nodes(compiled.Body!, printAllowed, found);
        }
        if (found.Count == 0)
        {
            return null;
        }
        return printAllowed
            ? $"'{found[0]}' uses SECRET in a way the server would have to compute with its value; only {{{{ SECRET.name }}}} " +
              "or {{ SECRET['name'] }} printed as it is may be used (secrets are resolved only when the activity is handed to a worker)"
            : $"'{found[0]}' uses SECRET, which is evaluated on the server here; secrets may only be printed in parameters";
    }

    /// <summary>The secret name when <paramref name="expr"/> is exactly <c>SECRET.name</c> or <c>SECRET['name']</c>.</summary>
    private static bool IsPlainSecret(Expr expr) => expr switch
    {
        GetAttrExpr { Target: NameExpr { Name: Namespace } } => true,
        GetItemExpr { Target: NameExpr { Name: Namespace }, Key: ConstExpr { Value: string } } => true,
        _ => false,
    };

    private static void Output(Expr expr, bool printAllowed, List<string> found)
    {
        if (printAllowed && IsPlainSecret(expr))
        {
            return;
        }
        Walk(expr, found);
    }

    private static void Nodes(IEnumerable<Node> nodes, bool printAllowed, List<string> found)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case OutputNode output:
                    Output(output.Expression, printAllowed, found);
                    break;
                case IfNode branch:
                    foreach (var condition in branch.Conditions) Walk(condition, found);
                    foreach (var body in branch.Bodies) Nodes(body, printAllowed, found);
                    if (branch.Otherwise is not null) Nodes(branch.Otherwise, printAllowed, found);
                    break;
                case ForNode loop:
                    if (loop.Targets.Contains(Namespace)) found.Add(Namespace);
                    Walk(loop.Iterable, found);
                    if (loop.Filter is not null) Walk(loop.Filter, found);
                    Nodes(loop.Body, printAllowed, found);
                    if (loop.Otherwise is not null) Nodes(loop.Otherwise, printAllowed, found);
                    break;
                case SetNode set:
                    // Rebinding the name would make a later {{ SECRET.x }} print something else than a secret.
                    if (set.Targets.Contains(Namespace)) found.Add(Namespace);
                    Walk(set.Value, found);
                    break;
                case SetAttributeNode attribute:
                    if (attribute.Namespace == Namespace) found.Add(Namespace);
                    Walk(attribute.Value, found);
                    break;
                case SetBlockNode block:
                    // Captured output is a value the template can go on computing with.
                    if (block.Target == Namespace) found.Add(Namespace);
                    Nodes(block.Body, printAllowed: false, found);
                    break;
            }
        }
    }

    /// <summary>Records every use of the SECRET name inside <paramref name="expr"/>.</summary>
    private static void Walk(Expr? expr, List<string> found)
    {
        switch (expr)
        {
            case null:
            case ConstExpr:
                return;
            case NameExpr name:
                if (name.Name == Namespace) found.Add(name.Source);
                return;
            case GetAttrExpr attr:
                if (attr.Target is NameExpr { Name: Namespace }) { found.Add(attr.Source); return; }
                Walk(attr.Target, found);
                return;
            case GetItemExpr item:
                if (item.Target is NameExpr { Name: Namespace }) { found.Add(item.Source); return; }
                Walk(item.Target, found);
                Walk(item.Key, found);
                return;
            case SliceExpr slice:
                Walk(slice.Target, found);
                Walk(slice.Start, found);
                Walk(slice.Stop, found);
                Walk(slice.Step, found);
                return;
            case ListExpr list:
                foreach (var e in list.Items) Walk(e, found);
                return;
            case DictExpr dict:
                foreach (var e in dict.Keys) Walk(e, found);
                foreach (var e in dict.Values) Walk(e, found);
                return;
            case UnaryExpr unary:
                Walk(unary.Operand, found);
                return;
            case BinaryExpr binary:
                Walk(binary.Left, found);
                Walk(binary.Right, found);
                return;
            case CompareExpr compare:
                Walk(compare.First, found);
                foreach (var e in compare.Operands) Walk(e, found);
                return;
            case ConditionalExpr conditional:
                Walk(conditional.Condition, found);
                Walk(conditional.Then, found);
                Walk(conditional.Otherwise, found);
                return;
            case FilterExpr filter:
                Walk(filter.Value, found);
                Arguments(filter.Arguments, found);
                return;
            case TestExpr test:
                Walk(test.Value, found);
                Arguments(test.Arguments, found);
                return;
            case FunctionCallExpr call:
                Arguments(call.Arguments, found);
                return;
            case MethodCallExpr method:
                Walk(method.Target, found);
                Arguments(method.Arguments, found);
                return;
            default:
                // A new kind of expression must be taught here; until then, refuse SECRET anywhere in it.
                if (expr.Source.Contains(Namespace, StringComparison.Ordinal)) found.Add(expr.Source);
                return;
        }
    }

    private static void Arguments(CallArguments arguments, List<string> found)
    {
        foreach (var e in arguments.Positional) Walk(e, found);
        foreach (var e in arguments.Named) Walk(e, found);
    }
}
