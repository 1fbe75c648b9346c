namespace Spindle.Core.Templates;

/// <summary>A template could not be parsed or evaluated; the message names the expression and the cause.</summary>
public class TemplateException : Exception
{
    public TemplateException() { }
    public TemplateException(string message) : base(message) { }
    public TemplateException(string message, Exception inner) : base(message, inner) { }

    /// <summary>Where in a resolved tree the failing string is (<c>prompt</c>, <c>items[2].url</c>); null for a
    /// single string.</summary>
    public string? Location { get; internal set; }
}
