namespace Spindle.Core.Templates;

/// <summary>Builds the messages of <see cref="TemplateException"/> so that they read the same everywhere.</summary>
internal static class TemplateErrors
{
    private const int MaxQuotedLength = 80;

    public static TemplateException Syntax(string source, int position, string message) =>
        new($"template syntax error: {message} (at position {position} of \"{Shorten(source)}\")");

    public static TemplateException Undefined(string name) => new($"'{name}' is undefined");

    public static TemplateException Runtime(string message) => new(message);

    private static string Shorten(string source) =>
        source.Length <= MaxQuotedLength ? source : string.Concat(source.AsSpan(0, MaxQuotedLength), "…");
}
