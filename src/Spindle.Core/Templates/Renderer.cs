using System.Text;

namespace Spindle.Core.Templates;

/// <summary>Renders the statements of a string template with Jinja's scoping: <c>if</c> shares its frame,
/// each loop iteration gets a fresh one, so <c>set</c> inside a loop is lost unless it targets a namespace.</summary>
internal static class Renderer
{
    public static string Render(Node[] body, RenderContext context)
    {
        var output = new StringBuilder();
        RenderBody(body, context, output);
        // Strings are checked before they are appended; short numbers and words only here, at most a few steps' worth.
        context.Budget.CheckSize(output.Length);
        return output.ToString();
    }

    private static void RenderBody(Node[] body, RenderContext context, StringBuilder output)
    {
        foreach (var node in body)
        {
            context.Budget.Step();
            switch (node)
            {
                case TextNode text:
                    context.Budget.Append(output, text.Text.Length);
                    output.Append(text.Text);
                    break;
                case OutputNode print:
                    // The printer checks the output's size before each piece it appends.
                    Printer.AppendStr(output, Values.Defined(Evaluator.Evaluate(print.Expression, context)));
                    break;
                case IfNode branch:
                    RenderIf(branch, context, output);
                    break;
                case ForNode loop:
                    RenderFor(loop, context, output);
                    break;
                case SetNode set:
                    Assign(set.Targets, Evaluator.Evaluate(set.Value, context), context);
                    break;
                case SetAttributeNode setAttribute:
                    SetAttribute(setAttribute, context);
                    break;
                case SetBlockNode block:
                    var captured = new StringBuilder();
                    RenderBody(block.Body, context, captured);
                    context.Set(block.Target, captured.ToString());
                    break;
            }
        }
    }

    private static void RenderIf(IfNode branch, RenderContext context, StringBuilder output)
    {
        for (var i = 0; i < branch.Conditions.Length; i++)
        {
            if (!Values.IsTrue(Evaluator.Evaluate(branch.Conditions[i], context))) continue;
            RenderBody(branch.Bodies[i], context, output);
            return;
        }
        if (branch.Otherwise != null) RenderBody(branch.Otherwise, context, output);
    }

    private static void RenderFor(ForNode loop, RenderContext context, StringBuilder output)
    {
        var items = Values.Iterate(Evaluator.Evaluate(loop.Iterable, context));
        var frame = context.PushFrame();
        try
        {
            if (loop.Filter != null) items = Filter(loop, items, context, frame);
            var state = new LoopContext(items);
            for (var i = 0; i < items.Count; i++)
            {
                context.Budget.Step();
                frame.Clear();
                state.Index0 = i;
                Assign(loop.Targets, items[i], context);
                frame["loop"] = state;
                RenderBody(loop.Body, context, output);
            }
        }
        finally
        {
            context.PopFrame();
        }
        if (items.Count == 0 && loop.Otherwise != null) RenderBody(loop.Otherwise, context, output);
    }

    // "for x in xs if cond": the condition sees the loop variables but not "loop", and loop.length counts
    // only the items that pass.
    private static List<object?> Filter(ForNode loop, IReadOnlyList<object?> items, RenderContext context, Dictionary<string, object?> frame)
    {
        var kept = new List<object?>();
        foreach (var item in items)
        {
            context.Budget.Step();
            frame.Clear();
            Assign(loop.Targets, item, context);
            if (Values.IsTrue(Evaluator.Evaluate(loop.Filter!, context))) kept.Add(item);
        }
        return kept;
    }

    private static void Assign(string[] targets, object? value, RenderContext context)
    {
        if (targets.Length == 1)
        {
            context.Set(targets[0], value);
            return;
        }
        var parts = Values.Iterate(Values.Defined(value));
        if (parts.Count != targets.Length)
        {
            throw TemplateErrors.Runtime($"cannot unpack {parts.Count} value(s) into {targets.Length} names ({string.Join(", ", targets)})");
        }
        for (var i = 0; i < targets.Length; i++) context.Set(targets[i], parts[i]);
    }

    private static void SetAttribute(SetAttributeNode set, RenderContext context)
    {
        if (!context.TryLookup(set.Namespace, out var target) || target is not Namespace ns)
        {
            throw TemplateErrors.Runtime($"cannot set '{set.Namespace}.{set.Attribute}': '{set.Namespace}' is not a namespace");
        }
        ns.Attributes[set.Attribute] = Evaluator.Evaluate(set.Value, context);
    }
}
