using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Spindle.Storage;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>Group commit over HTTP: completions of different workflows that arrive together share one transaction.</summary>
[Collection(ServerCollection.Name)]
public sealed class GroupCommitTests(ServerFixture server)
{
    private static string Unique(string prefix) => prefix + "_" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task Complete_ReportsOfManyWorkflowsArriveDuringACommit_ShareTheNextTransactionEachWithItsOwnAnswer()
    {
        const int Workflows = 8;
        var name = Unique("group");
        var queue = Unique("q");
        await server.DeployAsync($$$"""
            name: {{{name}}}
            activities:
              - {key: a, worker: {{{queue}}}, activity_name: echo, parameters: {n: "{{INPUT.n}}"}}
              - {key: b, worker: {{{queue}}}, activity_name: echo, parameters: {prev: "{{a.echo.n}}"}, depends_on: [a]}
            """);
        var ids = new List<string>();
        for (var i = 0; i < Workflows; i++)
        {
            ids.Add(await server.SubmitAsync(name, new JsonObject { ["n"] = i }));
        }
        var roots = await server.PollAsync("w1", 20, routingKey: queue);
        Assert.Equal(Workflows, roots.Count);
        var store = (TransactionalWorkflowStore)server.App.Services.GetRequiredService<IWorkflowStore>();
        var before = store.CompletionGroups;

        // Another connection holds SQLite's write lock, so the first report's transaction cannot start until it is
        // released, and every other report arrives while that one is under way: they must wait for the next one.
        Task<(int Status, JsonObject Body)>[] reports;
        await using (var holder = new SqliteConnection($"Data Source={Path.Combine(server.DataDir, "spindle.db")};Pooling=False"))
        {
            await holder.OpenAsync();
            await using (var begin = holder.CreateCommand())
            {
                begin.CommandText = "BEGIN IMMEDIATE";
                await begin.ExecuteNonQueryAsync();
            }
            reports = [.. roots.Select(r => server.PostAsync($"/api/v1/activities/{r!["activity_id"]!.GetValue<string>()}/complete",
                new JsonObject { ["worker_id"] = "w1", ["output"] = new JsonObject { ["echo"] = r["parameters"]!.DeepClone() }, ["claim_next"] = 1 }))];
            while (store.CompletionsWaiting < Workflows - 1 && !reports.Any(r => r.IsCompleted))
            {
                await Task.Delay(20);
            }
            await using var rollback = holder.CreateCommand();
            rollback.CommandText = "ROLLBACK";
            await rollback.ExecuteNonQueryAsync();
        }
        var answers = await Task.WhenAll(reports);

        // One transaction for the first report, one for the seven that waited.
        var after = store.CompletionGroups;
        Assert.Equal((2L, (long)Workflows), (after.Transactions - before.Transactions, after.Reports - before.Reports));
        for (var i = 0; i < Workflows; i++)
        {
            Assert.Equal(200, answers[i].Status);
            var next = Assert.Single(answers[i].Body["activities"]!.AsArray())!;
            Assert.Equal("b", next["activity_key"]!.GetValue<string>());
            Assert.Equal(roots[i]!["workflow_id"]!.GetValue<string>(), next["workflow_id"]!.GetValue<string>());
            Assert.Equal(roots[i]!["parameters"]!["n"]!.GetValue<int>(), next["parameters"]!["prev"]!.GetValue<int>());
        }
        foreach (var id in ids)
        {
            var (_, events) = await server.GetAsync($"/api/v1/workflows/{id}/events");
            Assert.Single(events["events"]!.AsArray(), e => e!["event_type"]!.GetValue<string>() == "ActivityCompleted");
        }
    }
}
