namespace Spindle.Core.Templates;

/// <summary>An evaluation ran out of its <see cref="TemplateLimits"/>: the engine fails the activity with
/// TEMPLATE_LIMIT_EXCEEDED instead of TEMPLATE_ERROR. The message names the limit and its value.</summary>
public sealed class TemplateLimitException : TemplateException
{
    public TemplateLimitException() { }
    public TemplateLimitException(string message) : base(message) { }
    public TemplateLimitException(string message, Exception inner) : base(message, inner) { }
}
