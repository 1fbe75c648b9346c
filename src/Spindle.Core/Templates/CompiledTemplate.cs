using System.Text.Json.Nodes;

namespace Spindle.Core.Templates;

/// <summary>
/// A parsed template string, cached by <see cref="TemplateEvaluator"/>: a whole-value expression, a template
/// body, or the syntax error to report each time it is used.
/// </summary>
internal sealed class CompiledTemplate
{
    private readonly Expr? _expression;
    private readonly Node[]? _body;

    private CompiledTemplate(Expr? expression, Node[]? body, string? error)
    {
        _expression = expression;
        _body = body;
        Error = error;
    }

    public string? Error { get; }

    /// <summary>The whole-value expression, or null for a template body (read by <see cref="SecretReferences"/>).</summary>
    internal Expr? Expression => _expression;

    /// <summary>The template body, or null for a whole-value expression.</summary>
    internal Node[]? Body => _body;

    public static CompiledTemplate Compile(string text)
    {
        try
        {
            return TryFindWholeValue(text, out var start, out var end)
                ? new CompiledTemplate(Parser.ParseExpression(text, start, end), null, null)
                : new CompiledTemplate(null, Parser.ParseTemplate(text), null);
        }
        catch (TemplateException e)
        {
            return new CompiledTemplate(null, null, e.Message);
        }
    }

    /// <summary>A whole value (docs/workflow-format.md, Templates): once trimmed, the text starts with "{{", ends with "}}" and holds no other "{{".
    /// <paramref name="start"/>..<paramref name="end"/> is the expression inside.</summary>
    private static bool TryFindWholeValue(string text, out int start, out int end)
    {
        start = 0;
        end = text.Length;
        while (start < end && char.IsWhiteSpace(text[start])) start++;
        while (end > start && char.IsWhiteSpace(text[end - 1])) end--;
        var trimmed = text.AsSpan(start, end - start);
        if (trimmed.Length < 4 || !trimmed.StartsWith("{{") || !trimmed.EndsWith("}}") || trimmed[2..].IndexOf("{{") >= 0)
        {
            return false;
        }
        start += 2;
        end -= 2;
        // Whitespace control ("{{- x -}}") has nothing to strip in a whole value.
        if (start < end && text[start] == '-') start++;
        if (end > start && text[end - 1] == '-') end--;
        return true;
    }

    public JsonNode? Evaluate(IReadOnlyDictionary<string, JsonNode?> scope, TemplateBudget budget)
    {
        if (Error != null) throw new TemplateException(Error);
        var previous = budget.Enter();
        try
        {
            budget.Step();
            var context = new RenderContext(scope, budget);
            if (_expression == null) return JsonValue.Create(Renderer.Render(_body!, context));
            // A plain path into the scope copies the JSON as it is, so decimals and large integers keep their digits.
            if (TryReadScope(_expression, scope, out var node)) return node?.DeepClone();
            return Values.ToNode(Evaluator.Evaluate(_expression, context));
        }
        catch (InsufficientExecutionStackException)
        {
            // The depth limit normally stops first; this covers a limit configured deeper than the stack allows.
            throw new TemplateLimitException($"template limit exceeded: expressions nest too deeply for the stack (depth limit {budget.Limits.MaxDepth})");
        }
        catch (Exception e) when (e is not TemplateException)
        {
            throw new TemplateException($"template evaluation failed: {e.Message}", e);
        }
        finally
        {
            TemplateBudget.Restore(previous);
        }
    }

    private static bool TryReadScope(Expr expr, IReadOnlyDictionary<string, JsonNode?> scope, out JsonNode? node)
    {
        node = null;
        switch (expr)
        {
            case NameExpr name:
                return scope.TryGetValue(name.Name, out node);
            case GetAttrExpr attr:
                return TryReadScope(attr.Target, scope, out var owner) && owner is JsonObject obj && obj.TryGetPropertyValue(attr.Name, out node);
            case GetItemExpr { Key: ConstExpr { Value: string key } } item:
                return TryReadScope(item.Target, scope, out var container) && container is JsonObject map && map.TryGetPropertyValue(key, out node);
            case GetItemExpr { Key: ConstExpr { Value: long index } } item:
                if (!TryReadScope(item.Target, scope, out var list) || list is not JsonArray array) return false;
                var at = index < 0 ? index + array.Count : index;
                if (at < 0 || at >= array.Count) return false;
                node = array[(int)at];
                return true;
            default:
                return false;
        }
    }
}
