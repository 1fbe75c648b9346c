namespace Spindle.Core.Templates;

/// <summary>
/// A missing variable, key, attribute or index (docs/workflow-format.md, Templates). It may be looked into further, given to
/// default/coalesce or tested with <c>is defined</c>; every other use throws <see cref="ToException"/>.
/// </summary>
internal sealed class Undefined(string? name, string? reason = null)
{
    /// <summary>The expression that produced it; null until the evaluator names it after a filter call.</summary>
    public string? Name { get; } = name;

    public string? Reason { get; } = reason;

    public Undefined WithName(string name) => new(name, Reason);

    public TemplateException ToException()
    {
        var name = Name ?? "value";
        return Reason == null
            ? TemplateErrors.Undefined(name)
            : TemplateErrors.Runtime($"'{name}' is undefined ({Reason})");
    }
}
