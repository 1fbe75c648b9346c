using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Spindle.Core.Costs;

namespace Spindle.Worker.Std.Ai;

/// <summary>
/// <c>llm_prompt</c>: one completion from the first model of <c>models</c> (or <c>model</c>) that fits the budget
/// and answers. Output <c>{"result": {"content", "model", "provider", "finish_reason", "cost_usd",
/// "budget_skipped_models", "usage", "response", "model_id", "fallback_attempts"}}</c>; the cost is reported as one
/// usage line per call made. With <c>streaming: true</c> the provider's streaming answer is read and each piece of
/// text is published to the activity's live stream as it arrives; the result is the same. See the Std/Ai README.
/// </summary>
public sealed class LlmPromptActivity
{
    private readonly AiSettings _settings;
    private readonly LlmProviders _providers;
    private readonly ProviderCaller _caller;
    private readonly ILogger _logger;

    public LlmPromptActivity(HttpClient httpClient, AiSettings settings, ILogger? logger = null, TimeProvider? timeProvider = null)
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
        ChatRequest chat = LlmPromptParameters.ReadChat(parameters);
        TimeSpan? timeout = StdParameters.OptionalPositiveNumber(parameters, "timeout_seconds") is { } seconds ? TimeSpan.FromSeconds(seconds) : null;
        var prices = new ModelPriceLookup(_settings.Catalog, BudgetParameters.ReadModelPricing(parameters[BudgetParameters.ModelPricing]));
        var budget = new BudgetGuard(parameters);
        var ledger = new AiCallLedger();
        var live = new LiveAnswer(context, _logger, cancellationToken);

        long inputEstimate = BudgetEstimator.TokensForCharacters(chat.Characters);
        long outputEstimate = BudgetEstimator.OutputTokens(chat.MaxTokens);

        foreach (ModelTarget target in models)
        {
            ProviderEndpoint endpoint = _providers.Endpoint(target.Provider, parameters);
            if (target.Provider.RequiresApiKey && endpoint.ApiKey is null)
            {
                string reason = $"no API key configured for {target.Provider.Name} (set {LlmProviders.KeyVariable(target.Provider)})";
                _logger.ModelSkipped(target.Id, reason);
                ledger.RecordNotConfigured(target, reason);
                continue;
            }

            ModelPrices? modelPrices = prices.Find(target.Id);
            if (budget.Refusal(target, modelPrices, inputEstimate, outputEstimate, ledger.SpentUsd, out CostEstimate? estimate, out decimal? remaining) is { } refusal)
            {
                _logger.ModelSkipped(target.Id, refusal);
                ledger.RecordBudgetSkip(target, estimate, remaining, refusal);
                continue;
            }

            ChatCompletion completion;
            try
            {
                if (chat.Stream)
                {
                    (completion, _) = await _caller.StreamAsync(
                        () => target.Provider.CreateChatRequest(endpoint, target.Name, chat),
                        target.Provider,
                        target.Id,
                        endpoint.ApiKey,
                        timeout,
                        live.PublishAsync,
                        cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    (JsonNode body, _) = await _caller.SendAsync(
                        () => target.Provider.CreateChatRequest(endpoint, target.Name, chat),
                        target.Provider,
                        target.Id,
                        endpoint.ApiKey,
                        timeout,
                        cancellationToken).ConfigureAwait(false);
                    completion = target.Provider.ReadChatResponse(body);
                }
            }
            catch (ProviderCallException ex)
            {
                ledger.RecordFailure(target, ex);
                if (ex.MidStream)
                {
                    // Subscribers already hold part of this model's answer: another model's would not continue it.
                    if (ex.PartialUsage is { TotalTokens: > 0 } partial)
                    {
                        ledger.RecordCall(target, partial, modelPrices);
                    }

                    _logger.ModelFailed(target.Id, ex.Tries, "not falling back after part of the answer was streamed", ex.Message);
                    throw ledger.Failure(AiErrorCodes.StreamError, $"{ex.Message} (the stream broke off after {live.Characters} characters of the answer)", ex.Retryable, ex);
                }

                if (!ex.Retryable)
                {
                    // A rejected request (bad parameters, auth, content) is rejected by the next model too, or hides a
                    // configuration error that falling back would mask: stop here.
                    _logger.ModelFailed(target.Id, ex.Tries, "not falling back", ex.Message);
                    throw ledger.Failure(AiErrorCodes.ProviderError, ex.Message, retryable: false, ex);
                }

                _logger.ModelFailed(target.Id, ex.Tries, "trying the next model", ex.Message);
                continue;
            }

            decimal? cost = ledger.RecordCall(target, completion.Usage, modelPrices);
            _logger.ModelAnswered(target.Id, completion.Usage.PromptTokens, completion.Usage.OutputTokens, cost is { } c ? AiCallLedger.MoneyText(c) : "unknown");
            return Answer(target, chat, completion, ledger);
        }

        throw Exhausted(ledger, models.Count);
    }

    private static ActivityResult Answer(ModelTarget target, ChatRequest chat, ChatCompletion completion, AiCallLedger ledger)
    {
        JsonNode? response = JsonValue.Create(completion.Text);
        if (chat.Json)
        {
            if (!JsonAnswer.TryParse(completion.Text, out JsonNode? parsed, out string? error))
            {
                throw ledger.Failure(AiErrorCodes.InvalidJson, $"{target.Id} did not answer with JSON in JSON mode: {error}", retryable: true);
            }

            response = parsed;
        }

        // The reference engine's shape under `result`; `response` (the parsed value in JSON mode), `model_id` and
        // `fallback_attempts` are Spindle's additions beside it.
        var result = new JsonObject
        {
            ["content"] = completion.Text,
            ["model"] = target.Name,
            ["provider"] = target.Provider.Name,
            ["finish_reason"] = completion.FinishReason,
            ["cost_usd"] = AiCallLedger.Money(ledger.SpentUsd),
            ["budget_skipped_models"] = ledger.BudgetSkippedModels(),
            ["usage"] = AiCallLedger.ReferenceUsageJson(completion.Usage),
            ["response"] = response,
            ["model_id"] = target.Id,
            ["fallback_attempts"] = ledger.FallbackAttempts,
        };
        var output = new JsonObject { ["result"] = result };

        // The usage lines carry the cost (priced per call), so no separate cost_usd is reported.
        return new ActivityResult(output, costUsd: null, usage: ledger.Lines);
    }

    private ActivityFailureException Exhausted(AiCallLedger ledger, int modelCount)
    {
        if (ledger.LastRetryableFailure is { } last)
        {
            string message = modelCount == 1 ? last.Message : $"all {modelCount} models failed or were skipped; last error: {last.Message}";
            return ledger.Failure(AiErrorCodes.ProviderError, message, retryable: true, last);
        }

        if (ledger.AnyBudgetSkip)
        {
            string reasons = string.Join("; ", ledger.FallbackAttempts.Select(a => a?["error"]?.ToString()));
            _logger.BudgetExceeded(reasons);
            return ledger.Failure(AiErrorCodes.BudgetExceeded, $"Budget exceeded before execution: {reasons}", retryable: false);
        }

        string notConfigured = string.Join("; ", ledger.FallbackAttempts.Select(a => a?["error"]?.ToString()));
        return ledger.Failure(AiErrorCodes.ProviderNotConfigured, $"No listed model can be called: {notConfigured}", retryable: false);
    }
}
