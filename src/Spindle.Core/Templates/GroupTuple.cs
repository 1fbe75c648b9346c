namespace Spindle.Core.Templates;

/// <summary>One group of the <c>groupby</c> filter: a pair <c>(grouper, list)</c> that also answers
/// <c>.grouper</c> and <c>.list</c>, like Jinja's named tuple.</summary>
internal sealed class GroupTuple(object? grouper, List<object?> items)
{
    public object? Grouper { get; } = grouper;

    public List<object?> Items { get; } = items;

    public List<object?> AsList() => [Grouper, Items];
}
