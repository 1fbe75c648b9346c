namespace Spindle.Worker.Std.Ai;

/// <summary>One message of a conversation; <see cref="Role"/> is <c>system</c>, <c>user</c> or <c>assistant</c>.</summary>
internal sealed record ChatMessage(string Role, string Content);

/// <summary>
/// A provider-neutral completion request, translated by each <see cref="LlmProvider"/> into its wire format; with
/// <see cref="Stream"/> the provider is asked for its streaming answer.
/// </summary>
internal sealed record ChatRequest(
    IReadOnlyList<ChatMessage> Messages,
    string? System,
    int? MaxTokens,
    double? Temperature,
    bool Json,
    double? TopP = null,
    IReadOnlyList<string>? StopSequences = null,
    bool Stream = false)
{
    /// <summary>Appended to the system prompt in JSON mode where the provider has no strict switch of its own.</summary>
    public const string JsonInstruction = "Respond with a single valid JSON value and nothing else (no prose, no code fences).";

    /// <summary>Characters of all the text sent, for the token estimate.</summary>
    public long Characters => (System?.Length ?? 0) + Messages.Sum(m => (long)m.Content.Length);

    /// <summary>The system prompt plus the system messages of the list, for providers that take one system text.</summary>
    public string? CombinedSystem(bool withJsonInstruction)
    {
        var parts = new List<string>();
        if (!string.IsNullOrEmpty(System))
        {
            parts.Add(System);
        }

        parts.AddRange(Messages.Where(m => m.Role == "system").Select(m => m.Content));
        if (withJsonInstruction && Json)
        {
            parts.Add(JsonInstruction);
        }

        return parts.Count == 0 ? null : string.Join("\n\n", parts);
    }

    /// <summary>The messages other than system messages.</summary>
    public IEnumerable<ChatMessage> ConversationMessages => Messages.Where(m => m.Role != "system");
}
