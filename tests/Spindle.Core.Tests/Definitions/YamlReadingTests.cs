using Spindle.Core.Definitions;
using static Spindle.Core.Tests.Definitions.DefinitionTestHelpers;

namespace Spindle.Core.Tests.Definitions;

public class YamlReadingTests
{
    [Fact]
    public void Parse_PlainScalars_KeepYamlTypes()
    {
        var def = Valid(One("""
                parameters:
                  literal: |
                    30
                  int: 30
                  neg: -7
                  hex: 0x1F
                  float: 1.5
                  exp: 1e3
                  yes_bool: true
                  no_bool: False
                  nul: null
                  tilde: ~
                  empty:
                  quoted_int: "30"
                  single: '1.5'
                  word: yes
                  big: 123456789012345678901234
                  inf: .inf
            """));
        var p = def.Activities[0].Parameters;
        Assert.Equal(30L, p["int"]!.GetValue<long>());
        Assert.Equal(-7L, p["neg"]!.GetValue<long>());
        Assert.Equal(31L, p["hex"]!.GetValue<long>());
        Assert.Equal(1.5, p["float"]!.GetValue<double>());
        Assert.Equal(1000.0, p["exp"]!.GetValue<double>());
        Assert.True(p["yes_bool"]!.GetValue<bool>());
        Assert.False(p["no_bool"]!.GetValue<bool>());
        Assert.True(p.ContainsKey("nul") && p["nul"] is null);
        Assert.True(p.ContainsKey("tilde") && p["tilde"] is null);
        Assert.True(p.ContainsKey("empty") && p["empty"] is null);
        Assert.Equal("30", p["quoted_int"]!.GetValue<string>());
        Assert.Equal("1.5", p["single"]!.GetValue<string>());
        Assert.Equal("yes", p["word"]!.GetValue<string>());
        Assert.Equal(1.2345678901234568E+23, p["big"]!.GetValue<double>());
        Assert.Equal(".inf", p["inf"]!.GetValue<string>());
        Assert.Equal("30\n", p["literal"]!.GetValue<string>());
    }

    [Fact]
    public void Parse_ExplicitTags_AreHonoured()
    {
        var def = Valid(One("    parameters: {s: !!str 30, i: !!int \"42\", f: !!float 2}\n"));
        var p = def.Activities[0].Parameters;
        Assert.Equal("30", p["s"]!.GetValue<string>());
        Assert.Equal(42L, p["i"]!.GetValue<long>());
        Assert.Equal(2.0, p["f"]!.GetValue<double>());
    }

    [Fact]
    public void Parse_MalformedYaml_ReportsDefinitionWithLineAndColumn()
    {
        var result = DefinitionParser.Parse("name: wf\nactivities:\n  - key: a\n   bad: [\n");
        Assert.False(result.IsValid);
        var message = Assert.Single(Assert.Single(result.FieldErrors).Value);
        Assert.Equal("definition", result.FieldErrors.Keys.Single());
        Assert.StartsWith("Failed to parse YAML: ", message, StringComparison.Ordinal);
        Assert.Matches(@"\(line \d+, column \d+\)$", message);
    }

    [Fact]
    public void Parse_UnterminatedQuote_ReportsPositionOfScalar()
    {
        var result = DefinitionParser.Parse("name: wf\nactivities: \"oops\n");
        var message = Assert.Single(result.FieldErrors["definition"]);
        Assert.Contains("quoted scalar", message, StringComparison.Ordinal);
        Assert.EndsWith("(line 2, column 13)", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_DuplicateKey_IsParseError()
    {
        var result = DefinitionParser.Parse("name: wf\nname: other\nactivities: [{key: a}]\n");
        var message = Assert.Single(result.FieldErrors["definition"]);
        Assert.Contains("Duplicate key name", message, StringComparison.Ordinal);
        Assert.EndsWith("(line 2, column 1)", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("- a\n- b\n", "got a list")]
    [InlineData("just text", "got a string")]
    [InlineData("", "empty")]
    [InlineData("# only a comment\n", "empty")]
    [InlineData("name: a\n---\nname: b\n", "single YAML document")]
    public void Parse_TopLevelNotAMapping_ReportsDefinition(string text, string fragment)
    {
        var result = DefinitionParser.Parse(text);
        Assert.False(result.IsValid);
        Assert.Equal(["definition"], result.FieldErrors.Keys);
        Assert.Contains(fragment, result.FieldErrors["definition"][0], StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_JsonInput_IsReadAsYaml()
    {
        const string json = """
            {"name":"wf","activities":[{"key":"a","activity_name":"echo","parameters":{"n":1,"f":2.5,"s":"30"}},
            	{"key":"b","activity_name":"echo","depends_on":["a"],"settings":{"timeout_seconds":30}}]}
            """;
        var def = Valid(json);
        Assert.Equal("wf", def.Name);
        Assert.Equal(1L, def.Activities[0].Parameters["n"]!.GetValue<long>());
        Assert.Equal(2.5, def.Activities[0].Parameters["f"]!.GetValue<double>());
        Assert.Equal("30", def.Activities[0].Parameters["s"]!.GetValue<string>());
        Assert.Equal(30, def.Activities[1].Settings.TimeoutSeconds);
        Assert.Equal("a", Assert.Single(def.Activities[1].DependsOn).ActivityKey);
    }

    [Fact]
    public void Parse_JsonQuotedNumber_IsTypeError()
    {
        Invalid("""{"name":"wf","activities":[{"key":"a","settings":{"timeout_seconds":"30"}}]}""",
            "activities[0].settings.timeout_seconds", "got a string (\"30\")");
    }

    [Fact]
    public void Parse_AnchorsAndMergeKeys_AreExpanded()
    {
        var def = Valid("""
            name: wf
            x-defaults: &defaults {worker: py-std, activity_name: script}
            activities:
              - <<: *defaults
                key: a
              - <<: *defaults
                key: b
                activity_name: other
            """);
        Assert.Equal("py-std", def.Activities[0].RoutingKey);
        Assert.Equal("script", def.Activities[0].ActivityName);
        Assert.Equal("other", def.Activities[1].ActivityName);
    }

    [Fact]
    public void Parse_RecursiveAlias_IsRejectedNotHung()
    {
        var result = DefinitionParser.Parse("name: wf\nactivities: &x [*x]\n");
        Assert.False(result.IsValid);
    }

    [Fact]
    public void Parse_BillionLaughs_IsRejected()
    {
        var text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
        for (var i = 0; i < 8; i++)
        {
            var prev = (char)('a' + i);
            var next = (char)('a' + i + 1);
            text += $"{next}: &{next} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n";
        }
        var result = DefinitionParser.Parse(text);
        Assert.Contains("Failed to parse YAML", result.FieldErrors["definition"][0], StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_DefinitionExactlyAtTheDepthLimit_IsAccepted()
    {
        // name/activities (1) → list (2) → activity (3) → parameters (4) → 60 more levels.
        var deep = string.Concat(Enumerable.Repeat("{n: ", 59)) + "{}" + new string('}', 59);
        var result = DefinitionParser.Parse($"name: wf\nactivities:\n  - {{key: a, activity_name: echo, parameters: {{d: {deep}}}}}\n");
        Assert.True(result.IsValid, string.Join("; ", result.FieldErrors.SelectMany(e => e.Value)));
        var tooDeep = $"name: wf\nactivities:\n  - {{key: a, activity_name: echo, parameters: {{d: {{n: {deep}}}}}}}\n";
        Assert.Contains("nested deeper than 64 levels", DefinitionParser.Parse(tooDeep).FieldErrors["definition"][0], StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_AliasCopyingADeepTreeDeeperThanTheLimit_IsRejected()
    {
        // The anchored tree is 40 levels where it is defined, but the alias puts it 30 levels further down.
        var tree = string.Concat(Enumerable.Repeat("{n: ", 39)) + "{}" + new string('}', 39);
        var wrap = string.Concat(Enumerable.Repeat("{n: ", 29));
        var text = $"name: wf\nx: &t {tree}\nactivities: []\ny: {wrap}*t{new string('}', 29)}\n";
        Assert.Contains("nested deeper than 64 levels", DefinitionParser.Parse(text).FieldErrors["definition"][0], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(100_000)]
    [InlineData(250)]
    public void Parse_HostileNesting_IsRejectedWithoutStackOverflow(int depth)
    {
        var result = DefinitionParser.Parse("name: wf\nactivities: " + new string('[', depth) + new string(']', depth) + "\n");
        Assert.Contains("nested deeper than 64 levels", result.FieldErrors["definition"][0], StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_AliasOfScalarAndList_IsCopied()
    {
        var def = Valid("""
            name: wf
            activities:
              - key: a
                activity_name: &n echo
                parameters:
                  tags: &t [x, 1]
              - key: b
                activity_name: *n
                parameters:
                  tags: *t
            """);
        Assert.Equal("echo", def.Activities[1].ActivityName);
        Assert.Equal("""["x",1]""", def.Activities[1].Parameters["tags"]!.ToJsonString());
    }

    [Fact]
    public void Parse_ComplexMappingKey_IsParseError()
    {
        var result = DefinitionParser.Parse("name: wf\nactivities: [{key: a}]\n? [x]\n: 1\n");
        Assert.Contains("Mapping keys must be strings", result.FieldErrors["definition"][0], StringComparison.Ordinal);
    }
}
