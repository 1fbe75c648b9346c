using Spindle.Core.Costs;

namespace Spindle.Worker.Std.Ai;

/// <summary>
/// Configuration of the AI activities: provider API keys and base URLs, the model catalog, and the retry policy of
/// one model call. Keys come from the worker's configuration only; workflow definitions reference secrets with
/// <c>{{SECRET.…}}</c> templates instead of holding keys in clear text.
/// </summary>
public sealed class AiSettings
{
    public const string OpenAi = "openai";
    public const string Anthropic = "anthropic";
    public const string Google = "google";
    public const string Ollama = "ollama";

    private readonly Dictionary<string, string?> _apiKeys = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, Uri> _baseUrls = new(StringComparer.OrdinalIgnoreCase)
    {
        [OpenAi] = new("https://api.openai.com/"),
        [Anthropic] = new("https://api.anthropic.com/"),
        [Google] = new("https://generativelanguage.googleapis.com/"),
        [Ollama] = new("http://127.0.0.1:11434/"),
    };

    /// <summary>The providers the activities can call.</summary>
    public static IReadOnlyList<string> SupportedProviders { get; } = [OpenAi, Anthropic, Google, Ollama];

    /// <summary>Prices and model limits; <see cref="ModelCatalog.Shipped"/> unless configured.</summary>
    public ModelCatalog Catalog { get; set; } = ModelCatalog.Shipped;

    /// <summary>Value of the <c>anthropic-version</c> header.</summary>
    public string AnthropicVersion { get; set; } = "2023-06-01";

    /// <summary>Tries of one model before falling back (a 429, a 5xx or a network error is tried again once by default).</summary>
    public int MaxTriesPerModel { get; set; } = 2;

    /// <summary>The wait between tries of the same model, with jitter.</summary>
    public Backoff RetryBackoff { get; set; } = new(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(4));

    /// <summary>The longest <c>Retry-After</c> honoured; a longer one moves on to the next model at once.</summary>
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Reads the process environment; see <see cref="FromEnvironment(Func{string, string?})"/>.
    /// </summary>
    public static AiSettings FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    /// <summary>
    /// Reads <c>SPINDLE_{OPENAI,ANTHROPIC,GOOGLE}_API_KEY</c> (else <c>OPENAI_API_KEY</c>, <c>ANTHROPIC_API_KEY</c>,
    /// <c>GOOGLE_API_KEY</c> or <c>GEMINI_API_KEY</c>), <c>SPINDLE_{OPENAI,ANTHROPIC,GOOGLE,OLLAMA}_BASE_URL</c>
    /// (else <c>OPENAI_BASE_URL</c>, <c>ANTHROPIC_BASE_URL</c>, <c>OLLAMA_HOST</c>) and <c>SPINDLE_MODEL_CATALOG</c>
    /// (an override file merged over the shipped catalog).
    /// </summary>
    public static AiSettings FromEnvironment(Func<string, string?> getVariable)
    {
        ArgumentNullException.ThrowIfNull(getVariable);
        string? Read(params string[] names) =>
            names.Select(getVariable).FirstOrDefault(v => !string.IsNullOrWhiteSpace(v))?.Trim();

        var settings = new AiSettings();
        settings.SetApiKey(OpenAi, Read("SPINDLE_OPENAI_API_KEY", "OPENAI_API_KEY"));
        settings.SetApiKey(Anthropic, Read("SPINDLE_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"));
        settings.SetApiKey(Google, Read("SPINDLE_GOOGLE_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY"));
        settings.SetApiKey(Ollama, Read("SPINDLE_OLLAMA_API_KEY"));
        SetUrl(OpenAi, Read("SPINDLE_OPENAI_BASE_URL", "OPENAI_BASE_URL"));
        SetUrl(Anthropic, Read("SPINDLE_ANTHROPIC_BASE_URL", "ANTHROPIC_BASE_URL"));
        SetUrl(Google, Read("SPINDLE_GOOGLE_BASE_URL"));
        SetUrl(Ollama, Read("SPINDLE_OLLAMA_BASE_URL", "OLLAMA_HOST"));
        if (Read(ModelCatalog.OverrideEnvironmentVariable) is { } catalogPath)
        {
            settings.Catalog = ModelCatalog.Load(catalogPath);
        }

        return settings;

        void SetUrl(string provider, string? text)
        {
            if (text is not null)
            {
                settings.SetBaseUrl(provider, ParseBaseUrl(text, provider));
            }
        }
    }

    /// <summary>The configured key of <paramref name="provider"/>, or null.</summary>
    public string? GetApiKey(string provider) => _apiKeys.GetValueOrDefault(provider);

    public AiSettings SetApiKey(string provider, string? apiKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(provider);
        _apiKeys[provider] = string.IsNullOrWhiteSpace(apiKey) ? null : apiKey.Trim();
        return this;
    }

    /// <summary>The base URL of <paramref name="provider"/>, ending with '/'.</summary>
    public Uri GetBaseUrl(string provider) =>
        _baseUrls.TryGetValue(provider, out Uri? url) ? url : throw new ArgumentException($"Unknown provider '{provider}'.", nameof(provider));

    public AiSettings SetBaseUrl(string provider, Uri baseUrl)
    {
        ArgumentException.ThrowIfNullOrEmpty(provider);
        ArgumentNullException.ThrowIfNull(baseUrl);
        string text = baseUrl.AbsoluteUri;
        _baseUrls[provider] = new Uri(text.EndsWith('/') ? text : text + "/");
        return this;
    }

    /// <summary>
    /// Reads a base URL; a bare <c>host:port</c> (the usual <c>OLLAMA_HOST</c> form) gets <c>http://</c>, and an
    /// unspecified bind address (<c>0.0.0.0</c>) is reached on loopback.
    /// </summary>
    public static Uri ParseBaseUrl(string text, string provider)
    {
        ArgumentNullException.ThrowIfNull(text);
        string value = text.Contains("://", StringComparison.Ordinal) ? text : "http://" + text;
        if (!Uri.TryCreate(value, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new FormatException($"The base URL of {provider} is not an http(s) URL: '{text}'");
        }

        if (uri.Host is "0.0.0.0" or "[::]")
        {
            uri = new UriBuilder(uri) { Host = "127.0.0.1" }.Uri;
        }

        return uri;
    }
}
