namespace Spindle.Core.Templates;

/// <summary>A template could not be parsed or evaluated; the message names the expression and the cause.</summary>
public sealed class TemplateException : Exception
{
    public TemplateException() { }
    public TemplateException(string message) : base(message) { }
    public TemplateException(string message, Exception inner) : base(message, inner) { }
}
