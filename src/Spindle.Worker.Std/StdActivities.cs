using Microsoft.Extensions.Logging;
using Spindle.Worker.Std.Ai;
using Spindle.Worker.Std.Email;

namespace Spindle.Worker.Std;

/// <summary>
/// The built-in activities of the <c>std</c> worker: <c>echo</c>, <c>http_request</c>, <c>postgres_query</c>,
/// <c>postgres_transaction</c>, <c>llm_prompt</c>, <c>embedding</c> and <c>email_send</c>. <see cref="Register"/>
/// returns the shared resources (HTTP client, connection pools), which the caller disposes after the worker has stopped.
/// </summary>
public sealed class StdActivities : IAsyncDisposable, IDisposable
{
    public const string Echo = "echo";
    public const string HttpRequest = "http_request";
    public const string PostgresQuery = "postgres_query";
    public const string PostgresTransaction = "postgres_transaction";
    public const string LlmPrompt = "llm_prompt";
    public const string Embedding = "embedding";
    public const string EmailSend = "email_send";

    private readonly HttpClient? _ownedHttpClient;
    private readonly PostgresDataSourceCache? _ownedDataSources;
    private readonly EnvironmentApiFileSource _environmentFiles;
    private readonly HttpClient _http;

    private StdActivities(HttpClient? httpClient, PostgresDataSourceCache? dataSources, AiSettings? aiSettings, SmtpSettings? smtpSettings, ILoggerFactory? loggerFactory)
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

        _http = httpClient ?? _ownedHttpClient!;
        AiSettings ai = aiSettings ?? AiSettings.FromEnvironment();
        Llm = new LlmPromptActivity(_http, ai, loggerFactory?.CreateLogger<LlmPromptActivity>());
        Embeddings = new EmbeddingActivity(_http, ai, loggerFactory?.CreateLogger<EmbeddingActivity>());
        _environmentFiles = new EnvironmentApiFileSource(_http);
        Email = new EmailSendActivity(smtpSettings ?? SmtpSettings.FromEnvironment(), _environmentFiles, loggerFactory?.CreateLogger<EmailSendActivity>());
    }

    /// <summary>All std activity names.</summary>
    public static IReadOnlyList<string> Names { get; } = [Echo, HttpRequest, PostgresQuery, PostgresTransaction, LlmPrompt, Embedding, EmailSend];

    public HttpRequestActivity Http { get; }

    public PostgresActivities Postgres { get; }

    public LlmPromptActivity Llm { get; }

    public EmbeddingActivity Embeddings { get; }

    public EmailSendActivity Email { get; }

    /// <summary>
    /// Reads workflow-file attachments of <c>email_send</c> through <paramref name="apiClient"/> (normally the
    /// worker's own). Without it they are read through a client built from the environment (<c>SPINDLE_API_URL</c>).
    /// </summary>
    public void UseApiClient(SpindleApiClient apiClient)
    {
        ArgumentNullException.ThrowIfNull(apiClient);
        Email.Files = new SpindleApiFileSource(apiClient, _http);
    }

    /// <summary>
    /// Registers the std activities in <paramref name="registry"/>. A given <paramref name="httpClient"/> or
    /// <paramref name="dataSources"/> is used as is and not disposed; missing ones are created and owned. Missing
    /// <paramref name="aiSettings"/> and <paramref name="smtpSettings"/> are read from the environment
    /// (<see cref="AiSettings.FromEnvironment()"/>, <see cref="SmtpSettings.FromEnvironment()"/>).
    /// </summary>
    public static StdActivities Register(
        ActivityRegistry registry,
        HttpClient? httpClient = null,
        PostgresDataSourceCache? dataSources = null,
        AiSettings? aiSettings = null,
        SmtpSettings? smtpSettings = null,
        ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var std = new StdActivities(httpClient, dataSources, aiSettings, smtpSettings, loggerFactory);
        try
        {
            registry.Register(Echo, EchoActivity.ExecuteAsync);
            registry.Register(HttpRequest, std.Http.ExecuteAsync);
            registry.Register(PostgresQuery, std.Postgres.QueryAsync);
            registry.Register(PostgresTransaction, std.Postgres.TransactionAsync);
            registry.Register(LlmPrompt, std.Llm.ExecuteAsync);
            registry.Register(Embedding, std.Embeddings.ExecuteAsync);
            registry.Register(EmailSend, std.Email.ExecuteAsync);
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
        _environmentFiles.Dispose();
        _ownedHttpClient?.Dispose();
        if (_ownedDataSources is not null)
        {
            await _ownedDataSources.DisposeAsync().ConfigureAwait(false);
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
