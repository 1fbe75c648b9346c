using System.Text.Json.Nodes;
using Spindle.TestSupport;

namespace Spindle.Cluster.Tests;

/// <summary>
/// The std <c>postgres_transaction</c> and <c>postgres_query</c> activities end to end: a server on PostgreSQL
/// with its in-process std worker runs workflows that write and read a real database.
/// </summary>
[Collection(PostgresFixture.CollectionName)]
public sealed class PostgresActivityWorkflowTests(PostgresFixture postgres) : IAsyncLifetime
{
    private const string Report = """
        name: pg_report
        activities:
          - key: load
            activity_name: postgres_transaction
            parameters:
              connection_string: "{{INPUT.db}}"
              statements:
                - {query: "CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, total numeric NOT NULL)"}
                - {query: "INSERT INTO orders VALUES ($1, $2, $3), ($4, $5, $6)", params: [1, "{{INPUT.customer}}", 12.5, 2, "small", 3]}
          - key: report
            activity_name: postgres_query
            depends_on: [load]
            parameters:
              connection_string: "{{INPUT.db}}"
              query: "SELECT id, customer, total FROM orders WHERE total > $1 ORDER BY id"
              params: [5]
        """;

    private const string Broken = """
        name: pg_broken
        activities:
          - key: query
            activity_name: postgres_query
            parameters:
              connection_string: "{{INPUT.db}}"
              query: "SELECT * FROM no_such_table"
        """;

    private InProcessServer _server = null!;
    private string _data = "";

    public async Task InitializeAsync()
    {
        _server = await InProcessServer.StartAsync(await postgres.CreateDatabaseAsync(), withStdWorker: true);
        _data = await postgres.CreateDatabaseAsync();
        await _server.Api.DeployAsync(Report);
        await _server.Api.DeployAsync(Broken);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Workflow_QueryAfterTransaction_ReturnsRowsWithParametersBoundNotInterpolated()
    {
        const string hostile = "o'brien'); DROP TABLE orders; --";
        var id = await _server.Api.SubmitAsync("pg_report", new JsonObject { ["db"] = _data, ["customer"] = hostile });
        var wf = await _server.Api.GetWorkflowAsync(id, waitSeconds: 30);
        Assert.True(wf["status"]!.GetValue<string>() == "completed", wf.ToJsonString());

        var report = wf["activities"]!.AsArray().Single(a => a!["activity_key"]!.GetValue<string>() == "report")!;
        var outputs = report["outputs"]!.AsArray().ToDictionary(o => o!["name"]!.GetValue<string>(), o => o!["value"]);
        Assert.Equal(1, outputs["result"]!["row_count"]!.GetValue<int>());
        var row = Assert.Single(outputs["result"]!["rows"]!.AsArray())!;
        Assert.Equal(1, row["id"]!.GetValue<int>());
        Assert.Equal(hostile, row["customer"]!.GetValue<string>());
        Assert.Equal(12.5m, row["total"]!.GetValue<decimal>());
    }

    [Fact]
    public async Task Workflow_FailingStatement_FailsWithTheDatabaseMessage()
    {
        var id = await _server.Api.SubmitAsync("pg_broken", new JsonObject { ["db"] = _data });
        var wf = await _server.Api.GetWorkflowAsync(id, waitSeconds: 30);
        Assert.Equal("failed", wf["status"]!.GetValue<string>());
        var query = wf["activities"]!.AsArray().Single()!;
        Assert.Equal(1, query["attempt"]!.GetValue<int>()); // a SQL error is not retried
        Assert.StartsWith("DATABASE_ERROR: ", query["error"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("relation \"no_such_table\" does not exist", query["error_detail"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }
}
