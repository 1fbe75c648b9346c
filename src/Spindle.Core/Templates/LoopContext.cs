namespace Spindle.Core.Templates;

/// <summary>The <c>loop</c> variable inside <c>{% for %}</c>. One instance serves every iteration.</summary>
internal sealed class LoopContext(IReadOnlyList<object?> items)
{
    public IReadOnlyList<object?> Items { get; } = items;

    public int Index0 { get; set; }

    public bool TryGetAttribute(string name, out object? value)
    {
        var length = Items.Count;
        value = name switch
        {
            "index" => (long)Index0 + 1,
            "index0" => (long)Index0,
            "revindex" => (long)(length - Index0),
            "revindex0" => (long)(length - Index0 - 1),
            "first" => Index0 == 0,
            "last" => Index0 == length - 1,
            "length" => (long)length,
            "depth" => 1L,
            "depth0" => 0L,
            "previtem" => Index0 > 0 ? Items[Index0 - 1] : new Undefined("loop.previtem", "this is the first item"),
            "nextitem" => Index0 < length - 1 ? Items[Index0 + 1] : new Undefined("loop.nextitem", "this is the last item"),
            _ => null,
        };
        return value != null;
    }
}
