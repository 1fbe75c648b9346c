namespace Spindle.Core.Templates;

/// <summary>
/// What one evaluation may spend. Templates run inside the store's write transaction, so an unbounded loop or a
/// huge string would hold up every other workflow; the engine evaluates all templates of one activity (its
/// parameters, delay, schedule and cache key) or of one dependency edge's conditions under one budget.
/// </summary>
public sealed record TemplateLimits
{
    public static readonly TemplateLimits Default = new();

    /// <summary>No limits; for callers that evaluate trusted text outside the engine.</summary>
    public static readonly TemplateLimits Unlimited = new() { MaxSteps = long.MaxValue, MaxOutputSize = int.MaxValue, MaxDepth = 1_000 };

    /// <summary>
    /// Units of work: each expression and statement evaluated, each loop iteration and call, each list item
    /// copied or visited, and each <see cref="CharsPerStep"/> characters of text read or written.
    /// </summary>
    public long MaxSteps { get; init; } = 100_000;

    /// <summary>Largest string (in UTF-16 characters) a template may build, including the rendered output.</summary>
    public int MaxOutputSize { get; init; } = 1024 * 1024;

    /// <summary>How deeply expressions may nest while evaluating (<c>a|f|f|f…</c> and <c>1+1+1…</c> nest too);
    /// the evaluator recurses, so this keeps hostile input from overflowing the stack.</summary>
    public int MaxDepth { get; init; } = 200;

    /// <summary>Characters of text handled per step.</summary>
    public const int CharsPerStep = 64;
}
