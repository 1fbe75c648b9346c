using System.Diagnostics.CodeAnalysis;

namespace Spindle.Worker.Std.Email;

/// <summary>A file produced by a workflow activity: <c>postgres://{workflow_id}/{activity_key}/{filename}</c> (docs/worker-protocol.md).</summary>
public sealed record WorkflowFileReference(string WorkflowId, string ActivityKey, string FileName)
{
    public const string Scheme = "postgres://";

    public static bool TryParse(string? text, [NotNullWhen(true)] out WorkflowFileReference? reference)
    {
        reference = null;
        if (text is null || !text.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        // The file name is everything after the second separator, so names with '/' survive.
        string[] parts = text[Scheme.Length..].Split('/', 3);
        if (parts.Length != 3 || parts.Any(p => p.Length == 0))
        {
            return false;
        }

        reference = new WorkflowFileReference(Uri.UnescapeDataString(parts[0]), Uri.UnescapeDataString(parts[1]), Uri.UnescapeDataString(parts[2]));
        return true;
    }

    public override string ToString() => $"{Scheme}{WorkflowId}/{ActivityKey}/{FileName}";
}

/// <summary>The bytes of a downloaded workflow file and the content type the server stored with it.</summary>
public sealed record WorkflowFile(byte[] Content, string? ContentType);
