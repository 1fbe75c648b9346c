namespace Spindle.Core.Templates;

/// <summary>The mutable object made by <c>namespace()</c>; <c>{% set ns.x = … %}</c> writes into it.</summary>
internal sealed class Namespace
{
    public OrderedDictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}
