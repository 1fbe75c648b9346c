using System.Text.Json.Nodes;

namespace Spindle.Core.Templates;

/// <summary>Variable lookup for one evaluation: template-local frames (set, for) over the read-only scope.</summary>
internal sealed class RenderContext(IReadOnlyDictionary<string, JsonNode?> scope, TemplateBudget budget)
{
    public TemplateBudget Budget { get; } = budget;

    /// <summary>Expressions being evaluated right now, innermost included (checked against the depth limit).</summary>
    public int Depth { get; set; }

    // Innermost frame last. Empty for whole-value expressions, which never declare variables.
    private readonly List<Dictionary<string, object?>> _frames = [];

    public bool TryLookup(string name, out object? value)
    {
        for (var i = _frames.Count - 1; i >= 0; i--)
        {
            if (_frames[i].TryGetValue(name, out value)) return true;
        }
        if (scope.TryGetValue(name, out var node))
        {
            value = Values.FromNode(node);
            return true;
        }
        value = null;
        return false;
    }

    /// <summary>Assigns in the innermost frame: a set inside a loop body does not outlive the iteration.</summary>
    public void Set(string name, object? value)
    {
        if (_frames.Count == 0) PushFrame();
        _frames[^1][name] = value;
    }

    public Dictionary<string, object?> PushFrame()
    {
        var frame = new Dictionary<string, object?>(StringComparer.Ordinal);
        _frames.Add(frame);
        return frame;
    }

    public void PopFrame() => _frames.RemoveAt(_frames.Count - 1);
}
