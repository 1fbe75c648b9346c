namespace Spindle.Storage;

/// <summary>
/// Combines writes to one key that arrive while a write to that key is in flight into one batch, so that they share
/// one transaction instead of queueing on the same row lock one commit after another (a fan-in's completions).
/// The first arrival runs on its own at once, so a lone write waits for nothing; whatever arrives meanwhile is run
/// as one batch when it ends, and so on until the key's queue is empty. With one key for everything it is a group
/// committer: whatever arrives while a transaction commits goes into the next one (at most <c>maxBatch</c> items).
/// </summary>
/// <remarks>
/// A batch serves several callers, so it runs to its end even when one of them stops waiting: a caller's token
/// cancels its wait, not the write that records its result.
/// </remarks>
public sealed class WriteCombiner<TItem, TResult>
{
    /// <summary>Runs one batch; answers one result per item, in order.</summary>
    public delegate Task<IReadOnlyList<TResult>> BatchRunner(string key, IReadOnlyList<TItem> items);

    private readonly BatchRunner _run;
    private readonly Dictionary<string, List<Pending>> _queues = new(StringComparer.Ordinal);
    private readonly int _maxBatch;

    public WriteCombiner(BatchRunner run, int maxBatch = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        _run = run;
        _maxBatch = maxBatch;
    }

    /// <summary>Items waiting for the batch in flight to end (for tests).</summary>
    public int Waiting
    {
        get
        {
            lock (_queues)
            {
                return _queues.Values.Sum(q => q.Count);
            }
        }
    }

    /// <summary>Keys with a write in flight (for tests).</summary>
    public int ActiveKeys
    {
        get
        {
            lock (_queues)
            {
                return _queues.Count;
            }
        }
    }

    public Task<TResult> RunAsync(string key, TItem item, CancellationToken cancellationToken)
    {
        var pending = new Pending(item);
        lock (_queues)
        {
            if (_queues.TryGetValue(key, out var queue))
            {
                queue.Add(pending);
                return pending.Result.Task.WaitAsync(cancellationToken);
            }
            _queues[key] = [];
        }
        return LeadAsync(key, pending, cancellationToken);
    }

    private async Task<TResult> LeadAsync(string key, Pending own, CancellationToken cancellationToken)
    {
        await RunBatchAsync(key, [own]);
        bool alone;
        lock (_queues)
        {
            alone = _queues[key].Count == 0;
            if (alone)
            {
                _queues.Remove(key);
            }
        }
        if (!alone)
        {
            // The lead answers now; whatever queued meanwhile is run by another thread. A batch can finish without
            // ever yielding (SQLite's statements run inline), so draining here could keep the lead's answer back for as
            // long as reports keep arriving.
            _ = Task.Run(() => DrainAsync(key), CancellationToken.None);
        }
        return await own.Result.Task.WaitAsync(cancellationToken);
    }

    private async Task DrainAsync(string key)
    {
        while (true)
        {
            List<Pending> batch;
            lock (_queues)
            {
                var queue = _queues[key];
                if (queue.Count == 0)
                {
                    _queues.Remove(key);
                    return;
                }
                var take = Math.Min(queue.Count, _maxBatch);
                batch = queue.GetRange(0, take);
                queue.RemoveRange(0, take);
            }
            await RunBatchAsync(key, batch);
        }
    }

    /// <summary>Settles every item of the batch; never throws.</summary>
    private async Task RunBatchAsync(string key, List<Pending> batch)
    {
        try
        {
            var results = await _run(key, batch.ConvertAll(p => p.Item));
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Result.TrySetResult(results[i]);
            }
        }
        catch (Exception ex)
        {
            foreach (var p in batch)
            {
                p.Result.TrySetException(ex);
            }
        }
    }

    private sealed class Pending(TItem item)
    {
        public TItem Item { get; } = item;

        // Continuations run off the batch's thread, so one waiter's continuation does not hold up the next batch.
        public TaskCompletionSource<TResult> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
