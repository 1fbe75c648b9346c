using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Spindle.Core.Costs;

namespace Spindle.Worker.Std.Ai;

/// <summary>
/// <c>embedding</c>: vectors for <c>input</c> (a string or a list of strings) from <c>model</c> (openai, google or
/// ollama). Output <c>{"embeddings": [[…]], "model", "dimensions", "usage", "cost_usd"}</c>. There is no fallback
/// list: vectors of different models are not comparable.
/// </summary>
public sealed class EmbeddingActivity
{
    private readonly AiSettings _settings;
    private readonly LlmProviders _providers;
    private readonly ProviderCaller _caller;
    private readonly ILogger _logger;

    public EmbeddingActivity(HttpClient httpClient, AiSettings settings, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings;
        _logger = logger ?? NullLogger.Instance;
        _providers = new LlmProviders(settings);
        _caller = new ProviderCaller(httpClient, settings, _logger, timeProvider ?? TimeProvider.System);
    }

    public async Task<ActivityResult> ExecuteAsync(ActivityContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        JsonObject parameters = context.Parameters;
        ModelTarget target = _providers.ReadModels(parameters, allowList: false)[0];
        if (!target.Provider.SupportsEmbeddings)
        {
            throw StdParameters.Invalid($"model '{target.Id}': {target.Provider.Name} has no embeddings API (use openai, google or ollama)");
        }

        IReadOnlyList<string> inputs = ReadInputs(parameters);
        int? dimensions = ReadDimensions(parameters);
        TimeSpan? timeout = StdParameters.OptionalPositiveNumber(parameters, "timeout_seconds") is { } seconds ? TimeSpan.FromSeconds(seconds) : null;
        ProviderEndpoint endpoint = _providers.Endpoint(target.Provider, parameters);
        var ledger = new AiCallLedger();
        if (target.Provider.RequiresApiKey && endpoint.ApiKey is null)
        {
            throw ledger.Failure(AiErrorCodes.ProviderNotConfigured, $"no API key configured for {target.Provider.Name} (set {LlmProviders.KeyVariable(target.Provider)})", retryable: false);
        }

        ModelPrices? prices = new ModelPriceLookup(_settings.Catalog, BudgetParameters.ReadModelPricing(parameters[BudgetParameters.ModelPricing])).Find(target.Id);
        long inputEstimate = inputs.Sum(i => BudgetEstimator.TokensForCharacters(i.Length));
        if (new BudgetGuard(parameters).Refusal(target, prices, inputEstimate, outputTokens: 0, spentUsd: 0m, out _, out _) is { } refusal)
        {
            _logger.BudgetExceeded(refusal);
            throw ledger.Failure(AiErrorCodes.BudgetExceeded, $"Budget exceeded before execution: {refusal}", retryable: false);
        }

        EmbeddingBatch batch;
        try
        {
            (JsonNode body, _) = await _caller.SendAsync(
                () => target.Provider.CreateEmbeddingRequest(endpoint, target.Name, inputs, dimensions),
                target.Provider,
                target.Id,
                endpoint.ApiKey,
                timeout,
                cancellationToken).ConfigureAwait(false);
            batch = target.Provider.ReadEmbeddingResponse(body, inputs);
        }
        catch (ProviderCallException ex)
        {
            _logger.ModelFailed(target.Id, ex.Tries, "no fallback for embeddings", ex.Message);
            throw ledger.Failure(AiErrorCodes.ProviderError, ex.Message, ex.Retryable, ex);
        }

        var usage = new TokenUsage(batch.InputTokens, 0);
        decimal? cost = ledger.RecordCall(target, usage, prices);
        _logger.ModelAnswered(target.Id, usage.InputTokens, 0, cost is { } c ? AiCallLedger.MoneyText(c) : "unknown");
        var output = new JsonObject
        {
            ["embeddings"] = new JsonArray([.. batch.Vectors]),
            ["model"] = target.Id,
            ["dimensions"] = batch.Vectors.Count > 0 ? batch.Vectors[0].Count : 0,
            ["usage"] = new JsonObject
            {
                ["input_tokens"] = usage.InputTokens,
                ["total_tokens"] = usage.InputTokens,
                ["estimated"] = batch.UsageEstimated,
            },
            ["cost_usd"] = AiCallLedger.Money(ledger.SpentUsd),
        };
        return new ActivityResult(output, costUsd: null, usage: ledger.Lines);
    }

    private static List<string> ReadInputs(JsonObject parameters)
    {
        var inputs = new List<string>();
        switch (parameters["input"])
        {
            case JsonArray list:
                for (int i = 0; i < list.Count; i++)
                {
                    inputs.Add(list[i] is JsonValue value && value.TryGetValue(out string? text)
                        ? text
                        : throw StdParameters.Invalid($"input[{i}] must be a string"));
                }

                break;
            case not null:
                inputs.Add(StdParameters.RequireString(parameters, "input"));
                break;
        }

        return inputs.Count > 0
            ? inputs
            : throw StdParameters.Invalid("parameter 'input' (a string or a non-empty list of strings) is required");
    }

    private static int? ReadDimensions(JsonObject parameters)
    {
        if (parameters["dimensions"] is null)
        {
            return null;
        }

        return JsonNumbers.TryGetInt64(parameters["dimensions"], out long value) && value is > 0 and <= 65536
            ? (int)value
            : throw StdParameters.Invalid("parameter 'dimensions' must be a positive integer");
    }
}
