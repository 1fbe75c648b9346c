using System.Text.Json.Nodes;
using Spindle.Core.Definitions;
using static Spindle.Core.Tests.Definitions.DefinitionTestHelpers;

namespace Spindle.Core.Tests.Definitions;

public class HashAndRoundTripTests
{
    private const string Yaml = """
        name: order_flow
        settings: {timeout: 3600, budget: {limit: 0.50}}
        activities:
          - key: check
            activity_name: http_request
            parameters: {method: GET, url: "{{INPUT.api}}/stock/{{INPUT.sku}}", n: 1, f: 1.5}
          - key: charge
            activity_name: http_request
            parameters: {method: POST, body: {amount: "{{INPUT.amount}}"}}
            settings: {timeout_seconds: 30, retry: {max_attempts: 5, base_seconds: 1}, cache: {ttl: 60}}
            depends_on: [{activity_key: check, condition: "{{check.response.body.in_stock}}"}]
          - key: retry_loop
            activity_name: echo
            iteration_limit: 3
            iteration_scoped: true
            depends_on: [charge, retry_loop]
        """;

    [Fact]
    public void ContentHash_IsLowerHexSha256OfCanonicalJson()
    {
        var def = Valid(Yaml);
        Assert.Matches("^[0-9a-f]{64}$", def.ContentHash);
        Assert.Equal(CanonicalJson.Sha256Hex(def.NormalizedJson), def.ContentHash);
    }

    [Fact]
    public void ContentHash_IgnoresKeyOrderWhitespaceAndStyle()
    {
        var reordered = """
            activities:
              - parameters:   {f: 1.5, n: 1, url: "{{INPUT.api}}/stock/{{INPUT.sku}}", method: GET}
                activity_name: http_request
                key: check


              - depends_on:
                  - condition: "{{check.response.body.in_stock}}"
                    activity_key: check
                settings:
                  cache: {ttl_seconds: 60}
                  retry: {base_seconds: 1.0, max_attempts: 5}
                  timeout_seconds: 30
                parameters:
                  body: {amount: "{{INPUT.amount}}"}
                  method: POST
                key: charge
                activity_name: http_request
              - {depends_on: [retry_loop, charge], iteration_scoped: true, key: retry_loop, activity_name: echo,
                 settings: {iteration_limit: 3}}
            settings: {budget: {limit: "0.5"}, timeout: 3600}
            description: whatever
            name: order_flow
            """;
        Assert.Equal(Valid(Yaml).ContentHash, Valid(reordered).ContentHash);
    }

    [Fact]
    public void ContentHash_JsonAndYamlOfSameContent_AreEqual()
    {
        var def = Valid(Yaml);
        Assert.Equal(def.ContentHash, Valid(def.NormalizedJson.ToJsonString()).ContentHash);
    }

    [Theory]
    [InlineData("url: \"{{INPUT.api}}/stock/{{INPUT.sku}}\"", "url: \"{{INPUT.api}}/stock/{{INPUT.id}}\"")]
    [InlineData("timeout_seconds: 30", "timeout_seconds: 31")]
    [InlineData("n: 1,", "n: \"1\",")]
    [InlineData("name: order_flow", "name: order_flow2")]
    [InlineData("activity_name: echo", "activity_name: echo2")]
    [InlineData("depends_on: [charge, retry_loop]", "depends_on: [check, retry_loop]")]
    public void ContentHash_RealChange_ChangesHash(string from, string to)
    {
        Assert.Contains(from, Yaml, StringComparison.Ordinal);
        Assert.NotEqual(Valid(Yaml).ContentHash, Valid(Yaml.Replace(from, to, StringComparison.Ordinal)).ContentHash);
    }

    [Fact]
    public void ContentHash_KnownValue_IsStable()
    {
        // Guards against accidental changes of the canonical form (which would make every redeploy a new version).
        var def = Valid("name: wf\nactivities: [{key: a, activity_name: echo, parameters: {x: 1}}]\n");
        const string canonical =
            """{"activities":[{"activity_name":"echo","depends_on":[],"is_loop_activity":false,"key":"a","parameters":{"x":1}}],"name":"wf"}""";
        Assert.Equal(canonical, CanonicalJson.Serialize(def.NormalizedJson));
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(canonical))),
            def.ContentHash);
    }

    [Fact]
    public void CanonicalJson_SortsKeysByCodePointRecursively()
    {
        var node = JsonNode.Parse("""{"b":{"z":1,"a":[{"y":2.50,"x":"é"}]},"a":null,"B":true,"\uFF61":1,"\uD83D\uDE00":2}""");
        Assert.Equal("""{"B":true,"a":null,"b":{"a":[{"x":"é","y":2.5}],"z":1},"｡":1,"\uD83D\uDE00":2}""", CanonicalJson.Serialize(node));
    }

    [Fact]
    public void CanonicalJson_IntegralFloatsAreIntegers()
    {
        Assert.Equal("[2,2,2.5,-3]", CanonicalJson.Serialize(new JsonArray(2L, 2.0, 2.5, JsonValue.Create(-3.0))));
    }

    [Fact]
    public void FromNormalized_RoundTrip_RebuildsEqualModel()
    {
        var parsed = Valid(Yaml);
        var stored = parsed.NormalizedJson.ToJsonString();
        var rebuilt = DefinitionParser.FromNormalized(JsonNode.Parse(stored)!.AsObject());

        Assert.Equal(parsed.ContentHash, rebuilt.ContentHash);
        Assert.Equal(stored, rebuilt.NormalizedJson.ToJsonString());
        Assert.Equal(parsed.Name, rebuilt.Name);
        Assert.Equal(parsed.Settings, rebuilt.Settings);
        Assert.Equal(parsed.Loops.Count, rebuilt.Loops.Count);
        for (var i = 0; i < parsed.Loops.Count; i++)
        {
            Assert.Equal((parsed.Loops[i].Head, parsed.Loops[i].Tail), (rebuilt.Loops[i].Head, rebuilt.Loops[i].Tail));
            Assert.Equal(parsed.Loops[i].Body, rebuilt.Loops[i].Body);
        }
        Assert.Equal(parsed.Activities.Count, rebuilt.Activities.Count);
        for (var i = 0; i < parsed.Activities.Count; i++)
        {
            var (p, r) = (parsed.Activities[i], rebuilt.Activities[i]);
            Assert.Equal((p.Key, p.RoutingKey, p.ActivityName, p.Index, p.IterationLimit, p.IterationScoped, p.IsLoopActivity, p.Streaming),
                (r.Key, r.RoutingKey, r.ActivityName, r.Index, r.IterationLimit, r.IterationScoped, r.IsLoopActivity, r.Streaming));
            Assert.Equal(p.Parameters.ToJsonString(), r.Parameters.ToJsonString());
            Assert.Equal(p.SettingsJson?.ToJsonString(), r.SettingsJson?.ToJsonString());
            Assert.Equal(p.Outputs, r.Outputs);
            Assert.Equal(p.DependsOn.Select(d => (d.ActivityKey, string.Join("|", d.Conditions), d.IsBackEdge)),
                r.DependsOn.Select(d => (d.ActivityKey, string.Join("|", d.Conditions), d.IsBackEdge)));
            Assert.Equal(p.Settings.TimeoutSeconds, r.Settings.TimeoutSeconds);
            Assert.Equal(p.Settings.Retry, r.Settings.Retry);
            Assert.Equal(p.Settings.Cache, r.Settings.Cache);
            Assert.Equal(p.Settings.CacheTtl, r.Settings.CacheTtl);
        }
    }

    [Fact]
    public void FromNormalized_NumbersBecomeLongAndDouble()
    {
        var parsed = Valid(Yaml);
        var rebuilt = DefinitionParser.FromNormalized(JsonNode.Parse(parsed.NormalizedJson.ToJsonString())!.AsObject());
        var p = rebuilt.Find("check")!.Parameters;
        Assert.True(p["n"]!.AsValue().TryGetValue(out long n) && n == 1);
        Assert.True(p["f"]!.AsValue().TryGetValue(out double f) && f == 1.5);
    }

    [Fact]
    public void FromNormalized_IgnoresExtraTopLevelFieldsAndDoesNotAliasInput()
    {
        var parsed = Valid(Yaml);
        var stored = parsed.NormalizedJson.DeepClone().AsObject();
        stored["version"] = "20260301.143022.123456";
        var rebuilt = DefinitionParser.FromNormalized(stored);
        Assert.Equal(parsed.ContentHash, rebuilt.ContentHash);
        Assert.False(rebuilt.NormalizedJson.ContainsKey("version"));
        rebuilt.NormalizedJson["name"] = "changed";
        Assert.Equal("order_flow", stored["name"]!.GetValue<string>());
    }

    [Fact]
    public void FromNormalized_UsesStoredLoopFlags()
    {
        var def = DefinitionParser.FromNormalized(JsonNode.Parse("""
            {"name":"wf","activities":[
              {"key":"a","depends_on":[{"activity_key":"c","conditions":["{{c.more}}"],"is_back_edge":true}],"is_loop_activity":true},
              {"key":"b","depends_on":[{"activity_key":"a","conditions":[],"is_back_edge":false}],"is_loop_activity":true},
              {"key":"c","depends_on":[{"activity_key":"b","conditions":[],"is_back_edge":false}],"is_loop_activity":true}]}
            """)!.AsObject());
        var loop = Assert.Single(def.Loops);
        Assert.Equal(new LoopDefinition("a", "c", loop.Body), loop);
        Assert.Equal(["a", "b", "c"], loop.Body);
        Assert.Equal("std", def.Activities[0].RoutingKey);
    }
}
