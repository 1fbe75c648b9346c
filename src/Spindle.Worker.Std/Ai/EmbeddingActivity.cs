using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Spindle.Core.Costs;

namespace Spindle.Worker.Std.Ai;

/// <summary>
/// <c>embedding</c>: vectors for <c>input</c> (a string or a list of strings) from <c>model</c> (openai, google or
/// ollama; a list is tried in order), sent <c>batch_size</c> (500) inputs per request. Output <c>{"result":
/// {"embeddings": [[…]], "embeddings_file": null, "embedding_count", "model", "provider", "usage", "dimensions",
/// "cost_usd", "model_id"}}</c>. Vectors are always returned inline (Spindle writes no embeddings file).
/// </summary>
public sealed class EmbeddingActivity
{
    /// <summary>Inputs per provider request unless <c>batch_size</c> says otherwise.</summary>
    public const int DefaultBatchSize = 500;

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
        IReadOnlyList<ModelTarget> models = _providers.ReadModels(parameters, allowList: true);
        foreach (ModelTarget model in models)
        {
            if (!model.Provider.SupportsEmbeddings)
            {
                throw StdParameters.Invalid($"model '{model.Id}': {model.Provider.Name} has no embeddings API (use openai, google or ollama)");
            }
        }

        IReadOnlyList<string> inputs = ReadInputs(parameters);
        int batchSize = ReadBatchSize(parameters);
        int? dimensions = ReadDimensions(parameters);
        TimeSpan? timeout = StdParameters.OptionalPositiveNumber(parameters, "timeout_seconds") is { } seconds ? TimeSpan.FromSeconds(seconds) : null;
        var ledger = new AiCallLedger();
        var priceLookup = new ModelPriceLookup(_settings.Catalog, BudgetParameters.ReadModelPricing(parameters[BudgetParameters.ModelPricing]));
        long inputEstimate = inputs.Sum(i => BudgetEstimator.TokensForCharacters(i.Length));
        ActivityFailureException? lastFailure = null;

        // A list is a fallback order for the whole input: every vector of one answer comes from one model, since
        // vectors of different models are not comparable.
        foreach (ModelTarget target in models)
        {
            ProviderEndpoint endpoint = _providers.Endpoint(target.Provider, parameters);
            if (target.Provider.RequiresApiKey && endpoint.ApiKey is null)
            {
                string reason = $"no API key configured for {target.Provider.Name} (set {LlmProviders.KeyVariable(target.Provider)})";
                ledger.RecordNotConfigured(target, reason);
                lastFailure ??= ledger.Failure(AiErrorCodes.ProviderNotConfigured, reason, retryable: false);
                continue;
            }

            ModelPrices? prices = priceLookup.Find(target.Id);
            if (new BudgetGuard(parameters).Refusal(target, prices, inputEstimate, outputTokens: 0, spentUsd: ledger.SpentUsd, out CostEstimate? estimate, out decimal? remaining) is { } refusal)
            {
                _logger.BudgetExceeded(refusal);
                ledger.RecordBudgetSkip(target, estimate, remaining, refusal);
                lastFailure = ledger.Failure(AiErrorCodes.BudgetExceeded, $"Budget exceeded before execution: {refusal}", retryable: false);
                continue;
            }

            var vectors = new List<JsonArray>(inputs.Count);
            long inputTokens = 0;
            bool estimated = false;
            try
            {
                for (int offset = 0; offset < inputs.Count; offset += batchSize)
                {
                    List<string> chunk = [.. inputs.Skip(offset).Take(batchSize)];
                    (JsonNode body, _) = await _caller.SendAsync(
                        () => target.Provider.CreateEmbeddingRequest(endpoint, target.Name, chunk, dimensions),
                        target.Provider,
                        target.Id,
                        endpoint.ApiKey,
                        timeout,
                        cancellationToken).ConfigureAwait(false);
                    EmbeddingBatch batch = target.Provider.ReadEmbeddingResponse(body, chunk);
                    vectors.AddRange(batch.Vectors);
                    inputTokens += batch.InputTokens;
                    estimated |= batch.UsageEstimated;
                }
            }
            catch (ProviderCallException ex)
            {
                if (inputTokens > 0)
                {
                    ledger.RecordCall(target, new TokenUsage(inputTokens, 0), prices);
                }

                ledger.RecordFailure(target, ex);
                _logger.ModelFailed(target.Id, ex.Tries, ex.Retryable ? "trying the next model" : "not falling back", ex.Message);
                lastFailure = ledger.Failure(AiErrorCodes.ProviderError, ex.Message, ex.Retryable, ex);
                if (!ex.Retryable)
                {
                    throw lastFailure;
                }

                continue;
            }

            var usage = new TokenUsage(inputTokens, 0);
            decimal? cost = ledger.RecordCall(target, usage, prices);
            _logger.ModelAnswered(target.Id, usage.InputTokens, 0, cost is { } c ? AiCallLedger.MoneyText(c) : "unknown");
            var result = new JsonObject
            {
                ["embeddings"] = new JsonArray([.. vectors]),
                ["embeddings_file"] = null,
                ["embedding_count"] = vectors.Count,
                ["model"] = target.Name,
                ["provider"] = target.Provider.Name,
                ["usage"] = new JsonObject
                {
                    ["prompt_tokens"] = usage.InputTokens,
                    ["total_tokens"] = usage.InputTokens,
                    ["estimated"] = estimated,
                },
                ["dimensions"] = vectors.Count > 0 ? vectors[0].Count : 0,
                ["cost_usd"] = AiCallLedger.Money(ledger.SpentUsd),
                ["model_id"] = target.Id,
            };
            return new ActivityResult(new JsonObject { ["result"] = result }, costUsd: null, usage: ledger.Lines);
        }

        throw lastFailure!;
    }

    private static int ReadBatchSize(JsonObject parameters)
    {
        if (parameters["batch_size"] is null)
        {
            return DefaultBatchSize;
        }

        return JsonNumbers.TryGetInt64(parameters["batch_size"], out long value) && value is > 0 and <= 100_000
            ? (int)value
            : throw StdParameters.Invalid("parameter 'batch_size' must be a positive integer");
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
