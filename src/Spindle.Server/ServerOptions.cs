namespace Spindle.Server;

/// <summary>Settings of one <c>spindle serve</c> process.</summary>
public sealed class ServerOptions
{
    /// <summary>Address to bind; loopback unless the operator opens it up.</summary>
    public string Bind { get; set; } = "127.0.0.1";

    /// <summary>Port to listen on; 0 picks a free one (tests).</summary>
    public int Port { get; set; } = 8080;

    /// <summary>Directory for the SQLite database and other server data.</summary>
    public string DataDir { get; set; } = ".spindle";

    /// <summary>
    /// PostgreSQL to use instead of the SQLite file (<c>postgres://user:password@host:5432/database</c> or an Npgsql
    /// connection string). Several servers may share one database.
    /// </summary>
    public string? DatabaseUrl { get; set; }

    /// <summary>Run only the API and orchestrator; activities are left to separate worker processes.</summary>
    public bool NoWorker { get; set; }

    /// <summary><c>SECRET</c> for templates; null (the default) reads SPINDLE_SECRET_* / KRUXIAFLOW_SECRET_* from the environment.</summary>
    public IReadOnlyDictionary<string, string>? Secrets { get; set; }

    /// <summary>Accept requests without tokens. Loopback only.</summary>
    public bool InsecureDev { get; set; }

    /// <summary>PEM file of the RSA key that signs tokens; generated on first start. Servers sharing a database share it.</summary>
    public string? SigningKeyPath { get; set; }

    /// <summary>Origins allowed to call the API from a browser; none by default (CORS closed).</summary>
    public IReadOnlyList<string> CorsOrigins { get; set; } = [];

    public string EffectiveSigningKeyPath => SigningKeyPath ?? Path.Combine(DataDir, "signing-key.pem");

    public int DefaultActivityTimeoutSeconds { get; set; } = 60;

    /// <summary>
    /// Deadline in seconds for workflows without <c>settings.timeout</c>; 0 (the default) means none, as in Kruxia Flow.
    /// </summary>
    public int DefaultWorkflowTimeoutSeconds { get; set; }

    public int DefaultMaxRetries { get; set; } = 3;

    /// <summary>Steps one activity's templates may take (each expression, loop iteration, call, list item, 64
    /// characters of text); they run inside the write transaction.</summary>
    public long TemplateMaxSteps { get; set; } = Core.Templates.TemplateLimits.Default.MaxSteps;

    /// <summary>Largest string, in characters, a template may build (its rendered output included).</summary>
    public int TemplateMaxOutputSize { get; set; } = Core.Templates.TemplateLimits.Default.MaxOutputSize;

    /// <summary>The engine's clock (submission, leases, delays, deadlines); tests pass a fake one.</summary>
    public TimeProvider Clock { get; set; } = TimeProvider.System;

    /// <summary>
    /// Concurrency of the built-in std worker by default. Its activities wait on I/O (HTTP, SQL, model APIs), and a
    /// fan-out can only be leased with the result that unblocks it as far as free slots reach, so slots are cheap here.
    /// With 64, ten Parallel-10 runs at once (100 branches) ran out of slots and most branches waited for a poll; with
    /// 256 every branch was leased with its parent's result (docs/performance-notes.md). Temporal's default is 1,000.
    /// </summary>
    public const int DefaultStdWorkerConcurrency = 256;

    /// <summary>Concurrency of the built-in std worker.</summary>
    public int StdWorkerConcurrency { get; set; } = DefaultStdWorkerConcurrency;

    /// <summary>Local py-std worker processes started (and restarted) by the server; 0 for none.</summary>
    public int PythonWorkers { get; set; }

    /// <summary>The interpreter for py-std workers (Debian's, which has the data packages installed by apt).</summary>
    public string PythonExecutable { get; set; } = Environment.GetEnvironmentVariable("SPINDLE_PYTHON") ?? "/usr/bin/python3";

    /// <summary>Directory put on PYTHONPATH so that <c>python -m spindle.py_std</c> finds the SDK; null finds the repository's.</summary>
    public string? PythonSdkPath { get; set; } = Environment.GetEnvironmentVariable("SPINDLE_PYTHON_SDK");

    /// <summary>How often time-driven work runs (expired leases, signal timeouts, deadlines).</summary>
    public TimeSpan TimerInterval { get; set; } = TimeSpan.FromSeconds(1);

    public long MaxRequestBodyBytes { get; set; } = 50L * 1024 * 1024;

    /// <summary>Open stream connections (SSE and WebSocket) one client may hold on this server; beyond it 429.</summary>
    public int MaxStreamConnectionsPerClient { get; set; } =
        int.TryParse(Environment.GetEnvironmentVariable("SPINDLE_STREAM_CONNECTIONS_PER_CLIENT"), out var max) && max > 0 ? max : 100;

    public string DatabasePath => Path.Combine(DataDir, "spindle.db");
}
