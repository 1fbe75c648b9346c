namespace Spindle.Server.Wakeups;

/// <summary>
/// A pulse that wakes every current waiter. Waiters take <see cref="Current"/> before they check for work, so a
/// pulse that lands between the check and the wait is never lost.
/// </summary>
public sealed class AsyncSignal
{
    private TaskCompletionSource _current = NewSource();

    public Task Current => Volatile.Read(ref _current).Task;

    public void Pulse() => Interlocked.Exchange(ref _current, NewSource()).TrySetResult();

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
