namespace Spindle.Core.Templates;

/// <summary>Nodes of a string template body.</summary>
internal abstract record Node;

internal sealed record TextNode(string Text) : Node;

internal sealed record OutputNode(Expr Expression) : Node;

/// <summary><c>if</c>/<c>elif</c> branches in order, then the optional <c>else</c> body.</summary>
internal sealed record IfNode(Expr[] Conditions, Node[][] Bodies, Node[]? Otherwise) : Node;

internal sealed record ForNode(string[] Targets, Expr Iterable, Expr? Filter, Node[] Body, Node[]? Otherwise) : Node;

internal sealed record SetNode(string[] Targets, Expr Value) : Node;

/// <summary><c>{% set ns.attr = value %}</c>: the only way to carry a value out of a loop body.</summary>
internal sealed record SetAttributeNode(string Namespace, string Attribute, Expr Value) : Node;

internal sealed record SetBlockNode(string Target, Node[] Body) : Node;
