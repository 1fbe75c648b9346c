using Spindle.Core.Definitions;
using static Spindle.Core.Tests.Definitions.DefinitionTestHelpers;

namespace Spindle.Core.Tests.Definitions;

public class LoopAnalysisTests
{
    [Fact]
    public void Parse_TwoNodeLoopWithCondition_MarksBackEdgeAndMembers()
    {
        var result = DefinitionParser.Parse("""
            name: wf
            activities:
              - key: search
                activity_name: echo
                iteration_scoped: true
                depends_on: [{activity_key: check, condition: "{{not check.result.done}}"}]
              - key: check
                activity_name: echo
                depends_on: [search]
              - key: report
                activity_name: echo
                depends_on: [check]
            """);
        Assert.True(result.IsValid);
        var def = result.Definition!;
        var loop = Assert.Single(def.Loops);
        Assert.Equal(new LoopDefinition("search", "check", loop.Body), loop);
        Assert.Equal(["search", "check"], loop.Body);
        var back = Assert.Single(def.Find("search")!.DependsOn);
        Assert.True(back.IsBackEdge);
        Assert.Equal(["{{not check.result.done}}"], back.Conditions);
        Assert.False(Assert.Single(def.Find("check")!.DependsOn).IsBackEdge);
        Assert.True(def.Find("search")!.IsLoopActivity);
        Assert.True(def.Find("check")!.IsLoopActivity);
        Assert.False(def.Find("report")!.IsLoopActivity);
        Assert.True(def.NormalizedJson["activities"]![0]!["depends_on"]![0]!["is_back_edge"]!.GetValue<bool>());
        Assert.True(def.NormalizedJson["activities"]![1]!["is_loop_activity"]!.GetValue<bool>());
        // check is a loop member without iteration_scoped; search has it.
        var warning = Assert.Single(result.Warnings);
        Assert.Contains("Activity 'check' is a loop member without iteration_scoped", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_SelfLoopWithIterationLimit_IsValidLoop()
    {
        var def = Valid("""
            name: wf
            activities:
              - {key: poll, activity_name: echo, iteration_limit: 5, iteration_scoped: false, depends_on: [poll]}
            """);
        var loop = Assert.Single(def.Loops);
        Assert.Equal(("poll", "poll"), (loop.Head, loop.Tail));
        Assert.Equal(["poll"], loop.Body);
        Assert.True(def.Activities[0].DependsOn[0].IsBackEdge);
        Assert.True(def.Activities[0].IsLoopActivity);
        Assert.Equal(5, def.Activities[0].IterationLimit);
    }

    [Fact]
    public void Parse_SelfLoopWithoutExit_IsInvalidCycle()
    {
        var result = Invalid("name: wf\nactivities: [{key: poll, depends_on: [poll]}]\n",
            "activities", "Workflow contains an invalid cycle (not a valid loop): poll -> poll");
        Assert.Single(result.FieldErrors);
    }

    [Fact]
    public void Parse_ThreeNodeLoop_MarksWholeBody()
    {
        var def = Valid("""
            name: wf
            activities:
              - {key: start, activity_name: echo}
              - key: plan
                activity_name: echo
                depends_on: [start, {activity_key: review, condition: "{{review.result.retry}}"}]
              - {key: act, activity_name: echo, depends_on: [plan]}
              - {key: side, activity_name: echo, depends_on: [plan]}
              - {key: review, activity_name: echo, depends_on: [act]}
              - {key: done, activity_name: echo, depends_on: [review]}
            """);
        var loop = Assert.Single(def.Loops);
        Assert.Equal("plan", loop.Head);
        Assert.Equal("review", loop.Tail);
        Assert.Equal(["plan", "act", "review"], loop.Body);
        Assert.Equal(["plan", "act", "review"], def.Activities.Where(a => a.IsLoopActivity).Select(a => a.Key));
        var planDeps = def.Find("plan")!.DependsOn;
        Assert.Equal(["review", "start"], planDeps.Select(d => d.ActivityKey));
        Assert.Equal([true, false], planDeps.Select(d => d.IsBackEdge));
    }

    [Fact]
    public void Parse_LoopBodyIncludesParallelPaths()
    {
        var def = Valid("""
            name: wf
            activities:
              - {key: h, activity_name: e, iteration_limit: 3, depends_on: [t]}
              - {key: x, activity_name: e, depends_on: [h]}
              - {key: y, activity_name: e, depends_on: [h]}
              - {key: t, activity_name: e, depends_on: [x, y]}
            """);
        var loop = Assert.Single(def.Loops);
        Assert.Equal(("h", "t"), (loop.Head, loop.Tail));
        Assert.Equal(["h", "x", "y", "t"], loop.Body);
    }

    [Fact]
    public void Parse_CycleWithoutExit_ReportsCycleInMessage()
    {
        var result = Invalid("""
            name: wf
            activities:
              - {key: a, depends_on: [b]}
              - {key: b, depends_on: [a]}
            """, "activities", "Workflow contains an invalid cycle (not a valid loop): a -> b -> a");
        Assert.Equal(["Workflow contains an invalid cycle (not a valid loop): a -> b -> a"], result.FieldErrors["activities"]);
    }

    [Fact]
    public void Parse_LongerCycleWithoutExit_ListsEveryNodeFromHead()
    {
        Invalid("""
            name: wf
            activities:
              - {key: root}
              - {key: a, depends_on: [root, c]}
              - {key: b, depends_on: [a]}
              - {key: c, depends_on: [b]}
            """, "activities", "Workflow contains an invalid cycle (not a valid loop): a -> b -> c -> a");
    }

    [Fact]
    public void Parse_IterationLimitOnTail_IsAnExit()
    {
        var def = Valid("""
            name: wf
            activities:
              - {key: a, activity_name: e, depends_on: [b]}
              - {key: b, activity_name: e, depends_on: [a], settings: {iteration_limit: 4}}
            """);
        Assert.Equal(4, def.Find("b")!.IterationLimit);
        var loop = Assert.Single(def.Loops);
        Assert.Equal(("a", "b"), (loop.Head, loop.Tail));
    }

    [Fact]
    public void Parse_BackEdge_IsConditionedEdgeWithEarliestTarget()
    {
        // DFS a -> b -> c closes with c -> a (unconditioned); the conditioned edge a -> b has the earliest target
        // among conditioned edges, so it is the back-edge: head b, tail a.
        var def = Valid("""
            name: wf
            activities:
              - {key: a, activity_name: e, depends_on: [c]}
              - {key: b, activity_name: e, depends_on: [{activity_key: a, condition: "{{a.more}}"}]}
              - {key: c, activity_name: e, depends_on: [b]}
            """);
        var loop = Assert.Single(def.Loops);
        Assert.Equal(("b", "a"), (loop.Head, loop.Tail));
        Assert.Equal(["a", "b", "c"], loop.Body);
        Assert.True(def.Find("b")!.DependsOn[0].IsBackEdge);
        Assert.False(def.Find("a")!.DependsOn[0].IsBackEdge);
    }

    [Fact]
    public void Parse_WithoutConditions_ClosingEdgeIsBackEdge()
    {
        var def = Valid("""
            name: wf
            activities:
              - {key: a, activity_name: e, iteration_limit: 2, depends_on: [c]}
              - {key: b, activity_name: e, depends_on: [a]}
              - {key: c, activity_name: e, depends_on: [b]}
            """);
        var loop = Assert.Single(def.Loops);
        Assert.Equal(("a", "c"), (loop.Head, loop.Tail));
        Assert.True(def.Find("a")!.DependsOn[0].IsBackEdge);
    }

    [Fact]
    public void Parse_TwoLoops_AreBothFoundAndOrderedByHead()
    {
        var def = Valid("""
            name: wf
            activities:
              - {key: a, activity_name: e, depends_on: [{activity_key: b, condition: "{{b.again}}"}]}
              - {key: b, activity_name: e, depends_on: [a]}
              - {key: c, activity_name: e, depends_on: [b, {activity_key: d, condition: "{{d.again}}"}]}
              - {key: d, activity_name: e, depends_on: [c]}
            """);
        Assert.Equal([("a", "b"), ("c", "d")], def.Loops.Select(l => (l.Head, l.Tail)));
        Assert.Equal(["a", "b"], def.Loops[0].Body);
        Assert.Equal(["c", "d"], def.Loops[1].Body);
    }

    [Fact]
    public void Parse_InputLoopFlags_AreOverwritten()
    {
        var def = Valid("""
            name: wf
            activities:
              - {key: a, activity_name: e, is_loop_activity: true}
              - {key: b, activity_name: e, depends_on: [{activity_key: a, is_back_edge: true}]}
            """);
        Assert.Empty(def.Loops);
        Assert.All(def.Activities, a => Assert.False(a.IsLoopActivity));
        Assert.False(def.Find("b")!.DependsOn[0].IsBackEdge);
    }

    [Fact]
    public void Parse_AcyclicDiamond_HasNoLoops()
    {
        var def = Valid("""
            name: wf
            activities:
              - {key: a, activity_name: e}
              - {key: b, activity_name: e, depends_on: [a]}
              - {key: c, activity_name: e, depends_on: [a]}
              - {key: d, activity_name: e, depends_on: [b, c]}
            """);
        Assert.Empty(def.Loops);
        Assert.All(def.Activities.SelectMany(a => a.DependsOn), e => Assert.False(e.IsBackEdge));
    }

    [Fact]
    public void Parse_LongChain_DoesNotOverflow()
    {
        var text = "name: wf\nactivities:\n  - {key: a0, activity_name: e}\n" + string.Concat(
            Enumerable.Range(1, 3000).Select(i => $"  - {{key: a{i}, activity_name: e, depends_on: [a{i - 1}]}}\n"));
        var def = Valid(text);
        Assert.Equal(3001, def.Activities.Count);
        Assert.Empty(def.Loops);
    }
}
