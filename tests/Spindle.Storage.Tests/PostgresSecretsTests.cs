using Npgsql;
using Spindle.Core.Orchestration;
using Spindle.Storage.Postgres;
using Spindle.TestSupport;

namespace Spindle.Storage.Tests;

/// <summary>The secrets suite on a real PostgreSQL server; the stored text is every row of the workflow tables.</summary>
[Collection(PostgresFixture.CollectionName)]
public sealed class PostgresSecretsTests(PostgresFixture postgres) : SecretsStoreBehaviour
{
    private string _connectionString = "";

    protected override async Task<IWorkflowStore> CreateStoreAsync(EngineDefaults defaults)
    {
        _connectionString = await postgres.CreateDatabaseAsync();
        return new PostgresWorkflowStore(_connectionString, defaults);
    }

    protected override Task<IWorkflowStore> ReopenAsync(EngineDefaults defaults) =>
        Task.FromResult<IWorkflowStore>(new PostgresWorkflowStore(_connectionString, defaults));

    protected override async Task<string> ReadStoredTextAsync()
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT (SELECT coalesce(string_agg(t::text, ' '), '') FROM activity_runs t) || " +
            "(SELECT coalesce(string_agg(t::text, ' '), '') FROM events t) || " +
            "(SELECT coalesce(string_agg(t::text, ' '), '') FROM workflows t) || " +
            "(SELECT coalesce(string_agg(t::text, ' '), '') FROM result_cache t)", connection);
        return (string)(await command.ExecuteScalarAsync())!;
    }
}
