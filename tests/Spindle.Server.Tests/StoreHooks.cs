using System.Reflection;
using Spindle.Storage;

namespace Spindle.Server.Tests;

/// <summary>
/// A real store with code run just before and just after its <c>CompleteAsync</c> (the moments between the server's
/// bookkeeping and the store's transaction); every other call goes straight through.
/// </summary>
public class StoreHooks : DispatchProxy
{
    private IWorkflowStore _inner = null!;
    private Action? _before;
    private Action? _after;

    public static IWorkflowStore Wrap(IWorkflowStore inner, Action? beforeComplete = null, Action? afterComplete = null)
    {
        var proxy = Create<IWorkflowStore, StoreHooks>();
        var hooks = (StoreHooks)(object)proxy;
        (hooks._inner, hooks._before, hooks._after) = (inner, beforeComplete, afterComplete);
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        if (targetMethod.Name != nameof(IWorkflowStore.CompleteAsync))
        {
            return targetMethod.Invoke(_inner, args);
        }
        _before?.Invoke();
        return CompleteAsync((CompleteCommand)args![0]!, (CancellationToken)args[1]!);
    }

    private async Task<CompleteOutcome> CompleteAsync(CompleteCommand command, CancellationToken cancellationToken)
    {
        var outcome = await _inner.CompleteAsync(command, cancellationToken);
        _after?.Invoke();
        return outcome;
    }
}
