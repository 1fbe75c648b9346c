using Spindle.Core.Orchestration;
using Spindle.Storage.Postgres;
using Spindle.Storage.Sqlite;
using Spindle.TestSupport;

namespace Spindle.Storage.Tests;

/// <summary>Activity files, the same on both backends.</summary>
public abstract class FileStoreBehaviour : IAsyncLifetime
{
    private IWorkflowStore _store = null!;

    protected IFileStore Files { get; private set; } = null!;

    protected abstract Task<(IWorkflowStore Store, IFileStore Files)> CreateAsync();

    public async Task InitializeAsync()
    {
        (_store, Files) = await CreateAsync();
        await _store.MigrateAsync(CancellationToken.None);
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    [Fact]
    public async Task PutFile_Twice_ReplacesContentAndListsOnce()
    {
        await Files.PutFileAsync("wf", "a", "out.txt", "text/plain", [1, 2, 3], 10, CancellationToken.None);
        await Files.PutFileAsync("wf", "a", "out.txt", "application/json", [4, 5], 20, CancellationToken.None);
        var (file, content) = (await Files.GetFileAsync("wf", "a", "out.txt", CancellationToken.None))!.Value;
        Assert.Equal([4, 5], content);
        Assert.Equal("application/json", file.ContentType);
        Assert.Equal(2, file.Size);
        Assert.Single(await Files.ListFilesAsync("wf", "a", CancellationToken.None));
        Assert.Null(await Files.GetFileAsync("wf", "a", "nope", CancellationToken.None));
        Assert.Empty(await Files.ListFilesAsync("wf", "b", CancellationToken.None));
    }
}

public sealed class SqliteFileStoreTests : FileStoreBehaviour, IDisposable
{
    private readonly SqliteTempDirectory _dir = new("spindle-files-");

    protected override Task<(IWorkflowStore Store, IFileStore Files)> CreateAsync()
    {
        var path = _dir.DatabasePath;
        return Task.FromResult<(IWorkflowStore, IFileStore)>((new SqliteWorkflowStore(path, new EngineDefaults()), new SqliteFileStore(path)));
    }

    public void Dispose() => _dir.Dispose();
}

[Collection(PostgresFixture.CollectionName)]
public sealed class PostgresFileStoreTests(PostgresFixture postgres) : FileStoreBehaviour
{
    protected override async Task<(IWorkflowStore Store, IFileStore Files)> CreateAsync()
    {
        var store = new PostgresWorkflowStore(await postgres.CreateDatabaseAsync(), new EngineDefaults());
        return (store, new PostgresFileStore(store.DataSource));
    }
}
