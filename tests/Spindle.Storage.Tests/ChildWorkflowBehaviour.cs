using System.Text.Json.Nodes;
using Spindle.Core.Orchestration;
using static Spindle.Storage.Tests.StoreTestHelpers;

namespace Spindle.Storage.Tests;

/// <summary>Child workflows (docs/architecture.md#child-workflows) as each store commits them.</summary>
public abstract partial class WorkflowStoreBehaviour
{
    private const string ChildYaml = """
        name: child
        activities:
          - {key: work, activity_name: echo, parameters: {n: "{{INPUT.n}}"}}
        """;

    private const string ParentYaml = """
        name: parent
        activities:
          - key: sub
            workflow: child
            input: {n: "{{INPUT.n}}"}
            settings: {retry: {max_attempts: 2}}
          - {key: after, activity_name: echo, parameters: {got: "{{sub.work.echo.n}}"}, depends_on: [sub]}
        """;

    /// <summary>The same store's database opened again, as after a crash and restart.</summary>
    protected abstract Task<IWorkflowStore> ReopenStoreAsync(EngineDefaults defaults);

    private async Task<string> SubmitParentAsync(int n = 5)
    {
        await Store.DeployAsync(Parse(ChildYaml), CancellationToken.None);
        return await DeployAndSubmitAsync(Store, ParentYaml, new JsonObject { ["n"] = n });
    }

    private async Task<IReadOnlyList<ChildLink>> ChildrenAsync(string parentId) =>
        await Store.ListChildrenAsync(parentId, CancellationToken.None);

    [Fact]
    public async Task ChildWorkflow_ChildCompletes_ParentActivityCompletesWithItsOutputAndNextRuns()
    {
        var parentId = await SubmitParentAsync(5);
        var child = Assert.Single(await ChildrenAsync(parentId));
        Assert.Equal("sub", child.ParentActivityKey);
        Assert.Equal(WorkflowStatus.Running, child.Status);
        var childWf = await Store.GetWorkflowAsync(child.WorkflowId, CancellationToken.None);
        Assert.Equal(parentId, childWf!.ParentId);
        Assert.Equal("sub", childWf.ParentActivityKey);
        Assert.Equal(ActivityStatus.Running, (await Store.GetWorkflowAsync(parentId, CancellationToken.None))!.Activities["sub"].Status);

        var work = await ClaimOneAsync(Store, "work");
        Assert.Equal(child.WorkflowId, work.WorkflowId);
        await Store.CompleteAsync(work.ActivityId, "w1", new JsonObject { ["echo"] = new JsonObject { ["n"] = 5 } }, 0.25m, CancellationToken.None);

        var parent = await Store.GetWorkflowAsync(parentId, CancellationToken.None);
        Assert.Equal(ActivityStatus.Completed, parent!.Activities["sub"].Status);
        Assert.Equal(5, parent.Activities["sub"].Outputs!["work"]!["echo"]!["n"]!.GetValue<int>());
        Assert.Equal(0.25m, parent.TotalCost); // the child's cost counts into the parent's
        var after = await ClaimOneAsync(Store, "after");
        Assert.Equal(parentId, after.WorkflowId);
        Assert.Equal(5, after.Parameters["got"]!.GetValue<int>());
        await CompleteAsync(Store, after);
        Assert.Equal(WorkflowStatus.Completed, await Store.GetWorkflowStatusAsync(parentId, CancellationToken.None));
        Assert.Equal(WorkflowStatus.Completed, Assert.Single(await ChildrenAsync(parentId)).Status);
    }

    [Fact]
    public async Task ChildWorkflow_ChildFails_RetrySubmitsANewChildThenTheActivityFails()
    {
        var parentId = await SubmitParentAsync();
        for (var attempt = 1; attempt <= 2; attempt++)
        {
            var work = await ClaimOneAsync(Store, "work");
            await Store.FailAsync(work.ActivityId, "w1", new ActivityError("BOOM", "no", false), 0m, CancellationToken.None);
            var children = await ChildrenAsync(parentId);
            Assert.Equal(2, children.Count); // the retry submitted a new child; the last failure none
            Assert.Equal(WorkflowStatus.Failed, children[0].Status);
        }
        var all = await ChildrenAsync(parentId);
        Assert.Equal([1, 2], all.Select(c => c.ParentAttempt).ToArray());
        Assert.All(all, c => Assert.Equal(WorkflowStatus.Failed, c.Status));
        var parent = await Store.GetWorkflowAsync(parentId, CancellationToken.None);
        Assert.Equal(ActivityStatus.Failed, parent!.Activities["sub"].Status);
        Assert.Equal(ChildErrorCodes.Failed, parent.Activities["sub"].ErrorCode);
        Assert.Equal(WorkflowStatus.Failed, parent.Status);
        Assert.Empty(await ClaimAsync(Store, "w1"));
    }

    [Fact]
    public async Task ChildWorkflow_CancelParent_CancelsTheRunningChildInTheSameTransaction()
    {
        var parentId = await SubmitParentAsync();
        var work = await ClaimOneAsync(Store, "work");
        var outcome = await Store.CancelAsync(parentId, "stop", CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, outcome.Status);
        var child = Assert.Single(await ChildrenAsync(parentId));
        Assert.Equal(WorkflowStatus.Cancelled, child.Status);
        var parent = await Store.GetWorkflowAsync(parentId, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Cancelled, parent!.Status);
        Assert.Equal(ActivityStatus.Cancelled, parent.Activities["sub"].Status);
        // The child's worker learns of the cancel as with any cancelled workflow: its result is discarded.
        var late = await CompleteAsync(Store, work);
        Assert.NotEqual(StoreStatus.NotFound, late.Status);
        Assert.Equal(WorkflowStatus.Cancelled, await Store.GetWorkflowStatusAsync(child.WorkflowId, CancellationToken.None));
    }

    [Fact]
    public async Task ChildWorkflow_CancelGrandparent_CancelsTheWholeTree()
    {
        await Store.DeployAsync(Parse(ChildYaml), CancellationToken.None);
        await Store.DeployAsync(Parse(ParentYaml), CancellationToken.None);
        var top = await DeployAndSubmitAsync(Store, """
            name: top
            activities:
              - {key: mid, workflow: parent, input: {n: 1}}
            """);
        var mid = Assert.Single(await ChildrenAsync(top));
        var leaf = Assert.Single(await ChildrenAsync(mid.WorkflowId));
        await Store.CancelAsync(top, null, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Cancelled, await Store.GetWorkflowStatusAsync(mid.WorkflowId, CancellationToken.None));
        Assert.Equal(WorkflowStatus.Cancelled, await Store.GetWorkflowStatusAsync(leaf.WorkflowId, CancellationToken.None));
        Assert.Empty(await ClaimAsync(Store, "w1"));
    }

    [Fact]
    public async Task ChildWorkflow_UnknownDefinition_FailsTheActivityWithItsCode()
    {
        var parentId = await DeployAndSubmitAsync(Store, """
            name: orphan
            activities:
              - {key: sub, workflow: nowhere}
            """);
        var parent = await Store.GetWorkflowAsync(parentId, CancellationToken.None);
        Assert.Equal(ActivityStatus.Failed, parent!.Activities["sub"].Status);
        Assert.Equal(ChildErrorCodes.NotFound, parent.Activities["sub"].ErrorCode);
        Assert.Contains("nowhere", parent.Activities["sub"].ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(WorkflowStatus.Failed, parent.Status);
        Assert.Empty(await ChildrenAsync(parentId));
    }

    [Fact]
    public async Task ChildWorkflow_DefinitionStartsItself_FailsWhenTooDeepInsteadOfRecursingForever()
    {
        var id = await DeployAndSubmitAsync(Store, """
            name: loop
            activities:
              - {key: again, workflow: loop}
            """);
        Assert.Equal(WorkflowStatus.Failed, await Store.GetWorkflowStatusAsync(id, CancellationToken.None));
        var (items, _) = await Store.ListWorkflowsAsync(new WorkflowQuery(null, null, null, null, 100, 0), CancellationToken.None);
        Assert.Equal(ChildErrorCodes.MaxDepth + 1, items.Count);
        Assert.All(items, w => Assert.Equal(WorkflowStatus.Failed, w.Status));
    }

    [Fact]
    public async Task ChildWorkflow_StoreReopenedBetweenSteps_LosesAndDuplicatesNothing()
    {
        var parentId = await SubmitParentAsync(9);
        await Store.DisposeAsync();
        Store = await ReopenStoreAsync(Defaults);
        var child = Assert.Single(await ChildrenAsync(parentId)); // the submit and the link committed together
        var work = await ClaimOneAsync(Store, "work");
        await CompleteAsync(Store, work, new JsonObject { ["echo"] = new JsonObject { ["n"] = 9 } });
        await Store.DisposeAsync();
        Store = await ReopenStoreAsync(Defaults);
        Assert.Equal(WorkflowStatus.Completed, await Store.GetWorkflowStatusAsync(child.WorkflowId, CancellationToken.None));
        var parent = await Store.GetWorkflowAsync(parentId, CancellationToken.None);
        Assert.Equal(ActivityStatus.Completed, parent!.Activities["sub"].Status); // the child's end and the parent's step together
        Assert.Equal(ActivityStatus.Pending, parent.Activities["after"].Status);
        Assert.Single(await ChildrenAsync(parentId));
        Assert.Equal("after", Assert.Single(await ClaimAsync(Store, "w1")).ActivityKey);
    }

    [Fact]
    public async Task ChildWorkflow_MapOverChildren_EachItemCompletesWhenItsChildEnds()
    {
        await Store.DeployAsync(Parse(ChildYaml), CancellationToken.None);
        var parentId = await DeployAndSubmitAsync(Store, """
            name: per_item
            activities:
              - key: m
                workflow: child
                for_each: "{{INPUT.xs}}"
                max_parallel: 2
                input: {n: "{{ITEM}}"}
              - {key: after, activity_name: echo, parameters: {all: "{{m.work}}"}, depends_on: [m]}
            """, new JsonObject { ["xs"] = new JsonArray(10, 20, 30) });
        var children = await ChildrenAsync(parentId);
        Assert.Equal(["m[0]", "m[1]"], children.Select(c => c.ParentActivityKey).Order().ToArray()); // max_parallel: 2
        var done = 0;
        while (done < 3)
        {
            var claimed = await ClaimAsync(Store, "w1");
            Assert.NotEmpty(claimed); // each child's end queues the next item's child in that transaction
            foreach (var work in claimed)
            {
                Assert.Equal("work", work.ActivityKey);
                var n = work.Parameters["n"]!.GetValue<int>();
                await Store.CompleteAsync(work.ActivityId, "w1", new JsonObject { ["echo"] = new JsonObject { ["n"] = n } }, 0m, CancellationToken.None);
                done++;
            }
        }
        children = await ChildrenAsync(parentId);
        Assert.Equal(["m[0]", "m[1]", "m[2]"], children.Select(c => c.ParentActivityKey).Order().ToArray());
        Assert.All(children, c => Assert.Equal(WorkflowStatus.Completed, c.Status));
        var parent = await Store.GetWorkflowAsync(parentId, CancellationToken.None);
        Assert.Equal(ActivityStatus.Completed, parent!.Activities["m"].Status);
        var after = await ClaimOneAsync(Store, "after");
        Assert.Equal([10, 20, 30], after.Parameters["all"]!.AsArray().Select(o => o!["echo"]!["n"]!.GetValue<int>()).ToArray());
        await CompleteAsync(Store, after);
        Assert.Equal(WorkflowStatus.Completed, await Store.GetWorkflowStatusAsync(parentId, CancellationToken.None));
    }

    [Fact]
    public async Task ChildWorkflow_MapOverChildrenCancelled_RunningChildrenAreCancelled()
    {
        await Store.DeployAsync(Parse(ChildYaml), CancellationToken.None);
        var parentId = await DeployAndSubmitAsync(Store, """
            name: per_item_cancel
            activities:
              - {key: m, workflow: child, for_each: "{{INPUT.xs}}", input: {n: "{{ITEM}}"}}
            """, new JsonObject { ["xs"] = new JsonArray(1, 2) });
        Assert.Equal(2, (await ChildrenAsync(parentId)).Count);
        await Store.CancelAsync(parentId, "test", CancellationToken.None);
        Assert.All(await ChildrenAsync(parentId), c => Assert.Equal(WorkflowStatus.Cancelled, c.Status));
    }

    [Fact]
    public async Task ChildWorkflow_MapOverChildrenItemFails_MapStopsAndTheOtherChildIsCancelled()
    {
        await Store.DeployAsync(Parse(ChildYaml), CancellationToken.None);
        var parentId = await DeployAndSubmitAsync(Store, """
            name: per_item_stop
            activities:
              - {key: m, workflow: child, for_each: "{{INPUT.xs}}", input: {n: "{{ITEM}}"}, settings: {retry: {max_attempts: 1}}}
            """, new JsonObject { ["xs"] = new JsonArray(1, 2) });
        var claimed = await ClaimAsync(Store, "w1");
        Assert.Equal(2, claimed.Count);
        var failing = claimed.Single(c => c.Parameters["n"]!.GetValue<int>() == 1);
        await Store.FailAsync(failing.ActivityId, "w1", new ActivityError("BOOM", "no", false), 0m, CancellationToken.None);
        Assert.Equal(WorkflowStatus.Failed, await Store.GetWorkflowStatusAsync(parentId, CancellationToken.None));
        var children = await ChildrenAsync(parentId);
        Assert.Equal(WorkflowStatus.Failed, children.Single(c => c.WorkflowId == failing.WorkflowId).Status);
        Assert.Equal(WorkflowStatus.Cancelled, children.Single(c => c.WorkflowId != failing.WorkflowId).Status);
    }
}
