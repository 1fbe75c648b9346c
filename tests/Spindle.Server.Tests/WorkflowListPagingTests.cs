using System.Text.Json.Nodes;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>GET /api/v1/workflows with keyset cursors and the id-prefix filter, over real HTTP.</summary>
[Collection(ServerCollection.Name)]
public sealed class WorkflowListPagingTests(ServerFixture server)
{
    private static string Yaml(string name) => $$"""
        name: {{name}}
        activities:
          - {key: a, worker: paging_{{name}}, activity_name: echo}
        """;

    private static List<string> Ids(JsonObject page) => page["workflows"]!.AsArray().Select(w => w!["id"]!.GetValue<string>()).ToList();

    [Fact]
    public async Task ListWorkflows_NextAndPrevCursors_WalkEveryRunOnceBothWays()
    {
        var name = "paging_" + Guid.NewGuid().ToString("N")[..8];
        await server.DeployAsync(Yaml(name));
        var submitted = new List<string>();
        for (var i = 0; i < 23; i++)
        {
            submitted.Add(await server.SubmitAsync(name, new JsonObject()));
        }

        var forward = new List<JsonObject>();
        string? cursor = null;
        do
        {
            var (status, page) = await server.GetAsync($"/api/v1/workflows?definition_name={name}&limit=5" + (cursor is null ? "" : $"&cursor={cursor}"));
            Assert.Equal(200, status);
            Assert.Equal(forward.Count < 2 ? 23 : 24, page["total"]!.GetValue<int>());
            forward.Add(page);
            cursor = page["next_cursor"]?.GetValue<string>();
            if (forward.Count == 2)
            {
                await server.SubmitAsync(name, new JsonObject()); // on top: later pages do not shift
            }
        } while (cursor is not null);
        var seen = forward.SelectMany(Ids).ToList();
        Assert.Equal(23, seen.Count);
        Assert.Equal(submitted.Order(StringComparer.Ordinal), seen.Order(StringComparer.Ordinal));
        Assert.Equal([5, 5, 5, 5, 3], forward.Select(p => p["count"]!.GetValue<int>()));
        Assert.Null(forward[0]["prev_cursor"]);

        // prev_cursor of the last page leads back to the page before it, and so on up to the first.
        var back = forward[^1]["prev_cursor"]!.GetValue<string>();
        for (var i = forward.Count - 2; i >= 0; i--)
        {
            var (_, page) = await server.GetAsync($"/api/v1/workflows?definition_name={name}&limit=5&cursor={back}");
            Assert.Equal(Ids(forward[i]), Ids(page));
            back = page["prev_cursor"]?.GetValue<string>()!;
        }
        // The first page's "previous" is the run added meanwhile.
        Assert.NotNull(back);
        var (_, top) = await server.GetAsync($"/api/v1/workflows?definition_name={name}&limit=5&cursor={back}");
        Assert.Single(Ids(top));
        Assert.Null(top["prev_cursor"]);
    }

    [Fact]
    public async Task ListWorkflows_IdPrefixAndBadCursor_FilterOrAnswer422()
    {
        var name = "prefix_" + Guid.NewGuid().ToString("N")[..8];
        await server.DeployAsync(Yaml(name));
        var id = await server.SubmitAsync(name, new JsonObject());
        var (status, exact) = await server.GetAsync($"/api/v1/workflows?id_prefix={id.ToUpperInvariant()}");
        Assert.Equal(200, status);
        var item = Assert.Single(exact["workflows"]!.AsArray())!;
        Assert.Equal(id, item["id"]!.GetValue<string>());
        Assert.Equal(0m, decimal.Parse(item["total_cost_usd"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture));
        var (_, byPrefix) = await server.GetAsync($"/api/v1/workflows?id_prefix={id[..8]}&limit=1000");
        Assert.Contains(id, Ids(byPrefix));
        Assert.All(Ids(byPrefix), i => Assert.StartsWith(id[..8], i, StringComparison.Ordinal));

        var (badStatus, bad) = await server.GetAsync("/api/v1/workflows?cursor=bm90LWEtY3Vyc29y");
        Assert.Equal(422, badStatus);
        Assert.NotNull(bad["error"]!["details"]!["field_errors"]!["cursor"]);
        Assert.Equal(422, (await server.GetAsync("/api/v1/workflows?id_prefix=xyz%25")).Status);
        await server.SubmitAsync(name, new JsonObject());
        var (_, first) = await server.GetAsync($"/api/v1/workflows?definition_name={name}&limit=1");
        var (bothStatus, both) = await server.GetAsync($"/api/v1/workflows?offset=1&cursor={first["next_cursor"]!.GetValue<string>()}");
        Assert.Equal(422, bothStatus);
        Assert.NotNull(both["error"]!["details"]!["field_errors"]!["offset"]);
    }
}
