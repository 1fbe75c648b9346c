using System.Text;

namespace Spindle.Core.Templates;

/// <summary>
/// The remaining <see cref="TemplateLimits"/> of one evaluation. Work is charged before it is done: an operation
/// whose cost grows with its input (repeating, joining, copying a list, scanning text) first checks the size of
/// its result and pays for it, so no single step can allocate or run far past the budget.
/// </summary>
/// <remarks>
/// The evaluator reaches the budget through its <see cref="RenderContext"/>; operators, filters and the printer
/// are static and read <see cref="Current"/>, which <see cref="CompiledTemplate"/> sets for the duration of an
/// evaluation. Evaluation is synchronous, so a thread-static is exact and costs less than threading a parameter
/// through every filter.
/// </remarks>
internal sealed class TemplateBudget(TemplateLimits limits)
{
    [ThreadStatic]
    private static TemplateBudget? _current;

    private long _stepsLeft = limits.MaxSteps;

    public TemplateLimits Limits { get; } = limits;

    /// <summary>The budget of the evaluation running on this thread; unlimited outside of one.</summary>
    public static TemplateBudget Current => _current ??= new TemplateBudget(TemplateLimits.Unlimited);

    /// <summary>Makes this the current budget; returns the one to restore with <see cref="Restore"/>.</summary>
    public TemplateBudget? Enter()
    {
        var previous = _current;
        _current = this;
        return previous;
    }

    public static void Restore(TemplateBudget? previous) => _current = previous;

    public void Step()
    {
        if (--_stepsLeft < 0) throw StepsExceeded();
    }

    /// <summary>Pays for <paramref name="count"/> units of work (list items visited or copied).</summary>
    public void Steps(long count)
    {
        if (count > _stepsLeft)
        {
            _stepsLeft = -1;
            throw StepsExceeded();
        }
        _stepsLeft -= count;
    }

    /// <summary>Pays for reading or writing <paramref name="chars"/> characters of text.</summary>
    public void Text(long chars) => Steps(chars / TemplateLimits.CharsPerStep);

    /// <summary>Pays for searching a text for a needle at its worst: every position compared in full.</summary>
    public void Search(long haystack, long needle) => Text(Times(Math.Max(haystack - needle + 1, 1), Math.Max(needle, 1)));

    /// <summary>Checks that a string of <paramref name="chars"/> characters may be made and pays for writing it.</summary>
    public void NewString(long chars)
    {
        CheckSize(chars);
        Text(chars);
    }

    /// <summary>Before appending <paramref name="chars"/> characters to <paramref name="output"/>.</summary>
    public void Append(StringBuilder output, long chars)
    {
        CheckSize(output.Length + chars);
        Text(chars);
    }

    public void CheckSize(long chars)
    {
        if (chars > Limits.MaxOutputSize)
        {
            throw new TemplateLimitException(
                $"template limit exceeded: the template would build a string of {chars} characters, more than the size limit of {Limits.MaxOutputSize}");
        }
    }

    public void CheckDepth(int depth)
    {
        if (depth > Limits.MaxDepth)
        {
            throw new TemplateLimitException($"template limit exceeded: expressions nest more than {Limits.MaxDepth} levels deep");
        }
    }

    /// <summary><paramref name="a"/> × <paramref name="b"/> for non-negative sizes, saturating instead of overflowing.</summary>
    public static long Times(long a, long b) => a == 0 || b <= long.MaxValue / a ? a * b : long.MaxValue;

    private TemplateLimitException StepsExceeded() => new(
        $"template limit exceeded: the evaluation needs more than {Limits.MaxSteps} steps (loop iterations, expressions, calls, list items and text handled)");
}
