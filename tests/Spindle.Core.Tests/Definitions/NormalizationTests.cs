using System.Text.Json.Nodes;
using Spindle.Core.Definitions;
using static Spindle.Core.Tests.Definitions.DefinitionTestHelpers;

namespace Spindle.Core.Tests.Definitions;

public class NormalizationTests
{
    private const string ParallelBench10 = """
        name: parallel_bench_10
        activities:
          - {key: start, worker: std, activity_name: echo, parameters: {},
             dependency_of: [parallel_0, parallel_1, parallel_2, parallel_3, parallel_4,
                             parallel_5, parallel_6, parallel_7, parallel_8, parallel_9]}
          - {key: parallel_0, worker: std, activity_name: echo, parameters: {}, depends_on: [start], dependency_of: [end]}
          - {key: parallel_1, worker: std, activity_name: echo, parameters: {}, depends_on: [start], dependency_of: [end]}
          - {key: parallel_2, worker: std, activity_name: echo, parameters: {}, depends_on: [start], dependency_of: [end]}
          - {key: parallel_3, worker: std, activity_name: echo, parameters: {}, depends_on: [start], dependency_of: [end]}
          - {key: parallel_4, worker: std, activity_name: echo, parameters: {}, depends_on: [start], dependency_of: [end]}
          - {key: parallel_5, worker: std, activity_name: echo, parameters: {}, depends_on: [start], dependency_of: [end]}
          - {key: parallel_6, worker: std, activity_name: echo, parameters: {}, depends_on: [start], dependency_of: [end]}
          - {key: parallel_7, worker: std, activity_name: echo, parameters: {}, depends_on: [start], dependency_of: [end]}
          - {key: parallel_8, worker: std, activity_name: echo, parameters: {}, depends_on: [start], dependency_of: [end]}
          - {key: parallel_9, worker: std, activity_name: echo, parameters: {}, depends_on: [start], dependency_of: [end]}
          - {key: end, worker: std, activity_name: echo, parameters: {},
             depends_on: [parallel_0, parallel_1, parallel_2, parallel_3, parallel_4,
                          parallel_5, parallel_6, parallel_7, parallel_8, parallel_9]}
        """;

    [Fact]
    public void Parse_ParallelBench10_MergesEachDoubleDeclaredEdge()
    {
        var result = DefinitionParser.Parse(ParallelBench10);
        Assert.True(result.IsValid);
        Assert.Empty(result.Warnings);
        var def = result.Definition!;
        Assert.Empty(def.Find("start")!.DependsOn);
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal([new DependencyEdge("start", [], false)], def.Find($"parallel_{i}")!.DependsOn.ToArray(), EdgeComparer.Instance);
        }
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"parallel_{i}"), def.Find("end")!.DependsOn.Select(e => e.ActivityKey));
        Assert.Empty(def.Loops);
        Assert.DoesNotContain("dependency_of", def.NormalizedJson.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal("""{"activity_key":"start","conditions":[],"is_back_edge":false}""",
            def.NormalizedJson["activities"]![1]!["depends_on"]![0]!.ToJsonString());
    }

    [Fact]
    public void Parse_DependencyOfChain_FoldsIntoDependsOn()
    {
        var def = Valid("""
            name: sequential_bench_3
            activities:
              - {key: activity_0, activity_name: echo, dependency_of: [activity_1]}
              - {key: activity_1, activity_name: echo, dependency_of: [{activity_key: activity_2, condition: "{{activity_1.ok}}"}]}
              - {key: activity_2, activity_name: echo}
            """);
        Assert.Equal("activity_0", Assert.Single(def.Activities[1].DependsOn).ActivityKey);
        var edge = Assert.Single(def.Activities[2].DependsOn);
        Assert.Equal("activity_1", edge.ActivityKey);
        Assert.Equal(["{{activity_1.ok}}"], edge.Conditions);
    }

    [Fact]
    public void Parse_DependsOn_IsMergedOnlyWhenConditionsEqualAndSortedByKey()
    {
        var def = Valid("""
            name: wf
            activities:
              - {key: z, activity_name: echo}
              - {key: b, activity_name: echo, dependency_of: [{activity_key: c, conditions: "{{b.x}}"}]}
              - key: c
                activity_name: echo
                depends_on:
                  - z
                  - {activity_key: b, condition: "{{b.x}}"}
                  - {activity_key: b, conditions: ["{{b.y}}"]}
                  - {activity_key: z, conditions: []}
            """);
        var deps = def.Find("c")!.DependsOn;
        Assert.Equal(["b", "b", "z"], deps.Select(d => d.ActivityKey));
        Assert.Equal(["{{b.x}}"], deps[0].Conditions);
        Assert.Equal(["{{b.y}}"], deps[1].Conditions);
        Assert.Empty(deps[2].Conditions);
    }

    [Fact]
    public void Parse_SortsDependsOnOrdinally()
    {
        var def = Valid("""
            name: wf
            activities:
              - {key: b, activity_name: echo}
              - {key: B, activity_name: echo}
              - {key: a, activity_name: echo}
              - {key: _x, activity_name: echo}
              - {key: last, activity_name: echo, depends_on: [b, a, _x, B]}
            """);
        Assert.Equal(["B", "_x", "a", "b"], def.Find("last")!.DependsOn.Select(d => d.ActivityKey));
    }

    [Theory]
    [InlineData("cache: true, cache_ttl: 600", true, 600, null)]
    [InlineData("cache: {enabled: true, ttl_seconds: 600}", true, 600, null)]
    [InlineData("cache: {ttl: 600}", true, 600, null)]
    [InlineData("cache: {ttl: 600, ttl_seconds: 600}, cache_ttl: 600", true, 600, null)]
    [InlineData("cache: {}", true, null, null)]
    [InlineData("cache: false", false, null, null)]
    [InlineData("cache: {enabled: false, key: k}", false, null, "\"k\"")]
    [InlineData("cache: true, cache_key: \"{{parameters.url}}\"", true, null, "\"{{parameters.url}}\"")]
    [InlineData("cache: {key: [a, b]}", true, null, "[\"a\",\"b\"]")]
    [InlineData("cache: {key: x}, cache_key: x", true, null, "\"x\"")]
    public void Parse_CacheSpellings_NormaliseToBoolTtlKey(string settings, bool enabled, int? ttl, string? keyJson)
    {
        var def = Valid(One($"    settings: {{{settings}}}\n"));
        var s = def.Activities[0].Settings;
        Assert.Equal(enabled, s.Cache);
        Assert.Equal(ttl, s.CacheTtl);
        Assert.Equal(keyJson, s.CacheKey?.ToJsonString());
        var json = def.Activities[0].SettingsJson!;
        Assert.Equal(enabled, json["cache"]!.GetValue<bool>());
        Assert.Equal(ttl is null, !json.ContainsKey("cache_ttl"));
        Assert.Equal(keyJson is null, !json.ContainsKey("cache_key"));
        Assert.True(json["cache"] is JsonValue);
    }

    [Fact]
    public void Parse_CacheObjectAndBoolForms_HashEqually()
    {
        var a = Valid(One("    settings: {cache: true, cache_ttl: 600, cache_key: [k]}\n"));
        var b = Valid(One("    settings: {cache: {ttl_seconds: 600, key: [k]}}\n"));
        Assert.Equal(a.ContentHash, b.ContentHash);
    }

    [Fact]
    public void Parse_WaitForSignalShorthand_BecomesObject()
    {
        var def = Valid(One("    settings: {wait_for_signal: approval}\n"));
        Assert.Equal("""{"event_name":"approval"}""", def.Activities[0].SettingsJson!["wait_for_signal"]!.ToJsonString());
        Assert.Equal(new SignalWait("approval", null, "fail"), def.Activities[0].Settings.WaitForSignal);
    }

    [Fact]
    public void Parse_WaitForSignalObject_KeepsGivenFields()
    {
        var def = Valid(One("    settings: {wait_for_signal: {event_name: approval, timeout_seconds: 60, on_timeout: skip}}\n"));
        Assert.Equal(new SignalWait("approval", 60, "skip"), def.Activities[0].Settings.WaitForSignal);
    }

    [Fact]
    public void Parse_MemoryMb_IsKeptForTheWorker()
    {
        var def = Valid(One("    settings: {memory_mb: 512, timeout_seconds: 9}\n"));
        Assert.Equal(512L, def.Activities[0].SettingsJson!["memory_mb"]!.GetValue<long>());
    }

    [Fact]
    public void Parse_LoopFieldsInSettings_MoveToActivityLevel()
    {
        var def = Valid(One("    settings: {iteration_limit: 5, iteration_scoped: true, streaming: {enabled: true}, timeout_seconds: 9}\n"));
        var a = def.Activities[0];
        Assert.Equal(5, a.IterationLimit);
        Assert.True(a.IterationScoped);
        Assert.True(a.Streaming);
        var json = def.NormalizedJson["activities"]![0]!.AsObject();
        Assert.Equal(5L, json["iteration_limit"]!.GetValue<long>());
        Assert.True(json["iteration_scoped"]!.GetValue<bool>());
        Assert.True(json["streaming"]!.GetValue<bool>());
        Assert.Equal("""{"timeout_seconds":9}""", json["settings"]!.ToJsonString());
    }

    [Fact]
    public void Parse_ActivityLevelLoopFields_WinOverSettings()
    {
        var def = Valid(One("""
                iteration_limit: 3
                iteration_scoped: false
                streaming: false
                settings: {iteration_limit: 5, iteration_scoped: true, streaming: true}

            """));
        var a = def.Activities[0];
        Assert.Equal(3, a.IterationLimit);
        Assert.False(a.IterationScoped);
        Assert.False(a.Streaming);
        Assert.Null(a.SettingsJson); // emptied by the move, so dropped
        Assert.False(def.NormalizedJson["activities"]![0]!.AsObject().ContainsKey("settings"));
    }

    [Fact]
    public void Parse_EmptySettings_AreDropped()
    {
        var def = Valid("name: wf\nsettings: {}\nactivities: [{key: a, activity_name: echo, settings: {}}]\n");
        Assert.Null(def.Settings);
        Assert.Null(def.Activities[0].SettingsJson);
        Assert.Equal(Valid("name: wf\nactivities: [{key: a, activity_name: echo}]\n").ContentHash, def.ContentHash);
    }

    [Fact]
    public void Parse_AbsentFields_StayAbsentInNormalizedJson()
    {
        var def = Valid("name: wf\nactivities: [{key: a}]\n");
        Assert.Equal("""{"name":"wf","activities":[{"key":"a","depends_on":[],"is_loop_activity":false}]}""",
            def.NormalizedJson.ToJsonString());
        var a = def.Activities[0];
        Assert.Equal("std", a.RoutingKey);
        Assert.Equal("", a.ActivityName);
        Assert.Empty(a.Parameters);
        Assert.Empty(a.Outputs);
        Assert.Empty(a.DependsOn);
        Assert.Null(a.IterationLimit);
        Assert.False(a.IterationScoped);
        Assert.Null(a.Streaming);
        Assert.False(a.IsLoopActivity);
        Assert.Null(a.SettingsJson);
        Assert.Null(a.Settings.Retry);
        Assert.Null(a.Settings.TimeoutSeconds);
        Assert.False(a.Settings.Cache);
        Assert.Null(def.Settings);
        Assert.Equal(0, a.Index);
    }

    [Fact]
    public void Parse_NullParameters_CountAsEmptyObject()
    {
        var def = Valid(One("    parameters:\n"));
        Assert.Empty(def.Activities[0].Parameters);
        Assert.Equal("{}", def.NormalizedJson["activities"]![0]!["parameters"]!.ToJsonString());
    }

    [Fact]
    public void Parse_FullActivity_NormalisesEveryField()
    {
        var def = Valid("""
            name: order_flow
            description: ignored
            settings: {timeout: 3600, max_retries: 2, budget: {limit_usd: 0.50, action: continue}}
            activities:
              - key: check
                worker: py-std
                activity_name: http_request
                parameters: {method: GET, n: 3, f: 0.25, nested: {list: [1, "2", true, null]}}
                outputs: [result, {name: report, type: file}, {name: dir, type: folder}]
                settings:
                  timeout_seconds: 30
                  retry: {max_attempts: 5, strategy: fixed, base_seconds: 1}
                  budget: {limit: "0.0100", action: abort}
                  delay: 90s
            """);
        Assert.Equal("""
            {"name":"order_flow","activities":[{"key":"check","worker":"py-std","activity_name":"http_request",
            "parameters":{"method":"GET","n":3,"f":0.25,"nested":{"list":[1,"2",true,null]}},
            "outputs":[{"name":"result","type":"value"},{"name":"report","type":"file"},{"name":"dir","type":"folder"}],
            "depends_on":[],"settings":{"timeout_seconds":30,"retry":{"max_attempts":5,"strategy":"fixed","base_seconds":1},
            "budget":{"limit":"0.01","action":"abort"},"delay":"90s"},"is_loop_activity":false}],
            "settings":{"timeout":3600,"max_retries":2,"budget":{"limit":"0.5","action":"continue"}}}
            """.Replace("\n", "", StringComparison.Ordinal), def.NormalizedJson.ToJsonString());

        Assert.Equal(new WorkflowSettings(3600, 2, 0.5m, "continue"), def.Settings);
        var a = def.Activities[0];
        Assert.Equal("py-std", a.RoutingKey);
        Assert.Equal([new OutputDefinition("result", "value"), new OutputDefinition("report", "file"), new OutputDefinition("dir", "folder")], a.Outputs);
        Assert.Equal(new RetryPolicy(5, "fixed", 1, 2.0, 300), a.Settings.Retry);
        Assert.Equal(new BudgetSettings(0.01m, "abort"), a.Settings.Budget);
        Assert.Equal("90s", a.Settings.Delay);
        Assert.Equal(30, a.Settings.TimeoutSeconds);
        Assert.Equal(3L, a.Parameters["n"]!.GetValue<long>());
        Assert.Equal(0.25, a.Parameters["f"]!.GetValue<double>());
        Assert.NotSame(a.Parameters, def.NormalizedJson["activities"]![0]!["parameters"]);
    }

    [Fact]
    public void Parse_RetryBlockWithoutFields_GetsDocumentedDefaults()
    {
        var def = Valid(One("    settings: {retry: {}}\n"));
        Assert.Equal(new RetryPolicy(1, "exponential", 2, 2.0, 300), def.Activities[0].Settings.Retry);
        Assert.Equal("{}", def.Activities[0].SettingsJson!["retry"]!.ToJsonString());
    }

    [Fact]
    public void Parse_BudgetWithoutAction_DefaultsToAbortInModelOnly()
    {
        var def = Valid(One("    settings: {budget: {limit: 1}}\n"));
        Assert.Equal(new BudgetSettings(1m, "abort"), def.Activities[0].Settings.Budget);
        Assert.Equal("""{"limit":"1"}""", def.Activities[0].SettingsJson!["budget"]!.ToJsonString());
    }

    [Theory]
    [InlineData("0.50", "0.5")]
    [InlineData("\"0.0023\"", "0.0023")]
    [InlineData("\"2.000\"", "2")]
    [InlineData("10", "10")]
    [InlineData("0", "0")]
    [InlineData("1e-3", "0.001")]
    public void Parse_Money_IsNormalisedDecimalString(string yaml, string expected)
    {
        var def = Valid($"name: wf\nsettings: {{budget: {{limit: {yaml}}}}}\nactivities: [{{key: a, activity_name: echo}}]\n");
        Assert.Equal(expected, def.NormalizedJson["settings"]!["budget"]!["limit"]!.GetValue<string>());
        Assert.Equal(decimal.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), def.Settings!.BudgetLimit);
    }

    [Fact]
    public void Parse_StreamingObjectWithoutEnabled_MeansTrue()
    {
        Assert.True(Valid(One("    streaming: {}\n")).Activities[0].Streaming);
        Assert.False(Valid(One("    streaming: {enabled: false}\n")).Activities[0].Streaming);
    }

    [Fact]
    public void Parse_IndexFollowsDefinitionOrder()
    {
        var def = Valid("name: wf\nactivities: [{key: x, activity_name: e}, {key: y, activity_name: e}, {key: z, activity_name: e}]\n");
        Assert.Equal([0, 1, 2], def.Activities.Select(a => a.Index));
        Assert.Same(def.Activities[2], def.Find("z"));
        Assert.Null(def.Find("nope"));
    }

    [Fact]
    public void Parse_NormalizedForm_IsAFixedPoint()
    {
        var first = Valid("""
            name: wf
            settings: {budget: {limit: 0.50}}
            activities:
              - {key: a, activity_name: echo, dependency_of: [b], settings: {cache: {ttl: 5}, wait_for_signal: go, iteration_scoped: true}}
              - {key: b, activity_name: echo, depends_on: [{activity_key: a, condition: "{{a.ok}}"}], outputs: [r]}
              - {key: c, activity_name: echo, depends_on: [b], dependency_of: [{activity_key: b, condition: "{{c.again}}"}]}
            """);
        var again = Valid(first.NormalizedJson.ToJsonString());
        Assert.Equal(first.NormalizedJson.ToJsonString(), again.NormalizedJson.ToJsonString());
        Assert.Equal(first.ContentHash, again.ContentHash);
    }

    private sealed class EdgeComparer : IEqualityComparer<DependencyEdge>
    {
        public static readonly EdgeComparer Instance = new();

        public bool Equals(DependencyEdge? x, DependencyEdge? y) =>
            x is not null && y is not null && x.ActivityKey == y.ActivityKey && x.IsBackEdge == y.IsBackEdge
            && x.Conditions.SequenceEqual(y.Conditions);

        public int GetHashCode(DependencyEdge obj) => obj.ActivityKey.GetHashCode(StringComparison.Ordinal);
    }
}
