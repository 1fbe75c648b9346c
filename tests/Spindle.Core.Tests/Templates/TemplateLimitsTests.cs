using System.Text;
using System.Text.Json.Nodes;
using Spindle.Core.Templates;

namespace Spindle.Core.Tests.Templates;

/// <summary>Every evaluation runs under a step, size and depth budget; breaching it throws
/// <see cref="TemplateLimitException"/> before the work (or the allocation) is done.</summary>
public sealed class TemplateLimitsTests
{
    private static readonly Dictionary<string, JsonNode?> Scope = new()
    {
        ["INPUT"] = JsonNode.Parse("""{"items": [1, 2, 3], "name": "World", "n": 1000000000}"""),
        // As an upstream output arrives: parsed JSON.
        ["BIG"] = JsonNode.Parse(new JsonObject
        {
            ["text"] = new string('t', 500_000) + "END",
            ["rows"] = new JsonArray([.. Enumerable.Range(0, 10_000).Select(i => (JsonNode?)new JsonObject { ["id"] = i, ["name"] = $"row {i}" })]),
        }.ToJsonString()),
    };

    private static JsonNode? Resolve(string text) => TemplateEvaluator.Resolve(text, Scope);

    private static TemplateLimitException Breach(string template, TemplateLimits? limits = null) =>
        Assert.Throws<TemplateLimitException>(() => TemplateEvaluator.Resolve(template, Scope, limits ?? TemplateLimits.Default));

    [Theory]
    [InlineData("{% for i in range(1000000000) %}x{% endfor %}")]
    [InlineData("{% for i in range(INPUT.n) %}{% endfor %}")]
    [InlineData("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}")]
    [InlineData("{{ range(1000000000) | length }}")]
    [InlineData("{% for i in range(300) %}{% for j in range(300) %}{{ i if j else '' }}{% endfor %}{% endfor %}")]
    public void Resolve_LoopBeyondStepLimit_ThrowsNamingStepLimit(string template)
    {
        var error = Breach(template);
        Assert.Contains("template limit exceeded", error.Message, StringComparison.Ordinal);
        Assert.Contains("more than 100000 steps", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_BillionIterationLoop_FailsWithoutMaterialisingTheRange()
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        Breach("{% for i in range(1000000000) %}{{ i }}{% endfor %}");
        // range() pays for its items before making the list: nothing like 10^9 items is allocated.
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1_000_000);
    }

    [Theory]
    [InlineData("{{ 'x' * 100000000 }}", "100000000 characters")]
    [InlineData("{{ 100000000 * 'x' }}", "100000000 characters")]
    [InlineData("{{ 'abc' * 9223372036854775807 }}", "characters")]
    [InlineData("{{ ('x' * 1000000) ~ ('y' * 1000000) }}", "2000000 characters")]
    [InlineData("{{ ('x' * 1000000) + ('y' * 1000000) }}", "2000000 characters")]
    [InlineData("{{ ['x' * 600000, 'y' * 600000] | join }}", "1200000 characters")]
    [InlineData("{{ ', '.join(['x' * 600000, 'y' * 600000]) }}", "1200002 characters")]
    [InlineData("{{ ('x' * 1000) | replace('x', 'y' * 2000) }}", "2000000 characters")]
    [InlineData("{{ 'ab'.replace('', 'z' * 600000) }}", "1800002 characters")]
    [InlineData("{{ [1, 2] | tojson(indent=100000000) }}", "characters")]
    [InlineData("{{ ('x\n' * 1000) | indent('y' * 2000) }}", "characters")]
    public void Resolve_StringBeyondSizeLimit_ThrowsBeforeAllocating(string template, string size)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Breach(template);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains(size, error.Message, StringComparison.Ordinal);
        Assert.Contains("size limit of 1048576", error.Message, StringComparison.Ordinal);
        // The operands may be up to the limit (2 bytes a character); the oversized result is never built.
        Assert.True(allocated < 12_000_000, $"allocated {allocated} bytes");
    }

    [Theory]
    [InlineData("{{ [1] * 100000000 }}")]
    [InlineData("{{ [1, 2, 3] * 9223372036854775807 }}")]
    [InlineData("{% set ns = namespace(items=[]) %}{% for i in range(5000) %}{% set ns.items = ns.items + [i] %}{% endfor %}")]
    [InlineData("{{ [1] | batch(1000000000, 'fill') }}")]
    [InlineData("{{ [1] | slice(1000000000) }}")]
    [InlineData("{{ ('a,' * 500000).split(',') | length }}")]
    [InlineData("{% for i in range(1000) %}{{ ('x' * 1000000) | upper | length }}{% endfor %}")]
    [InlineData("{% set ns = namespace(s='') %}{% for i in range(5000) %}{% set ns.s = ns.s ~ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}{% endfor %}")]
    public void Resolve_ListOrCopyGrowthBeyondStepLimit_Throws(string template)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Breach(template);
        Assert.Contains("steps", error.Message, StringComparison.Ordinal);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 50_000_000);
    }

    [Theory]
    [InlineData("{{ [BIG.rows] * 1000 }}")]
    [InlineData("{{ [BIG.text] * 1000 }}")]
    [InlineData("{% for i in range(20000) %}{% set x = BIG.text %}{% endfor %}")]
    [InlineData("{% for i in range(20000) %}{{ 'x' if 'END' in BIG.text }}{% endfor %}")]
    [InlineData("{% for i in range(20000) %}{% if BIG.text == BIG.text %}{% endif %}{% endfor %}")]
    [InlineData("{% set t = BIG.text %}{% set d = {'a': 1} %}{% for i in range(2000) %}{{ d.get(t, 0) }}{% endfor %}")]
    [InlineData("{% set t = BIG.text %}{{ ([t] * 2000) | unique | list | length }}")]
    [InlineData("{% set t = BIG.text %}{% for i in range(2000) %}{{ t in INPUT }}{{ INPUT[t] is defined }}{% endfor %}")]
    public void Resolve_RepeatedlyCopyingLargeScopeValues_IsPaidFor(string template)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Contains("steps", Breach(template).Message, StringComparison.Ordinal);
        // Bounded by the budget, not by the repetitions asked for (GBs without it).
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 200_000_000);
    }

    [Theory]
    [InlineData("{{ BIG.text[:5] }}", "ttttt")]
    [InlineData("{{ BIG.text[-3:] }}", "END")]
    [InlineData("{{ BIG.text[-1] }}", "D")]
    [InlineData("{{ BIG.text[-5::2] }}", "tED")]
    [InlineData("{{ BIG.text | length }}", "500003")]
    [InlineData("{{ BIG.rows | length }}", "10000")]
    [InlineData("{{ BIG.rows[9999].name }}", "row 9999")]
    [InlineData("{{ (BIG.rows | selectattr('id', 'lt', 3) | map(attribute='name') | list) }}", "[\"row 0\",\"row 1\",\"row 2\"]")]
    [InlineData("{{ '😀ab😀'[1:3] }}", "ab")]
    public void Resolve_ReadingLargeScopeValues_StaysWithinDefaultLimits(string template, string expected)
    {
        Assert.Equal(expected, Printed(Resolve(template)));
    }

    [Fact]
    public void Resolve_RenderedOutputBeyondSizeLimit_Throws()
    {
        // Each piece is small; the output grows past 1 MiB as it is appended.
        var error = Breach("{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}");
        Assert.Contains("size limit of 1048576", error.Message, StringComparison.Ordinal);

        var text = new string('t', 600_000);
        Assert.Contains("size limit", Breach($"{text}{{{{ 1 }}}}{text}").Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_PrintedListBeyondSizeLimit_Throws()
    {
        var error = Breach("{{ ['x' * 1000000, 'y' * 1000000] | string }}");
        Assert.Contains("size limit", error.Message, StringComparison.Ordinal);
        Assert.Contains("size limit", Breach("{{ ['x' * 1000000, 'y' * 1000000] | tojson }}").Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(" + 1", 300)]
    [InlineData(" | lower", 300)]
    [InlineData(" ~ 'a'", 300)]
    [InlineData("[0]", 300)]
    public void Resolve_ExpressionNestedBeyondDepthLimit_Throws(string link, int links)
    {
        var template = "{{ " + (link == "[0]" ? "[[1]]" : "'1'") + string.Concat(Enumerable.Repeat(link, links)) + " }}";
        var error = Breach(template);
        Assert.Contains("more than 200 levels deep", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_LongChain_ParsesInLinearSpaceThenHitsDepthLimit()
    {
        var template = "{{ 1" + string.Concat(Enumerable.Repeat(" + 1", 20_000)) + " }}";

        var before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Null(TemplateEvaluator.FindSyntaxError(template));
        // Each node used to keep its whole source text: 1.6 GB for this 80 KB template.
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 100_000_000);
        Assert.Contains("levels deep", Breach(template).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_DeepChainWithDepthLimitBeyondTheStack_FailsInsteadOfCrashing()
    {
        // A depth limit configured far deeper than the stack allows must not take the process down.
        var template = "{{ 1" + string.Concat(Enumerable.Repeat(" + 1", 3000)) + " }}";
        var limits = new TemplateLimits { MaxDepth = int.MaxValue, MaxSteps = long.MaxValue };
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                Assert.Throws<TemplateLimitException>(() => TemplateEvaluator.Resolve(template, Scope, limits));
            }
            catch (Exception e)
            {
                failure = e;
            }
        }, 256 * 1024);
        thread.Start();
        thread.Join();
        Assert.Null(failure);
    }

    [Fact]
    public void Resolve_CustomLimits_AppliesThem()
    {
        var tight = new TemplateLimits { MaxSteps = 50, MaxOutputSize = 10, MaxDepth = 5 };

        Assert.Contains("more than 50 steps", Breach("{% for i in range(100) %}{% endfor %}", tight).Message, StringComparison.Ordinal);
        Assert.Contains("size limit of 10", Breach("{{ 'x' * 11 }}", tight).Message, StringComparison.Ordinal);
        Assert.Contains("more than 5 levels", Breach("{{ 1 + 1 + 1 + 1 + 1 + 1 }}", tight).Message, StringComparison.Ordinal);
        Assert.Equal("xxxxxxxxxx", TemplateEvaluator.Resolve("{{ 'x' * 10 }}", Scope, tight)!.GetValue<string>());
    }

    [Fact]
    public void ResolveTree_AllLeavesShareOneBudget()
    {
        var tree = new JsonObject();
        for (var i = 0; i < 20; i++) tree[$"p{i}"] = "{% for i in range(2000) %}{% endfor %}";
        var limits = new TemplateLimits { MaxSteps = 20_000 };

        // Each leaf alone fits; together they do not.
        Assert.NotNull(TemplateEvaluator.ResolveTree(new JsonObject { ["p"] = "{% for i in range(2000) %}{% endfor %}" }, Scope, limits));
        Assert.Throws<TemplateLimitException>(() => TemplateEvaluator.ResolveTree(tree, Scope, limits));
    }

    [Fact]
    public void ResolveTree_FailingLeaf_NamesItsPath()
    {
        var tree = JsonNode.Parse("""{"ok": "{{ 1 }}", "nested": {"list": ["fine", {"bad": "{{ 'x' * 100000000 }}"}]}}""");

        var error = Assert.Throws<TemplateLimitException>(() => TemplateEvaluator.ResolveTree(tree, Scope));

        Assert.Equal("nested.list[1].bad", error.Location);
    }

    [Theory]
    [InlineData("{% for x in INPUT.items %}{{ x }},{% endfor %}", "1,2,3,")]
    [InlineData("{{ range(10000) | sum }}", "49995000")]
    [InlineData("{{ range(1000) | map('string') | join(',') | length }}", "3889")]
    [InlineData("{{ ('ab' * 1000) | replace('a', 'xyz') | length }}", "4000")]
    [InlineData("{{ 'Hello ' ~ INPUT.name ~ '!' }}", "Hello World!")]
    [InlineData("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}done", "done")]
    [InlineData("{{ ('x' * 1048576) | length }}", "1048576")]
    [InlineData("{{ 'abc' * 3 }}|{{ 'ab' * 0 }}|{{ 'ab' * -2 }}|{{ '' * 9 }}|{{ [1, 2] * 2 }}", "abcabcabc||||[1, 2, 1, 2]")]
    [InlineData("{{ ('ab' * 5000) | upper | length }}", "10000")]
    [InlineData("{{ ('a,' * 1000).split(',') | length }}", "1001")]
    public void Resolve_TypicalTemplates_AreWithinDefaultLimits(string template, string expected)
    {
        Assert.Equal(expected, Printed(Resolve(template)));
    }

    [Fact]
    public void Resolve_OutputOfExactlyTheSizeLimit_IsAllowed()
    {
        var limits = new TemplateLimits { MaxOutputSize = 1000 };
        var result = TemplateEvaluator.Resolve("{% for i in range(100) %}0123456789{% endfor %}", Scope, limits);
        Assert.Equal(1000, result!.GetValue<string>().Length);
    }

    [Fact]
    public void Resolve_LimitErrors_AreTemplateExceptions()
    {
        // Callers that handle TemplateException keep working; the subtype tells limits apart from mistakes.
        var error = Assert.ThrowsAny<TemplateException>(() => Resolve("{{ 'x' * 100000000 }}"));
        Assert.IsType<TemplateLimitException>(error);
        Assert.IsNotType<TemplateLimitException>(Assert.ThrowsAny<TemplateException>(() => Resolve("{{ INPUT.missing }}")));
    }

    private static string Printed(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue<string>(out var s) ? s : node?.ToJsonString() ?? "null";
}
