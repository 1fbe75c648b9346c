using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Worker.Std.Ai;

/// <summary>Reads a model's answer in JSON-output mode, tolerating the Markdown code fence some models wrap it in.</summary>
internal static class JsonAnswer
{
    public static bool TryParse(string text, out JsonNode? value, out string? error)
    {
        string trimmed = StripFence(text.Trim());
        try
        {
            value = JsonNode.Parse(trimmed);
            error = null;
            return true;
        }
        catch (JsonException ex)
        {
            value = null;
            error = ex.Message;
            return false;
        }
    }

    private static string StripFence(string text)
    {
        if (!text.StartsWith("```", StringComparison.Ordinal) || !text.EndsWith("```", StringComparison.Ordinal) || text.Length < 6)
        {
            return text;
        }

        int firstLineEnd = text.IndexOf('\n', StringComparison.Ordinal);
        return firstLineEnd < 0 ? text[3..^3].Trim() : text[(firstLineEnd + 1)..^3].Trim();
    }
}
