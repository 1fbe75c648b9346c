using System.Text.Json.Nodes;
using Spindle.Core.Maps;
using Spindle.Core.Orchestration;

namespace Spindle.Core.Tests.Orchestration;

/// <summary>
/// The machine's map rules without a database: expansion, max_parallel, item order of the outputs, failures. The
/// harness keeps every item in memory, so the store's part is only collecting (<see cref="MapRequest.Collect"/>).
/// </summary>
public sealed class MapMachineTests
{
    private static string Yaml(string extra = "") => $$$"""
        name: map
        activities:
          - key: m
            activity_name: echo
            for_each: "{{INPUT.xs}}"
            parameters: {v: "{{ITEM}}", i: "{{ITEM_INDEX}}", who: "{{ACTIVITY.key}}"}
        {{{extra}}}
          - {key: after, activity_name: echo, parameters: {all: "{{m.echo}}", map: "{{m.map}}"}, depends_on: [m]}
        """;

    private static JsonObject Input(params int[] xs) => new() { ["xs"] = new JsonArray(xs.Select(x => (JsonNode?)x).ToArray()) };

    /// <summary>Answers the collections the latest step asked for, as the store would.</summary>
    private static void Collect(MachineHarness h)
    {
        var machine = h.LastMachine!;
        for (var i = 0; i < machine.Decision.MapRequests.Count; i++)
        {
            if (machine.Decision.MapRequests[i] is MapRequest.Collect c)
            {
                var results = h.Workflow.Items.Values.Where(a => a.MapOf == c.MapKey).OrderBy(a => a.MapIndex)
                    .Select(a => new MapItemResult(a.MapIndex!.Value, a.Key, a.Status, a.Outputs, a.ErrorCode, a.ErrorMessage)).ToList();
                machine.FinishMap(c.MapKey, results);
            }
        }
    }

    private static void CompleteItem(MachineHarness h, string key, JsonObject output)
    {
        var item = h.Workflow.Items[key];
        Assert.Equal(ActivityStatus.Pending, item.Status);
        item.Status = ActivityStatus.Running;
        item.LeaseOwner = "w";
        h.Step(m => m.Complete(item, output, 0));
        Collect(h);
    }

    [Fact]
    public void Start_MapOfThree_CreatesOneQueuedItemPerElementWithItemInParameters()
    {
        var h = new MachineHarness(Yaml(), Input(7, 8, 9));
        Assert.Equal(ActivityStatus.Running, h["m"].Status);
        Assert.Equal(3, h["m"].Map!.Total);
        Assert.Equal(["m[0]", "m[1]", "m[2]"], h.Workflow.Items.Keys.Order().ToArray());
        var second = h.Workflow.Items["m[1]"];
        Assert.Equal(ActivityStatus.Pending, second.Status);
        Assert.Equal(8, second.Parameters!["v"]!.GetValue<int>());
        Assert.Equal(1, second.Parameters["i"]!.GetValue<int>());
        Assert.Equal("m[1]", second.Parameters["who"]!.GetValue<string>());
        Assert.Contains(h.Events, e => e.EventType == EventTypes.ActivityScheduled && e.ActivityKey == "m[2]");
    }

    [Fact]
    public void Complete_ItemsOutOfOrder_MapOutputsAreListsInItemOrder()
    {
        var h = new MachineHarness(Yaml(), Input(1, 2, 3));
        foreach (var key in new[] { "m[2]", "m[0]", "m[1]" })
        {
            CompleteItem(h, key, new JsonObject { ["echo"] = h.Workflow.Items[key].Parameters!["v"]!.DeepClone() });
        }
        Assert.Equal(ActivityStatus.Completed, h["m"].Status);
        Assert.Equal("[1,2,3]", h["m"].Outputs!["echo"]!.ToJsonString());
        Assert.Equal(["after"], h.Queued);
        Assert.Equal("[1,2,3]", h["after"].Parameters!["all"]!.ToJsonString());
        Assert.Equal(3, h["after"].Parameters!["map"]!["completed"]!.GetValue<int>());
    }

    [Fact]
    public void Start_MaxParallelTwo_QueuesTwoAndEachCompletionStartsTheNext()
    {
        var h = new MachineHarness(Yaml("    max_parallel: 2"), Input(1, 2, 3, 4));
        string[] Pending() => h.Workflow.Items.Values.Where(a => a.Status == ActivityStatus.Pending).Select(a => a.Key).Order().ToArray();
        Assert.Equal(["m[0]", "m[1]"], Pending());
        Assert.Equal(ActivityStatus.NotScheduled, h.Workflow.Items["m[2]"].Status);
        CompleteItem(h, "m[1]", new JsonObject { ["echo"] = 1 });
        Assert.Equal(["m[0]", "m[2]"], Pending());
        CompleteItem(h, "m[0]", new JsonObject { ["echo"] = 0 });
        Assert.Equal(["m[2]", "m[3]"], Pending());
    }

    [Fact]
    public void Start_EmptyList_AsksToCollectAndCompletesWithDeclaredOutputsEmpty()
    {
        var h = new MachineHarness(Yaml("    outputs: [echo]"), Input());
        Collect(h);
        Assert.Equal(ActivityStatus.Completed, h["m"].Status);
        Assert.Equal("[]", h["m"].Outputs!["echo"]!.ToJsonString());
        Assert.Equal(["after"], h.Queued);
    }

    [Fact]
    public void Start_ForEachYieldsAString_FailsTheMapWithForEachNotAList()
    {
        var h = new MachineHarness(Yaml(), new JsonObject { ["xs"] = "abc" });
        Assert.Equal(ActivityStatus.Failed, h["m"].Status);
        Assert.Equal(MapErrorCodes.ForEachNotAList, h["m"].ErrorCode);
        Assert.Contains("a string", h["m"].ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(ActivityStatus.Skipped, h["after"].Status);
    }

    [Fact]
    public void Start_ForEachTooLong_FailsWithForEachTooLarge()
    {
        var h = new MachineHarness(Yaml(), Input(new int[10_001]));
        Assert.Equal(MapErrorCodes.ForEachTooLarge, h["m"].ErrorCode);
        Assert.Empty(h.Workflow.Items);
    }

    [Fact]
    public void Fail_ItemWithoutContinueOnFailure_FailsTheMapAndCancelsQueuedItems()
    {
        var h = new MachineHarness(Yaml(), Input(1, 2, 3));
        var item = h.Workflow.Items["m[1]"];
        item.Status = ActivityStatus.Running;
        item.LeaseOwner = "w";
        h.Step(m => m.Fail(item, "BAD", "broken", false, 0));
        Assert.Equal(ActivityStatus.Failed, h["m"].Status);
        Assert.Equal(MapErrorCodes.ItemFailed, h["m"].ErrorCode);
        Assert.Contains("item 1 (m[1]) failed: broken", h["m"].ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(ActivityStatus.Cancelled, h.Workflow.Items["m[0]"].Status);
        Assert.Contains(h.LastMachine!.Decision.MapRequests, r => r is MapRequest.Stop { MapKey: "m" });
        Assert.Equal(WorkflowStatus.Failed, h.Status);
    }

    [Fact]
    public void Fail_ItemWithContinueOnFailure_ListHoldsNullAndFailureIsListed()
    {
        var h = new MachineHarness(Yaml("    continue_on_failure: true"), Input(1, 2));
        var item = h.Workflow.Items["m[0]"];
        item.Status = ActivityStatus.Running;
        item.LeaseOwner = "w";
        h.Step(m => m.Fail(item, "BAD", "broken", false, 0));
        CompleteItem(h, "m[1]", new JsonObject { ["echo"] = 2 });
        Assert.Equal(ActivityStatus.Completed, h["m"].Status);
        Assert.Equal("[null,2]", h["m"].Outputs!["echo"]!.ToJsonString());
        var failure = Assert.Single(h["m"].Map!.Failures!);
        Assert.Equal("BAD", failure!["error_code"]!.GetValue<string>());
        Assert.Equal(1, h["after"].Parameters!["map"]!["failed"]!.GetValue<int>());
    }

    [Fact]
    public void Enqueue_ItemOutsideAMap_ItemIsUndefined()
    {
        var h = new MachineHarness("name: x\nactivities:\n  - {key: a, activity_name: echo, parameters: {v: \"{{ITEM}}\"}}\n");
        Assert.Equal(EngineErrorCodes.TemplateError, h["a"].ErrorCode);
    }
}
