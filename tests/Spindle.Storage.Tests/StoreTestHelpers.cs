using System.Text.Json.Nodes;
using Spindle.Core.Definitions;
using Spindle.Storage;

namespace Spindle.Storage.Tests;

internal static class StoreTestHelpers
{
    /// <summary><c>start</c> → <c>p0</c> … <c>p(width−1)</c>, and a join <c>end</c> after them when <paramref name="join"/>.</summary>
    public static string FanOutYaml(string name, int width, bool join)
    {
        var branches = Enumerable.Range(0, width).Select(i => $"p{i}").ToList();
        var yaml = $"name: {name}\nactivities:\n  - {{key: start, activity_name: echo, dependency_of: [{string.Join(", ", branches)}]}}\n";
        yaml += string.Concat(branches.Select(b => $"  - {{key: {b}, activity_name: echo{(join ? ", dependency_of: [end]" : "")}}}\n"));
        return join ? yaml + "  - {key: end, activity_name: echo}\n" : yaml;
    }

    public static WorkflowDefinition Parse(string yaml)
    {
        var result = DefinitionParser.Parse(yaml);
        Assert.True(result.IsValid, string.Join("; ", result.FieldErrors.Select(e => $"{e.Key}: {string.Join(", ", e.Value)}")));
        return result.Definition!;
    }

    public static async Task<string> DeployAndSubmitAsync(IWorkflowStore store, string yaml, JsonObject? input = null, string? uniqueKey = null)
    {
        var definition = Parse(yaml);
        await store.DeployAsync(definition, CancellationToken.None);
        var outcome = await store.SubmitAsync(new SubmitCommand(definition.Name, null, input ?? new JsonObject(), uniqueKey), CancellationToken.None);
        Assert.Equal(StoreStatus.Ok, outcome.Status);
        return outcome.Workflow!.Id;
    }

    public static Task<IReadOnlyList<ClaimedActivity>> ClaimAsync(IWorkflowStore store, string workerId, int max = 10, string routingKey = "std") =>
        store.ClaimAsync(new ClaimCommand(routingKey, workerId, max, null), CancellationToken.None);

    public static async Task<ClaimedActivity> ClaimOneAsync(IWorkflowStore store, string key, string workerId = "w1", string routingKey = "std")
    {
        var claimed = await ClaimAsync(store, workerId, 100, routingKey);
        var match = claimed.Where(c => c.ActivityKey == key).ToList();
        Assert.True(match.Count == 1, $"expected '{key}' among claimed [{string.Join(", ", claimed.Select(c => c.ActivityKey))}]");
        foreach (var other in claimed.Where(c => c.ActivityKey != key))
        {
            // Put back anything else we grabbed by failing it retryably would change attempts; tests claim precisely instead.
            Assert.Fail($"unexpected extra claim '{other.ActivityKey}'");
        }
        return match[0];
    }

    public static Task<CompleteOutcome> CompleteAsync(IWorkflowStore store, ClaimedActivity a, JsonObject? output = null, string? workerId = null) =>
        store.CompleteAsync(a.ActivityId, workerId ?? "w1", output ?? new JsonObject { ["echo"] = a.Parameters.DeepClone() }, 0m, CancellationToken.None);
}
