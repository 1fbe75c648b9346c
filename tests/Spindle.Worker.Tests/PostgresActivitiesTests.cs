using System.Text.Json.Nodes;
using Npgsql;
using Spindle.TestSupport;
using Spindle.Worker.Std;
using Spindle.Worker.Tests.Support;

namespace Spindle.Worker.Tests;

[CollectionDefinition(PostgresFixture.CollectionName)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>;

/// <summary>postgres_query / postgres_transaction against a real throwaway PostgreSQL cluster.</summary>
[Collection(PostgresFixture.CollectionName)]
public sealed class PostgresActivitiesTests(PostgresFixture postgres) : IAsyncLifetime
{
    private readonly ActivityRegistry _registry = new();
    private readonly string _table = "t_" + Guid.NewGuid().ToString("N")[..10];
    private StdActivities? _std;

    public async Task InitializeAsync()
    {
        _std = StdActivities.Register(_registry);
        await ExecuteAsync($"CREATE TABLE {_table} (id serial PRIMARY KEY, name text NOT NULL, qty int, price numeric(10,2), ref uuid, doc jsonb, at timestamptz)");
    }

    public async Task DisposeAsync()
    {
        if (_std is not null)
        {
            await _std.DisposeAsync();
        }
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(postgres.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private async Task<JsonObject> RunAsync(string activity, JsonObject parameters, CancellationToken cancellationToken = default)
    {
        Assert.True(_registry.TryGet(activity, out ActivityHandler? handler));
        ActivityResult result = await handler(TestContexts.For(activity, parameters), cancellationToken);
        Assert.Equal("result", Assert.Single(result.Output).Key);
        return result.Output["result"]!.AsObject();
    }

    private JsonObject Query(string sql, params JsonNode?[] values) => new()
    {
        ["connection_string"] = postgres.ConnectionString,
        ["query"] = sql,
        ["params"] = new JsonArray(values),
    };

    private async Task<ActivityFailureException> FailAsync(string activity, JsonObject parameters)
    {
        Assert.True(_registry.TryGet(activity, out ActivityHandler? handler));
        return await Assert.ThrowsAsync<ActivityFailureException>(() => handler(TestContexts.For(activity, parameters), CancellationToken.None));
    }

    [Fact]
    public async Task QueryAsync_InsertAndSelectWithParams_ReturnsRowsAsJsonObjects()
    {
        JsonObject inserted = await RunAsync("postgres_query", Query($"INSERT INTO {_table} (name, qty) VALUES ($1, $2), ($3, $4) RETURNING id, name", "apple", 3, "pear", 5));
        Assert.Equal(2, (int)inserted["row_count"]!);

        JsonObject selected = await RunAsync("postgres_query", Query($"SELECT name, qty FROM {_table} WHERE qty > $1 ORDER BY name", 1));
        Assert.Equal("""[{"name":"apple","qty":3},{"name":"pear","qty":5}]""", selected["rows"]!.ToJsonString());
        Assert.Equal(2, (int)selected["row_count"]!);
    }

    [Fact]
    public async Task QueryAsync_ValueLooksLikeSqlInjection_IsBoundAsData()
    {
        const string evil = $"x'; DROP TABLE victim; --";
        await ExecuteAsync("CREATE TABLE IF NOT EXISTS victim (id int)");
        await RunAsync("postgres_query", Query($"INSERT INTO {_table} (name) VALUES ($1)", evil));

        JsonObject selected = await RunAsync("postgres_query", Query($"SELECT name FROM {_table} WHERE name = $1", evil));
        Assert.Equal(evil, (string?)selected["rows"]![0]!["name"]);

        JsonObject victim = await RunAsync("postgres_query", Query("SELECT count(*) AS n FROM victim"));
        Assert.Equal(0, (long)victim["rows"]![0]!["n"]!);
    }

    [Fact]
    public async Task QueryAsync_JsonParamTypes_MapToPostgresTypes()
    {
        var doc = new JsonObject { ["tags"] = new JsonArray("a", "b"), ["n"] = 1 };
        await RunAsync("postgres_query", Query(
            $"INSERT INTO {_table} (name, qty, price, ref, doc, at) VALUES ($1, $2, $3, $4, $5, $6)",
            "typed", 7, 12.25, "0190a3b4-0000-7000-8000-000000000001", doc, "2024-05-06T07:08:09.123456Z"));

        JsonObject selected = await RunAsync("postgres_query", Query(
            $"SELECT name, qty, price, ref, doc, at, $1::boolean AS flag, $2::int AS nothing, pg_typeof($3)::text AS big_type, pg_typeof($4)::text AS float_type FROM {_table}",
            true, null, 9_000_000_000L, 0.5));
        JsonNode row = selected["rows"]![0]!;
        Assert.Equal("typed", (string?)row["name"]);
        Assert.Equal(7, (int)row["qty"]!);
        Assert.Equal(12.25m, (decimal)row["price"]!);
        Assert.Equal("0190a3b4-0000-7000-8000-000000000001", (string?)row["ref"]);
        Assert.Equal("""{"n":1,"tags":["a","b"]}""", row["doc"]!.ToJsonString());
        Assert.Equal("2024-05-06T07:08:09.123456Z", (string?)row["at"]);
        Assert.True((bool)row["flag"]!);
        Assert.Null(row["nothing"]);
        Assert.True(row.AsObject().ContainsKey("nothing"));
        Assert.Equal("bigint", (string?)row["big_type"]);
        Assert.Equal("double precision", (string?)row["float_type"]);
    }

    [Fact]
    public async Task QueryAsync_ResultTypes_AreConvertedToJson()
    {
        JsonObject selected = await RunAsync("postgres_query", Query("""
            SELECT 1::smallint AS s, 2::int AS i, 3::bigint AS b, 1.50::numeric(5,2) AS n, 2.5::float8 AS f,
                   'NaN'::float8 AS nan, true AS t, 'text'::text AS txt, '2024-01-02'::date AS d,
                   '2024-01-02 03:04:05.5'::timestamp AS ts, '2024-01-02 03:04:05+02'::timestamptz AS tstz,
                   '13:14:15'::time AS tm, '{"a":[1,2]}'::json AS j, '{"b":null}'::jsonb AS jb,
                   ARRAY[1,2,3] AS arr, ARRAY['x', NULL] AS tarr, '\x0102'::bytea AS bin, NULL::text AS nul,
                   '1 day 2 hours'::interval AS iv
            """));
        JsonObject row = selected["rows"]![0]!.AsObject();
        Assert.Equal(
            """{"s":1,"i":2,"b":3,"n":1.50,"f":2.5,"nan":"NaN","t":true,"txt":"text","d":"2024-01-02","ts":"2024-01-02T03:04:05.500000","tstz":"2024-01-02T01:04:05.000000Z","tm":"13:14:15","j":{"a":[1,2]},"jb":{"b":null},"arr":[1,2,3],"tarr":["x",null],"bin":"AQI=","nul":null,"iv":"P1DT2H"}""",
            row.ToJsonString());
    }

    [Fact]
    public async Task QueryAsync_UpdateWithoutReturning_ReportsRowsAffectedOnly()
    {
        await RunAsync("postgres_query", Query($"INSERT INTO {_table} (name) SELECT 'n' || g FROM generate_series(1, 4) g"));
        JsonObject updated = await RunAsync("postgres_query", Query($"UPDATE {_table} SET qty = $1 WHERE name <> $2", 9, "n1"));
        Assert.Equal("""{"rows_affected":3}""", updated.ToJsonString());
    }

    [Theory]
    [InlineData("postgres")]
    [InlineData("postgresql")]
    public async Task QueryAsync_DbUrlInLibpqForm_Connects(string scheme)
    {
        var builder = new NpgsqlConnectionStringBuilder(postgres.ConnectionString);
        string url = $"{scheme}://{Uri.EscapeDataString(builder.Username!)}@{builder.Host}:{builder.Port}/{builder.Database}?sslmode=disable&application_name=compat";
        JsonObject result = await RunAsync("postgres_query", new JsonObject { ["db_url"] = url, ["query"] = "SELECT current_setting('application_name') AS app" });
        Assert.Equal("compat", (string?)result["rows"]![0]!["app"]);
    }

    [Fact]
    public async Task QueryAsync_DbUrlUnreadable_FailsInvalidParametersWithoutPassword()
    {
        ActivityFailureException failure = await FailAsync("postgres_query", new JsonObject { ["db_url"] = "postgres://u:hunter2@127.0.0.1:5432/db?sslmode=sideways", ["query"] = "SELECT 1" });
        Assert.Equal("INVALID_PARAMETERS", failure.Code);
        Assert.DoesNotContain("hunter2", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QueryAsync_ConnectionAlias_IsAccepted()
    {
        JsonObject result = await RunAsync("postgres_query", new JsonObject { ["connection"] = postgres.ConnectionString, ["query"] = "SELECT 42 AS answer" });
        Assert.Equal(42, (int)result["rows"]![0]!["answer"]!);
    }

    [Fact]
    public async Task QueryAsync_UnknownTable_FailsWithDatabaseMessageAndSqlStateNotRetryable()
    {
        ActivityFailureException failure = await FailAsync("postgres_query", Query("SELECT * FROM no_such_table"));
        Assert.Equal("DATABASE_ERROR", failure.Code);
        Assert.False(failure.Retryable);
        Assert.Contains("42P01", failure.Message, StringComparison.Ordinal);
        Assert.Contains("relation \"no_such_table\" does not exist", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QueryAsync_SyntaxError_FailsNotRetryable()
    {
        ActivityFailureException failure = await FailAsync("postgres_query", Query("SELEC 1"));
        Assert.Equal("DATABASE_ERROR", failure.Code);
        Assert.False(failure.Retryable);
        Assert.Contains("42601", failure.Message, StringComparison.Ordinal);
        Assert.Contains("syntax error", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QueryAsync_ConstraintViolation_IncludesDetail()
    {
        await RunAsync("postgres_query", Query($"INSERT INTO {_table} (id, name) VALUES (1, 'a')"));
        ActivityFailureException failure = await FailAsync("postgres_query", Query($"INSERT INTO {_table} (id, name) VALUES (1, 'b')"));
        Assert.Contains("23505", failure.Message, StringComparison.Ordinal);
        Assert.Contains("Key (id)=(1) already exists", failure.Message, StringComparison.Ordinal);
        Assert.False(failure.Retryable);
    }

    [Fact]
    public async Task QueryAsync_ServerUnreachable_FailsRetryable()
    {
        var builder = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { Port = 1, Timeout = 2 };
        ActivityFailureException failure = await FailAsync("postgres_query", new JsonObject { ["connection_string"] = builder.ConnectionString, ["query"] = "SELECT 1" });
        Assert.Equal("DATABASE_ERROR", failure.Code);
        Assert.True(failure.Retryable);
    }

    [Theory]
    [InlineData("""{"query": "SELECT 1"}""")]
    [InlineData("""{"connection_string": "Host=127.0.0.1", "query": ""}""")]
    [InlineData("""{"connection_string": "Host=127.0.0.1", "query": "SELECT $1", "params": {"a": 1}}""")]
    [InlineData("""{"connection_string": "NotAKey=1", "query": "SELECT 1"}""")]
    [InlineData("""{"connection_string": "Host=127.0.0.1", "statements": []}""")]
    public async Task QueryOrTransaction_BadParameters_FailInvalidParametersNotRetryable(string parameters)
    {
        string activity = parameters.Contains("statements", StringComparison.Ordinal) ? "postgres_transaction" : "postgres_query";
        ActivityFailureException failure = await FailAsync(activity, TestContexts.Parse(parameters));
        Assert.Equal("INVALID_PARAMETERS", failure.Code);
        Assert.False(failure.Retryable);
    }

    [Fact]
    public async Task QueryAsync_Cancelled_ThrowsOperationCanceled()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RunAsync("postgres_query", Query("SELECT pg_sleep(10)"), cts.Token));
    }

    [Fact]
    public async Task TransactionAsync_AllStatementsSucceed_CommitsAndReturnsEachResult()
    {
        JsonObject result = await RunAsync("postgres_transaction", new JsonObject
        {
            ["connection_string"] = postgres.ConnectionString,
            ["statements"] = new JsonArray(
                new JsonObject { ["query"] = $"INSERT INTO {_table} (name, qty) VALUES ($1, $2)", ["params"] = new JsonArray("a", 1) },
                new JsonObject { ["query"] = $"UPDATE {_table} SET qty = qty + $1 WHERE name = $2", ["params"] = new JsonArray(10, "a") },
                new JsonObject { ["query"] = $"SELECT name, qty FROM {_table}" }),
        });

        Assert.True((bool)result["success"]!);
        Assert.Equal(3, (int)result["statements_executed"]!);
        JsonArray results = result["results"]!.AsArray();
        Assert.Equal(3, results.Count);
        Assert.Equal(1, (int)results[0]!["rows_affected"]!);
        Assert.Equal(1, (int)results[1]!["rows_affected"]!);
        Assert.Equal("""[{"name":"a","qty":11}]""", results[2]!["rows"]!.ToJsonString());

        JsonObject after = await RunAsync("postgres_query", Query($"SELECT count(*) AS n FROM {_table}"));
        Assert.Equal(1, (long)after["rows"]![0]!["n"]!);
    }

    [Fact]
    public async Task TransactionAsync_LaterStatementFails_RollsBackEarlierOnes()
    {
        ActivityFailureException failure = await FailAsync("postgres_transaction", new JsonObject
        {
            ["connection_string"] = postgres.ConnectionString,
            ["statements"] = new JsonArray(
                new JsonObject { ["query"] = $"INSERT INTO {_table} (name) VALUES ($1)", ["params"] = new JsonArray("kept?") },
                new JsonObject { ["query"] = $"INSERT INTO {_table} (name) VALUES ($1)", ["params"] = new JsonArray((JsonNode?)null) }),
        });

        Assert.Equal("DATABASE_ERROR", failure.Code);
        Assert.False(failure.Retryable);
        Assert.Contains("statement 2 of 2", failure.Message, StringComparison.Ordinal);
        Assert.Contains("23502", failure.Message, StringComparison.Ordinal);
        Assert.Contains("null value in column \"name\"", failure.Message, StringComparison.Ordinal);

        JsonObject after = await RunAsync("postgres_query", Query($"SELECT count(*) AS n FROM {_table}"));
        Assert.Equal(0, (long)after["rows"]![0]!["n"]!);
    }

    [Fact]
    public async Task TransactionAsync_SerializationFailure_IsRetryable()
    {
        // A serialization failure (40001) is transient: the same transaction may succeed when retried.
        ActivityFailureException failure = await FailAsync("postgres_transaction", new JsonObject
        {
            ["connection_string"] = postgres.ConnectionString,
            ["statements"] = new JsonArray(new JsonObject
            {
                ["query"] = "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$",
            }),
        });
        Assert.Equal("DATABASE_ERROR", failure.Code);
        Assert.True(failure.Retryable);
        Assert.Contains("40001", failure.Message, StringComparison.Ordinal);
    }
}
