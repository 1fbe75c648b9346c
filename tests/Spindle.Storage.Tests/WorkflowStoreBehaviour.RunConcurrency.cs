using System.Text.Json.Nodes;
using Spindle.Core.Orchestration;
using static Spindle.Storage.Tests.StoreTestHelpers;

namespace Spindle.Storage.Tests;

// Workflow-level concurrency on both stores: runs over their key's limit wait ('created') and start in submit order,
// in the transaction that ends the run holding the slot.
public abstract partial class WorkflowStoreBehaviour
{
    private const string PerCustomerYaml = """
        name: per_customer
        concurrency: {key: "{{INPUT.customer}}", limit: 2}
        activities:
          - {key: work, activity_name: echo, parameters: {n: "{{INPUT.n}}"}}
        """;

    private static async Task<string> SubmitPerCustomerAsync(IWorkflowStore store, string customer, int n)
    {
        var outcome = await store.SubmitAsync(new SubmitCommand("per_customer", null,
            new JsonObject { ["customer"] = customer, ["n"] = n }, null), CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, outcome.Status);
        return outcome.Workflow!.Id;
    }

    private async Task<string> StatusAsync(string id) => (await Store.GetWorkflowStatusAsync(id, CancellationToken.None))!;

    private async Task<List<string>> WithStatusAsync(IEnumerable<string> ids, string status)
    {
        var matching = new List<string>();
        foreach (var id in ids)
        {
            if (await StatusAsync(id) == status)
            {
                matching.Add(id);
            }
        }
        return matching;
    }

    [Fact]
    public async Task RunConcurrency_ManySubmitsOfOneKey_RunsAtMostTheLimitAndStartsTheRestInSubmitOrder()
    {
        await Store.DeployAsync(Parse(PerCustomerYaml), CancellationToken.None);
        var acme = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            acme.Add(await SubmitPerCustomerAsync(Store, "acme", i));
        }
        var beta = new[] { await SubmitPerCustomerAsync(Store, "beta", 100), await SubmitPerCustomerAsync(Store, "beta", 101) };

        Assert.Equal(acme[..2], await WithStatusAsync(acme, WorkflowStatus.Running));
        Assert.Equal(acme[2..], await WithStatusAsync(acme, WorkflowStatus.Created));
        Assert.Equal(beta, await WithStatusAsync(beta, WorkflowStatus.Running)); // another key has slots of its own
        var waiting = (await Store.GetWorkflowAsync(acme[2], CancellationToken.None))!;
        Assert.Empty(waiting.Activities); // nothing of a waiting run is queued for workers
        Assert.Null(waiting.DeadlineAt); // its deadline counts from its start

        // Only the running runs' activities are claimable; each completion starts the oldest waiting run at once.
        var started = new List<int>();
        var claimed = await ClaimAsync(Store, "w1", 100);
        Assert.Equal(4, claimed.Count);
        var queue = new Queue<ClaimedActivity>(claimed.Where(c => acme.Contains(c.WorkflowId)).OrderBy(c => c.Parameters["n"]!.GetValue<int>()));
        foreach (var b in claimed.Where(c => !acme.Contains(c.WorkflowId)))
        {
            await CompleteAsync(Store, b);
        }
        while (queue.TryDequeue(out var next))
        {
            started.Add(next.Parameters["n"]!.GetValue<int>());
            await CompleteAsync(Store, next);
            Assert.Equal(WorkflowStatus.Completed, await StatusAsync(next.WorkflowId));
            Assert.True((await WithStatusAsync(acme, WorkflowStatus.Running)).Count <= 2);
            foreach (var c in await ClaimAsync(Store, "w1", 100))
            {
                queue.Enqueue(c);
            }
        }
        Assert.Equal([0, 1, 2, 3, 4, 5], started);
        Assert.Equal(acme, await WithStatusAsync(acme, WorkflowStatus.Completed));
    }

    [Fact]
    public async Task RunConcurrency_ConcurrentSubmitsOnTwoStores_NeverRunMoreThanTheLimit()
    {
        await Store.DeployAsync(Parse(PerCustomerYaml), CancellationToken.None);
        await using var second = await ReopenStoreAsync(Defaults); // a second server on the same database
        var ids = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => SubmitPerCustomerAsync(i % 2 == 0 ? Store : second, "acme", i)));
        Assert.Equal(2, (await WithStatusAsync(ids, WorkflowStatus.Running)).Count);
        Assert.Equal(14, (await WithStatusAsync(ids, WorkflowStatus.Created)).Count);

        // Completions on both stores at once: every run finishes, and the limit holds after each round.
        for (var round = 0; round < 8; round++)
        {
            var claimed = await ClaimAsync(Store, "w1", 100);
            Assert.Equal(2, claimed.Count);
            await Task.WhenAll(claimed.Select((c, i) => CompleteAsync(i == 0 ? Store : second, c)));
            Assert.True((await WithStatusAsync(ids, WorkflowStatus.Running)).Count <= 2);
        }
        Assert.Equal(16, (await WithStatusAsync(ids, WorkflowStatus.Completed)).Count);
    }

    [Fact]
    public async Task RunConcurrency_CancelWaitingRun_FreesNothingAndLeavesTheQueue()
    {
        await Store.DeployAsync(Parse(PerCustomerYaml.Replace("limit: 2", "limit: 1", StringComparison.Ordinal)), CancellationToken.None);
        var first = await SubmitPerCustomerAsync(Store, "acme", 1);
        var second = await SubmitPerCustomerAsync(Store, "acme", 2);
        var third = await SubmitPerCustomerAsync(Store, "acme", 3);

        Assert.Equal(StoreStatus.Ok, (await Store.CancelAsync(second, "not needed", CancellationToken.None)).Status);
        Assert.Equal(WorkflowStatus.Cancelled, await StatusAsync(second));
        Assert.Equal(WorkflowStatus.Running, await StatusAsync(first));
        Assert.Equal(WorkflowStatus.Created, await StatusAsync(third)); // the cancel freed no slot

        var work = Assert.Single(await ClaimAsync(Store, "w1"));
        Assert.Equal(first, work.WorkflowId);
        await CompleteAsync(Store, work);
        Assert.Equal(WorkflowStatus.Running, await StatusAsync(third)); // the cancelled run was skipped
        Assert.Equal(WorkflowStatus.Cancelled, await StatusAsync(second));

        // Cancelling the running one frees its slot; a retry of the run cancelled while waiting queues it again.
        var retried = await Store.RetryAsync(second, CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, retried.Status);
        Assert.Equal(WorkflowStatus.Created, await StatusAsync(second));
        await Store.CancelAsync(third, null, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Running, await StatusAsync(second));
        Assert.Equal(second, Assert.Single(await ClaimAsync(Store, "w1")).WorkflowId);
    }

    [Fact]
    public async Task RunConcurrency_RetryOfAStartedRunWhileTheKeyIsFull_WaitsInTheQueueAndRerunsItsFailedStepWhenItStarts()
    {
        const string yaml = """
            name: per_customer_two_steps
            concurrency: {key: "{{INPUT.customer}}", limit: 1}
            activities:
              - {key: first, activity_name: echo, parameters: {n: "{{INPUT.n}}"}}
              - {key: second, activity_name: echo, parameters: {n: "{{INPUT.n}}"}, depends_on: [first]}
            """;
        await Store.DeployAsync(Parse(yaml), CancellationToken.None);
        async Task<string> SubmitAsync(int n) => (await Store.SubmitAsync(new SubmitCommand("per_customer_two_steps", null,
            new JsonObject { ["customer"] = "acme", ["n"] = n }, null), CancellationToken.None)).Workflow!.Id;
        var early = await SubmitAsync(1);
        await CompleteAsync(Store, await ClaimOneAsync(Store, "first"));
        await Store.CancelAsync(early, null, CancellationToken.None); // 'second' was queued: cancelled
        var holder = await SubmitAsync(2);

        var retried = await Store.RetryAsync(early, CancellationToken.None);
        var whileFull = await StatusAsync(early);
        var holderStep = await ClaimOneAsync(Store, "first");
        await Store.CancelAsync(holder, null, CancellationToken.None); // frees the slot: the retried run starts
        var rerun = await ClaimOneAsync(Store, "second");
        await CompleteAsync(Store, rerun);

        Assert.Equal(StoreStatus.Ok, retried.Status);
        Assert.Equal(WorkflowStatus.Created, retried.WorkflowStatus);
        Assert.Equal(WorkflowStatus.Created, whileFull);
        Assert.Equal(holder, holderStep.WorkflowId);
        Assert.Equal(early, rerun.WorkflowId); // only the step that did not complete ran again
        Assert.Equal(2, rerun.Attempt);
        Assert.Equal(WorkflowStatus.Completed, await StatusAsync(early));
        Assert.Empty(await ClaimAsync(Store, "w1", 10));
    }

    [Fact]
    public async Task RunConcurrency_KeyThatDoesNotRender_RefusesTheSubmitNamingTheField()
    {
        await Store.DeployAsync(Parse(PerCustomerYaml), CancellationToken.None);
        var outcome = await Store.SubmitAsync(new SubmitCommand("per_customer", null, new JsonObject { ["n"] = 1 }, null), CancellationToken.None);
        Assert.Equal(StoreStatus.Invalid, outcome.Status);
        Assert.Equal("concurrency.key", outcome.Field);
        Assert.Contains("customer", outcome.Message, StringComparison.Ordinal);
        var (runs, total) = await Store.ListWorkflowsAsync(new WorkflowQuery(null, "per_customer", null, null, 10, 0), CancellationToken.None);
        Assert.Equal(0, total); // nothing recorded
        Assert.Empty(runs);
    }

    [Fact]
    public async Task RunConcurrency_ChildWorkflowsOfOneKey_WaitForTheirDefinitionsLimit()
    {
        await Store.DeployAsync(Parse("""
            name: summary
            concurrency: {key: "{{INPUT.customer}}", limit: 1}
            activities:
              - {key: work, activity_name: echo, parameters: {customer: "{{INPUT.customer}}"}}
            """), CancellationToken.None);
        var parentId = await DeployAndSubmitAsync(Store, """
            name: fan
            activities:
              - key: each
                for_each: "{{INPUT.customers}}"
                workflow: summary
                input: {customer: "{{ITEM}}"}
            """, new JsonObject { ["customers"] = new JsonArray("acme", "beta", "acme") });

        var children = await ChildrenAsync(parentId);
        Assert.Equal(3, children.Count);
        var byStatus = children.GroupBy(c => c.Status).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(2, byStatus[WorkflowStatus.Running]); // acme's first and beta's
        Assert.Equal(1, byStatus[WorkflowStatus.Created]); // acme's second waits for the first

        var claimed = await ClaimAsync(Store, "w1", 100);
        Assert.Equal(2, claimed.Count);
        foreach (var c in claimed)
        {
            await CompleteAsync(Store, c);
        }
        var last = Assert.Single(await ClaimAsync(Store, "w1", 100)); // started when acme's first ended
        Assert.Equal("acme", last.Parameters["customer"]!.GetValue<string>());
        await CompleteAsync(Store, last);
        Assert.Equal(WorkflowStatus.Completed, await StatusAsync(parentId));
    }

    [Fact]
    public async Task RunConcurrency_ParentCancelled_CancelsItsWaitingChildToo()
    {
        await Store.DeployAsync(Parse("""
            name: summary
            concurrency: {key: "{{INPUT.customer}}", limit: 1}
            activities:
              - {key: work, activity_name: echo}
            """), CancellationToken.None);
        var parentId = await DeployAndSubmitAsync(Store, """
            name: fan
            activities:
              - {key: each, for_each: "{{INPUT.customers}}", workflow: summary, input: {customer: "{{ITEM}}"}}
            """, new JsonObject { ["customers"] = new JsonArray("acme", "acme") });
        await Store.CancelAsync(parentId, null, CancellationToken.None);
        Assert.All(await ChildrenAsync(parentId), c => Assert.Equal(WorkflowStatus.Cancelled, c.Status));
        Assert.Empty(await ClaimAsync(Store, "w1", 100));
    }
}
