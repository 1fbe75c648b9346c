using System.Text.Json.Nodes;
using Spindle.Core.Orchestration;
using static Spindle.Storage.Tests.StoreTestHelpers;

namespace Spindle.Storage.Tests;

/// <summary>The runs list's keyset paging and filters (<see cref="WorkflowQuery.Cursor"/>, <see cref="WorkflowQuery.IdPrefix"/>).</summary>
public abstract partial class WorkflowStoreBehaviour
{
    private const string PagingSingle = """
        name: single
        activities:
          - {key: only, activity_name: echo}
        """;

    private async Task<List<string>> SubmitManyAsync(string name, int count)
    {
        var ids = new List<string>();
        // Several at once, so some share a created_at and only the id orders them.
        for (var i = 0; i < count; i += 10)
        {
            var batch = Enumerable.Range(i, Math.Min(10, count - i)).Select(n =>
                Store.SubmitAsync(new SubmitCommand(name, null, new JsonObject { ["n"] = n }, null), CancellationToken.None));
            foreach (var outcome in await Task.WhenAll(batch))
            {
                Assert.Equal(StoreStatus.Ok, outcome.Status);
                ids.Add(outcome.Workflow!.Id);
            }
        }
        return ids;
    }

    private async Task<List<WorkflowSummary>> PageAsync(WorkflowQuery query) =>
        [.. (await Store.ListWorkflowsAsync(query, CancellationToken.None)).Items];

    [Fact]
    public async Task ListWorkflows_KeysetPagingWhileRunsAreAdded_VisitsEachRunOnceNewestFirst()
    {
        await Store.DeployAsync(Parse(PagingSingle), CancellationToken.None);
        var before = await SubmitManyAsync("single", 95);
        var all = await PageAsync(new WorkflowQuery(null, null, null, null, 1000, 0));
        Assert.Equal(95, all.Count);
        Assert.Equal(all.OrderByDescending(w => w.CreatedAt).ThenByDescending(w => w.Id, StringComparer.Ordinal).Select(w => w.Id),
            all.Select(w => w.Id));

        var seen = new List<string>();
        WorkflowCursor? cursor = null;
        var pages = 0;
        while (true)
        {
            var page = await PageAsync(new WorkflowQuery(null, null, null, null, 10, 0) { Cursor = cursor });
            if (page.Count == 0)
            {
                break;
            }
            seen.AddRange(page.Select(w => w.Id));
            cursor = new WorkflowCursor(page[^1].CreatedAt, page[^1].Id, Backward: false);
            if (++pages == 3)
            {
                // New runs go on top of the list: the pages still to come neither repeat nor skip a run.
                await SubmitManyAsync("single", 7);
            }
        }
        Assert.Equal(all.Select(w => w.Id), seen);
        Assert.Equal(before.Order(StringComparer.Ordinal), seen.Order(StringComparer.Ordinal));

        // Backward from the oldest run reads the newer ones, each page still newest first.
        var oldest = all[^1];
        var back = await PageAsync(new WorkflowQuery(null, null, null, null, 10, 0) { Cursor = new WorkflowCursor(oldest.CreatedAt, oldest.Id, Backward: true) });
        Assert.Equal(all.Skip(all.Count - 11).Take(10).Select(w => w.Id), back.Select(w => w.Id));
    }

    [Fact]
    public async Task ListWorkflows_FiltersWithCursorAndIdPrefix_MatchOnlyTheirRuns()
    {
        await Store.DeployAsync(Parse(PagingSingle), CancellationToken.None);
        await Store.DeployAsync(Parse(Chain), CancellationToken.None);
        var singles = await SubmitManyAsync("single", 12);
        var chains = await SubmitManyAsync("chain", 5);
        Assert.Equal(StoreStatus.Ok, (await Store.CancelAsync(singles[3], null, CancellationToken.None)).Status);
        Assert.Equal(StoreStatus.Ok, (await Store.CancelAsync(singles[7], null, CancellationToken.None)).Status);

        var first = await PageAsync(new WorkflowQuery(null, "single", null, null, 5, 0));
        var rest = await PageAsync(new WorkflowQuery(null, "single", null, null, 100, 0) { Cursor = new WorkflowCursor(first[^1].CreatedAt, first[^1].Id, false) });
        Assert.Equal(singles.Order(StringComparer.Ordinal), first.Concat(rest).Select(w => w.Id).Order(StringComparer.Ordinal));
        Assert.All(first.Concat(rest), w => Assert.Equal("single", w.DefinitionName));

        var cancelled = await PageAsync(new WorkflowQuery(WorkflowStatus.Cancelled, null, null, null, 1, 0));
        var cancelledRest = await PageAsync(new WorkflowQuery(WorkflowStatus.Cancelled, null, null, null, 10, 0)
        { Cursor = new WorkflowCursor(cancelled[0].CreatedAt, cancelled[0].Id, false) });
        Assert.Equal(new[] { singles[3], singles[7] }.Order(StringComparer.Ordinal),
            cancelled.Concat(cancelledRest).Select(w => w.Id).Order(StringComparer.Ordinal));

        var target = chains[2];
        var exact = await PageAsync(new WorkflowQuery(null, null, null, null, 10, 0) { IdPrefix = target });
        Assert.Equal(target, Assert.Single(exact).Id);
        // UUIDv7 ids made in the same millisecond share their first 12 hex digits; a prefix finds every one of them.
        var prefix = target[..10];
        var byPrefix = await PageAsync(new WorkflowQuery(null, null, null, null, 1000, 0) { IdPrefix = prefix });
        Assert.Equal(singles.Concat(chains).Where(id => id.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal),
            byPrefix.Select(w => w.Id).Order(StringComparer.Ordinal));
        Assert.Empty(await PageAsync(new WorkflowQuery(null, null, null, null, 10, 0) { IdPrefix = "ffffffff" }));

        var listed = Assert.Single(exact);
        Assert.Equal(0m, listed.TotalCost);
        Assert.Null(listed.CompletedAt);
        var done = Assert.Single(await PageAsync(new WorkflowQuery(null, null, null, null, 10, 0) { IdPrefix = singles[3] }));
        Assert.NotNull(done.CompletedAt);
    }
}
