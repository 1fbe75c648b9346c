namespace Spindle.Storage.Tests;

public sealed class WriteCombinerTests
{
    /// <summary>A runner that records each batch and holds it until released.</summary>
    private sealed class HeldRunner
    {
        private readonly Lock _gate = new();
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<(string Key, IReadOnlyList<int> Items)> Batches { get; } = [];

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Exception? Throw { get; set; }

        public async Task<IReadOnlyList<string>> RunAsync(string key, IReadOnlyList<int> items)
        {
            Task release;
            lock (_gate)
            {
                Batches.Add((key, items));
                release = _release.Task;
                Started.TrySetResult();
            }
            await release;
            if (Throw is { } ex)
            {
                throw ex;
            }
            return items.Select(i => $"{key}:{i}").ToList();
        }

        public void ReleaseAll()
        {
            lock (_gate)
            {
                _release.TrySetResult();
            }
        }

        public bool Ran(string key, params int[] items)
        {
            lock (_gate)
            {
                return Batches.Any(b => b.Key == key && b.Items.SequenceEqual(items));
            }
        }
    }

    /// <summary>Whether every key is released: the thread that ran the last batch lets go of its key just after
    /// answering, so a caller may see it still held for a moment.</summary>
    private static async Task<bool> ReleasedAsync<TItem, TResult>(WriteCombiner<TItem, TResult> combiner)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (combiner.ActiveKeys > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
        return combiner.ActiveKeys == 0;
    }

    [Fact]
    public async Task RunAsync_Alone_RunsAtOnceAsABatchOfOne()
    {
        var runner = new HeldRunner();
        runner.ReleaseAll();
        var combiner = new WriteCombiner<int, string>(runner.RunAsync);
        Assert.Equal("wf:7", await combiner.RunAsync("wf", 7, CancellationToken.None));
        Assert.True(runner.Ran("wf", 7));
        Assert.Single(runner.Batches);
        Assert.Equal(0, combiner.ActiveKeys);
    }

    [Fact]
    public async Task RunAsync_ArrivingWhileAWriteRuns_RunTogetherInTheNextBatchEachWithItsOwnResult()
    {
        var runner = new HeldRunner();
        var combiner = new WriteCombiner<int, string>(runner.RunAsync);
        var first = combiner.RunAsync("wf", 1, CancellationToken.None);
        await runner.Started.Task;
        var later = Enumerable.Range(2, 3).Select(i => combiner.RunAsync("wf", i, CancellationToken.None)).ToList();
        var otherKey = combiner.RunAsync("other", 9, CancellationToken.None); // another workflow is not held up
        runner.ReleaseAll();

        Assert.Equal("wf:1", await first);
        Assert.Equal(["wf:2", "wf:3", "wf:4"], await Task.WhenAll(later));
        Assert.Equal("other:9", await otherKey);
        var wfBatches = runner.Batches.Where(b => b.Key == "wf").Select(b => b.Items.ToArray()).ToList();
        Assert.Equal([[1], [2, 3, 4]], wfBatches);
        Assert.True(await ReleasedAsync(combiner));
    }

    [Fact]
    public async Task RunAsync_MoreWaitingThanTheBatchLimit_RunInBatchesOfAtMostTheLimitInArrivalOrder()
    {
        var runner = new HeldRunner();
        var combiner = new WriteCombiner<int, string>(runner.RunAsync, maxBatch: 2);
        var first = combiner.RunAsync("", 1, CancellationToken.None);
        await runner.Started.Task;
        var later = Enumerable.Range(2, 5).Select(i => combiner.RunAsync("", i, CancellationToken.None)).ToList();
        Assert.Equal(5, combiner.Waiting);
        runner.ReleaseAll();

        Assert.Equal(":1", await first);
        Assert.Equal([":2", ":3", ":4", ":5", ":6"], await Task.WhenAll(later));
        Assert.Equal([[1], [2, 3], [4, 5], [6]], runner.Batches.Select(b => b.Items.ToArray()).ToList());
        Assert.Equal(0, combiner.Waiting);
        Assert.True(await ReleasedAsync(combiner));
    }

    [Fact]
    public async Task RunAsync_BatchFails_EachOfItsCallersSeesTheFailureAndTheKeyIsReleased()
    {
        var runner = new HeldRunner();
        var combiner = new WriteCombiner<int, string>(runner.RunAsync);
        var first = combiner.RunAsync("wf", 1, CancellationToken.None);
        await runner.Started.Task;
        var second = combiner.RunAsync("wf", 2, CancellationToken.None);
        var third = combiner.RunAsync("wf", 3, CancellationToken.None);
        runner.Throw = new InvalidOperationException("database down");
        runner.ReleaseAll();

        await Assert.ThrowsAsync<InvalidOperationException>(() => first);
        await Assert.ThrowsAsync<InvalidOperationException>(() => second);
        await Assert.ThrowsAsync<InvalidOperationException>(() => third);
        runner.Throw = null;
        Assert.Equal("wf:4", await combiner.RunAsync("wf", 4, CancellationToken.None));
        Assert.True(await ReleasedAsync(combiner));
    }

    [Fact]
    public async Task RunAsync_CallerStopsWaiting_ItsWriteStillRuns()
    {
        var runner = new HeldRunner();
        var combiner = new WriteCombiner<int, string>(runner.RunAsync);
        var first = combiner.RunAsync("wf", 1, CancellationToken.None);
        await runner.Started.Task;
        using var gaveUp = new CancellationTokenSource();
        var waiting = combiner.RunAsync("wf", 2, gaveUp.Token);
        await gaveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);

        runner.ReleaseAll();
        Assert.Equal("wf:1", await first);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!runner.Ran("wf", 2) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
        Assert.True(runner.Ran("wf", 2));
    }
}
