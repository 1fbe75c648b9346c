using System.Text.Json.Nodes;
using Spindle.Core.Templates;

namespace Spindle.Core.Tests.Templates;

/// <summary>Spindle-specific behaviour that jinja2 cannot be the oracle for.</summary>
public sealed class TemplateEvaluatorTests
{
    private static readonly Dictionary<string, JsonNode?> Scope = new()
    {
        ["INPUT"] = JsonNode.Parse("""{"count": 5, "name": "World", "price": 0.0023, "huge": 123456789012345678901234567890, "ratio": 2.0, "tags": ["a", "b"], "user": {"name": "ada", "age": 36}, "none_value": null}"""),
        ["fetch"] = JsonNode.Parse("""{"status": "completed", "iteration": 1, "result": {"body": {"id": 7}}}"""),
        ["ACTIVITIES"] = JsonNode.Parse("""{"fetch-data": {"status": "completed", "result": 3}}"""),
        ["SECRET"] = JsonNode.Parse("""{"db_url": "postgres://x"}"""),
        ["SIGNAL"] = null,
    };

    private static JsonNode? Resolve(string text) => TemplateEvaluator.Resolve(text, Scope);

    private static string Text(string template) => Resolve(template)!.GetValue<string>();

    [Theory]
    [InlineData("{{ INPUT.missing }}", "'INPUT.missing' is undefined")]
    [InlineData("{{ INPUT.missing.deeper.still }}", "'INPUT.missing.deeper.still' is undefined")]
    [InlineData("{{ nothing }}", "'nothing' is undefined")]
    [InlineData("{{ INPUT.tags[5] }}", "'INPUT.tags[5]' is undefined")]
    [InlineData("{{ ACTIVITIES['no-such'].result }}", "'ACTIVITIES['no-such'].result' is undefined")]
    [InlineData("total: {{ INPUT.missing }}", "'INPUT.missing' is undefined")]
    public void Resolve_UndefinedValue_ThrowsNamingTheExpression(string template, string message)
    {
        var error = Assert.Throws<TemplateException>(() => Resolve(template));
        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData("{{ INPUT.missing + 1 }}")]
    [InlineData("{{ INPUT.missing == 1 }}")]
    [InlineData("{{ INPUT.missing is none }}")]
    [InlineData("{{ INPUT.missing | length }}")]
    [InlineData("{{ INPUT.missing ~ 'x' }}")]
    [InlineData("{{ not INPUT.missing }}")]
    [InlineData("{{ INPUT.missing or 1 }}")]
    [InlineData("{{ [1] | join(INPUT.missing) }}")]
    [InlineData("{% for x in INPUT.missing %}{% endfor %}")]
    [InlineData("{% if INPUT.missing %}{% endif %}")]
    public void Resolve_UndefinedUsedOtherThanAllowed_Throws(string template)
    {
        var error = Assert.Throws<TemplateException>(() => Resolve(template));
        Assert.Contains("undefined", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{{ INPUT.missing.deeper | default('d') }}", "d")]
    [InlineData("{{ INPUT.missing.deeper | d('d') }}", "d")]
    [InlineData("{{ INPUT.missing[0].x | coalesce('c') }}", "c")]
    [InlineData("{{ INPUT.none_value | coalesce('c') }}", "c")]
    [InlineData("{{ INPUT.missing | coalesce(INPUT.none_value, 'third') }}", "third")]
    [InlineData("{{ 'yes' if INPUT.missing.x is undefined else 'no' }}", "yes")]
    [InlineData("{{ 'yes' if INPUT.missing.x is defined else 'no' }}", "no")]
    public void Resolve_UndefinedLookedIntoThenDefaulted_Succeeds(string template, string expected)
    {
        Assert.Equal(expected, Text(template));
    }

    [Fact]
    public void Resolve_DefaultOnNone_KeepsNoneUnlessBoolean()
    {
        Assert.Null(Resolve("{{ INPUT.none_value | default('d') }}"));
        Assert.Equal("d", Text("{{ INPUT.none_value | default('d', true) }}"));
    }

    [Theory]
    [InlineData("{{ null }}")]
    [InlineData("{{ none }}")]
    [InlineData("{{ None }}")]
    [InlineData("{{ SIGNAL }}")]
    public void Resolve_NoneValue_ReturnsJsonNull(string template)
    {
        Assert.Null(Resolve(template));
    }

    [Fact]
    public void Resolve_NullLiteralInString_PrintsNone()
    {
        Assert.Equal("x=none", Text("x={{ null }}"));
    }

    [Theory]
    [InlineData("{{ INPUT.name | contains('orl') }}", true)]
    [InlineData("{{ INPUT.name | contains(substring='xyz') }}", false)]
    [InlineData("{{ INPUT.tags | contains('b') }}", true)]
    [InlineData("{{ INPUT.tags | contains('z') }}", false)]
    [InlineData("{{ INPUT.user | contains('age') }}", true)]
    [InlineData("{{ INPUT.user | contains('ada') }}", false)]
    [InlineData("{{ '15' | contains(5) }}", true)]
    public void Resolve_ContainsFilter_TestsSubstringMembershipOrKey(string template, bool expected)
    {
        Assert.Equal(expected, Resolve(template)!.GetValue<bool>());
    }

    [Fact]
    public void Resolve_AttrFilterOnMap_ReadsKey()
    {
        Assert.Equal("ada", Text("{{ INPUT.user | attr('name') }}"));
    }

    [Theory]
    [InlineData("{{ INPUT.count }}", "5")]
    [InlineData("  {{ INPUT.count }}\n", "5")]
    [InlineData("{{- INPUT.count -}}", "5")]
    [InlineData("{{ INPUT.ratio }}", "2.0")]
    [InlineData("{{ 4 / 2 }}", "2.0")]
    [InlineData("{{ INPUT.count > 3 }}", "true")]
    [InlineData("{{ INPUT.tags }}", """["a","b"]""")]
    [InlineData("{{ {'k': [1, 2.5, none]} }}", """{"k":[1,2.5,null]}""")]
    public void Resolve_WholeValue_KeepsJsonType(string template, string json)
    {
        Assert.Equal(json, Resolve(template)!.ToJsonString());
    }

    [Theory]
    [InlineData("{{ INPUT.count }}{{ INPUT.name }}", "5World")]
    [InlineData("x{{ INPUT.count }}", "x5")]
    [InlineData("{% if true %}{{ INPUT.count }}{% endif %}", "5")]
    [InlineData("{{ INPUT.count }}{# c #}", "5")]
    public void Resolve_NotWholeValue_RendersString(string template, string expected)
    {
        var result = Resolve(template);
        Assert.Equal(System.Text.Json.JsonValueKind.String, result!.GetValueKind());
        Assert.Equal(expected, result.GetValue<string>());
    }

    [Theory]
    [InlineData("plain text")]
    [InlineData("a {# comment only #} b")]
    [InlineData("{ not a template }")]
    [InlineData("")]
    public void Resolve_NoTemplateMarkers_ReturnsTextUnchanged(string text)
    {
        Assert.Equal(text, Resolve(text)!.GetValue<string>());
    }

    [Theory]
    [InlineData("{{ INPUT.price }}", "0.0023")]
    [InlineData("{{ INPUT.huge }}", "123456789012345678901234567890")]
    [InlineData("{{ INPUT['ratio'] }}", "2.0")]
    public void Resolve_PathIntoScope_CopiesJsonAsWritten(string template, string json)
    {
        Assert.Equal(json, Resolve(template)!.ToJsonString());
    }

    [Fact]
    public void Resolve_IntegerResult_ReadsAsAnyNumericType()
    {
        var result = Resolve("{{ INPUT.count * 2 }}")!;
        Assert.Equal(10, result.GetValue<int>());
        Assert.Equal(10L, result.GetValue<long>());
        Assert.Equal(10.0, result.GetValue<double>());
        Assert.Equal(10m, result.GetValue<decimal>());
    }

    [Fact]
    public void Resolve_ObjectFromScope_ReturnsDetachedCopy()
    {
        var result = Resolve("{{ INPUT.user }}")!;
        var holder = new JsonObject { ["user"] = result };

        Assert.Same(holder, result.Parent);
        Assert.Equal("ada", Scope["INPUT"]!["user"]!["name"]!.GetValue<string>());
        Assert.Same(Scope["INPUT"], Scope["INPUT"]!["user"]!.Parent);
    }

    [Fact]
    public void Resolve_SameTemplateTwice_UsesEachScope()
    {
        var first = TemplateEvaluator.Resolve("n={{ n }}", new Dictionary<string, JsonNode?> { ["n"] = 1 });
        var second = TemplateEvaluator.Resolve("n={{ n }}", new Dictionary<string, JsonNode?> { ["n"] = 2 });
        Assert.Equal("n=1", first!.GetValue<string>());
        Assert.Equal("n=2", second!.GetValue<string>());
    }

    [Fact]
    public void Resolve_ManyThreads_GiveConsistentResults()
    {
        var results = new string[64];
        Parallel.For(0, results.Length, i =>
        {
            var scope = new Dictionary<string, JsonNode?> { ["i"] = i };
            results[i] = TemplateEvaluator.Resolve("{% for x in range(i % 4) %}{{ x }}{% endfor %}|{{ i }}", scope)!.GetValue<string>();
        });
        for (var i = 0; i < results.Length; i++)
        {
            Assert.Equal(string.Concat(Enumerable.Range(0, i % 4)) + "|" + i, results[i]);
        }
    }

    [Theory]
    [InlineData("{{ SECRET.db_url }}", "postgres://x")]
    [InlineData("{{ ACTIVITIES['fetch-data'].result + 1 }}", "4")]
    [InlineData("{{ fetch.status == 'completed' }}", "true")]
    [InlineData("{{ true }} {{ false }} {{ none }}", "true false none")]
    [InlineData("{{ [1, 'a', none, true] }}!", """[1, "a", none, true]!""")]
    [InlineData("{{ INPUT.user }}!", """{"name": "ada", "age": 36}!""")]
    [InlineData("{{ true ~ '' }}", "true")]
    [InlineData("{{ [true, none] | join(',') }}", "true,none")]
    [InlineData("{{ 1e20 }}!", "1e+20!")]
    [InlineData("{{ 'ü<' | tojson }}", "\"ü\\u003c\"")]
    [InlineData("{% set ns = namespace(found=false) %}{% for t in INPUT.tags %}{% if t == 'b' %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }}", "true")]
    public void Resolve_SpindlePrinting_FollowsSpecTable(string template, string expected)
    {
        Assert.Equal(expected, Resolve(template)!.ToString());
    }

    [Fact]
    public void Resolve_ConditionWrittenAsStringTemplate_IsAlwaysTruthy()
    {
        var result = Resolve("{{ fetch.iteration }} < {{ 0 }}");
        Assert.Equal("1 < 0", result!.GetValue<string>());
        Assert.True(TemplateEvaluator.IsTruthy(result));
        Assert.False(TemplateEvaluator.IsTruthy(Resolve("{{ fetch.iteration < 0 }}")));
    }

    [Theory]
    [InlineData("{{ 1 / 0 }}")]
    [InlineData("{{ 'a' - 1 }}")]
    [InlineData("{{ INPUT.count | join }}")]
    [InlineData("{{ INPUT.count() }}")]
    [InlineData("{{ INPUT.name.nosuchmethod() }}")]
    [InlineData("{% set x = 1 %}{% set x.y = 2 %}")]
    [InlineData("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns }}")]
    [InlineData("{{ 9223372036854775807 + 1 }}")]
    [InlineData("{% for a, b in [[1, 2, 3]] %}{% endfor %}")]
    public void Resolve_RuntimeError_ThrowsTemplateException(string template)
    {
        Assert.Throws<TemplateException>(() => Resolve(template));
    }

    [Fact]
    public void ResolveTree_ObjectWithTemplates_ResolvesLeavesButNotKeys()
    {
        var tree = JsonNode.Parse("""
            {"{{ INPUT.name }}": "{{ INPUT.count }}",
             "list": ["Hi {{ INPUT.name }}", 3, true, null, "{{ INPUT.user }}"],
             "nested": {"price": "{{ INPUT.price }}", "plain": "text"}}
            """);

        var resolved = TemplateEvaluator.ResolveTree(tree, Scope)!;

        Assert.Equal(
            """{"{{ INPUT.name }}":5,"list":["Hi World",3,true,null,{"name":"ada","age":36}],"nested":{"price":0.0023,"plain":"text"}}""",
            resolved.ToJsonString());
        Assert.Equal("{{ INPUT.count }}", tree!["{{ INPUT.name }}"]!.GetValue<string>());
    }

    [Fact]
    public void ResolveTree_AttachedNodes_ReturnsTreeThatCanBeReparented()
    {
        var parent = JsonNode.Parse("""{"params": {"n": 1, "s": "x", "t": "{{ INPUT.tags }}"}}""")!;
        var resolved = TemplateEvaluator.ResolveTree(parent["params"], Scope)!;

        var other = new JsonObject { ["copy"] = resolved };

        Assert.Same(other, resolved.Parent);
        Assert.NotNull(parent["params"]);
        Assert.Equal("""{"n":1,"s":"x","t":["a","b"]}""", resolved.ToJsonString());
    }

    [Fact]
    public void ResolveTree_Null_ReturnsNull()
    {
        Assert.Null(TemplateEvaluator.ResolveTree(null, Scope));
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("false", false)]
    [InlineData("\"true\"", true)]
    [InlineData("\"TRUE\"", true)]
    [InlineData("\"False\"", false)]
    [InlineData("\"false\"", false)]
    [InlineData("\"\"", false)]
    [InlineData("\"no\"", true)]
    [InlineData("\"0\"", true)]
    [InlineData("0", false)]
    [InlineData("0.0", false)]
    [InlineData("1", true)]
    [InlineData("-2.5", true)]
    [InlineData("null", false)]
    [InlineData("[]", true)]
    [InlineData("{}", true)]
    [InlineData("[false]", true)]
    public void IsTruthy_JsonValue_FollowsConditionRules(string json, bool expected)
    {
        Assert.Equal(expected, TemplateEvaluator.IsTruthy(JsonNode.Parse(json)));
    }

    [Fact]
    public void IsTruthy_ClrBackedValues_FollowConditionRules()
    {
        Assert.False(TemplateEvaluator.IsTruthy(null));
        Assert.False(TemplateEvaluator.IsTruthy(JsonValue.Create(0)));
        Assert.False(TemplateEvaluator.IsTruthy(JsonValue.Create(0m)));
        Assert.True(TemplateEvaluator.IsTruthy(JsonValue.Create(0.5)));
        Assert.True(TemplateEvaluator.IsTruthy(JsonValue.Create(true)));
        Assert.False(TemplateEvaluator.IsTruthy(JsonValue.Create("FaLsE")));
    }

    [Theory]
    [InlineData("{{ x }}", true)]
    [InlineData("a {% if x %}b{% endif %}", true)]
    [InlineData("{{", true)]
    [InlineData("plain", false)]
    [InlineData("{# comment #}", false)]
    [InlineData("{ {", false)]
    [InlineData("ends with {", false)]
    [InlineData("", false)]
    public void ContainsTemplate_Text_DetectsMarkers(string text, bool expected)
    {
        Assert.Equal(expected, TemplateEvaluator.ContainsTemplate(text));
    }

    [Theory]
    [InlineData("{{ INPUT.count }}")]
    [InlineData("plain text")]
    [InlineData("{% for k, v in d | items %}{{ k }}{% else %}-{% endfor %}")]
    [InlineData("{{ undefined_names_are_fine_until_run }}")]
    public void FindSyntaxError_ValidTemplate_ReturnsNull(string text)
    {
        Assert.Null(TemplateEvaluator.FindSyntaxError(text));
    }

    [Theory]
    [InlineData("{{ a && b }}", "use 'and'")]
    [InlineData("{{ a || b }}", "use 'or'")]
    [InlineData("{{ !a }}", "use 'not'")]
    [InlineData("{{ x | nosuchfilter }}", "unknown filter 'nosuchfilter'")]
    [InlineData("{{ x is nosuchtest }}", "unknown test 'nosuchtest'")]
    [InlineData("{{ x | join(separator=',') }}", "no argument named 'separator'")]
    [InlineData("{{ x | upper(1) }}", "at most 0 argument")]
    [InlineData("{{ nosuchfunction() }}", "unknown function")]
    [InlineData("{% if x %}", "expected 'elif' or 'else' or 'endif'")]
    [InlineData("{% include 'x' %}", "not supported")]
    [InlineData("{{ 1 + }}", "unexpected")]
    [InlineData("{{ x }", "expected '}}'")]
    public void FindSyntaxError_InvalidTemplate_ReturnsMessage(string text, string fragment)
    {
        var message = TemplateEvaluator.FindSyntaxError(text);
        Assert.NotNull(message);
        Assert.Contains(fragment, message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_SyntaxError_ThrowsWithPosition()
    {
        var error = Assert.Throws<TemplateException>(() => Resolve("{{ INPUT.count + }}"));
        Assert.StartsWith("template syntax error:", error.Message, StringComparison.Ordinal);
        Assert.Contains("at position", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FindSyntaxError_DeeplyNestedExpression_ReportsInsteadOfCrashing()
    {
        var text = "{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}";
        Assert.Contains("nested too deeply", TemplateEvaluator.FindSyntaxError(text), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{{ INPUT.user.items() | list }}", """[["name","ada"],["age",36]]""")]
    [InlineData("{{ INPUT.user.get('age') }}", "36")]
    [InlineData("{{ INPUT.user.get('x', 0) }}", "0")]
    [InlineData("{{ INPUT.name.lower().startswith('wor') }}", "true")]
    [InlineData("{{ '  a  '.strip() }}", "\"a\"")]
    [InlineData("{{ 'a-b'.split('-') }}", """["a","b"]""")]
    [InlineData("{{ INPUT.tags | map('upper') | list }}", """["A","B"]""")]
    [InlineData("{{ INPUT.user | items }}", """[["name","ada"],["age",36]]""")]
    [InlineData("{{ [1, 2, 3] | select('gt', 1) | list }}", "[2,3]")]
    [InlineData("{{ 'a' in INPUT.tags and INPUT.count is integer }}", "true")]
    public void Resolve_MethodsAndFilters_Work(string template, string json)
    {
        Assert.Equal(json, Resolve(template)!.ToJsonString());
    }
}
