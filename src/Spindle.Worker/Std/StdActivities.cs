namespace Spindle.Worker.Std;

/// <summary>
/// The built-in activities of the <c>std</c> worker: <c>echo</c>, <c>http_request</c>, <c>postgres_query</c> and
/// <c>postgres_transaction</c>. <see cref="Register"/> returns the shared resources (HTTP client, connection pools),
/// which the caller disposes after the worker has stopped.
/// </summary>
public sealed class StdActivities : IAsyncDisposable, IDisposable
{
    public const string Echo = "echo";
    public const string HttpRequest = "http_request";
    public const string PostgresQuery = "postgres_query";
    public const string PostgresTransaction = "postgres_transaction";

    private readonly HttpClient? _ownedHttpClient;
    private readonly PostgresDataSourceCache? _ownedDataSources;

    private StdActivities(HttpClient? httpClient, PostgresDataSourceCache? dataSources)
    {
        if (httpClient is null)
        {
            _ownedHttpClient = HttpRequestActivity.CreateDefaultHttpClient();
        }

        if (dataSources is null)
        {
            _ownedDataSources = new PostgresDataSourceCache();
        }

        Http = new HttpRequestActivity(httpClient ?? _ownedHttpClient!);
        Postgres = new PostgresActivities(dataSources ?? _ownedDataSources!);
    }

    /// <summary>All std activity names.</summary>
    public static IReadOnlyList<string> Names { get; } = [Echo, HttpRequest, PostgresQuery, PostgresTransaction];

    public HttpRequestActivity Http { get; }

    public PostgresActivities Postgres { get; }

    /// <summary>
    /// Registers the std activities in <paramref name="registry"/>. A given <paramref name="httpClient"/> or
    /// <paramref name="dataSources"/> is used as is and not disposed; missing ones are created and owned.
    /// </summary>
    public static StdActivities Register(ActivityRegistry registry, HttpClient? httpClient = null, PostgresDataSourceCache? dataSources = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var std = new StdActivities(httpClient, dataSources);
        try
        {
            registry.Register(Echo, EchoActivity.ExecuteAsync);
            registry.Register(HttpRequest, std.Http.ExecuteAsync);
            registry.Register(PostgresQuery, std.Postgres.QueryAsync);
            registry.Register(PostgresTransaction, std.Postgres.TransactionAsync);
            return std;
        }
        catch
        {
            std.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _ownedHttpClient?.Dispose();
        if (_ownedDataSources is not null)
        {
            await _ownedDataSources.DisposeAsync().ConfigureAwait(false);
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
