using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace Spindle.Worker.Std.Ai;

/// <summary>
/// Sends one provider request, trying it again on 429, 5xx, network errors and timeouts (up to
/// <see cref="AiSettings.MaxTriesPerModel"/> tries, with jittered backoff) and never on other 4xx answers. Errors
/// come out as <see cref="ProviderCallException"/> with the provider's message and the API key blanked out.
/// </summary>
internal sealed class ProviderCaller(HttpClient http, AiSettings settings, ILogger logger, TimeProvider time)
{
    private const int ExcerptLength = 500;

    /// <summary>The JSON body of the successful answer and the number of requests sent.</summary>
    public Task<(JsonNode Body, int Tries)> SendAsync(
        Func<HttpRequestMessage> createRequest,
        LlmProvider provider,
        string modelId,
        string? apiKey,
        TimeSpan? timeout,
        CancellationToken cancellationToken) =>
        WithRetriesAsync(() => SendOnceAsync(createRequest, provider, modelId, apiKey, timeout, cancellationToken), modelId, cancellationToken);

    /// <summary>
    /// Sends a streaming request and hands each piece of answer text to <paramref name="onText"/> as it arrives; returns
    /// the whole answer. Tried again like <see cref="SendAsync"/> only while no text has been handed on; a stream that
    /// breaks off later throws with <see cref="ProviderCallException.MidStream"/> set.
    /// </summary>
    public Task<(ChatCompletion Completion, int Tries)> StreamAsync(
        Func<HttpRequestMessage> createRequest,
        LlmProvider provider,
        string modelId,
        string? apiKey,
        TimeSpan? timeout,
        Func<string, Task> onText,
        CancellationToken cancellationToken) =>
        WithRetriesAsync(() => StreamOnceAsync(createRequest, provider, modelId, apiKey, timeout, onText, cancellationToken), modelId, cancellationToken);

    private async Task<(T Result, int Tries)> WithRetriesAsync<T>(Func<Task<T>> once, string modelId, CancellationToken cancellationToken)
    {
        int maxTries = Math.Max(1, settings.MaxTriesPerModel);
        for (int tries = 1; ; tries++)
        {
            try
            {
                return (await once().ConfigureAwait(false), tries);
            }
            catch (ProviderCallException ex)
            {
                ex.Tries = tries;
                if (!ex.Retryable || ex.MidStream || cancellationToken.IsCancellationRequested)
                {
                    throw;
                }

                TimeSpan delay = settings.RetryBackoff.NextDelay(tries - 1);
                if (ex.RetryAfter is { } retryAfter)
                {
                    // A provider that asks for a longer pause than we are willing to wait is better left for the next model.
                    if (retryAfter > settings.MaxRetryAfter)
                    {
                        throw;
                    }

                    delay = retryAfter > delay ? retryAfter : delay;
                }

                if (tries >= maxTries)
                {
                    throw;
                }

                logger.ProviderRetrying(modelId, tries, ex.StatusCode, delay.TotalMilliseconds, ex.Message);
                await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<JsonNode> SendOnceAsync(
        Func<HttpRequestMessage> createRequest,
        LlmProvider provider,
        string modelId,
        string? apiKey,
        TimeSpan? timeout,
        CancellationToken cancellationToken)
    {
        using HttpRequestMessage request = createRequest();
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout is { } limit)
        {
            timeoutCts.CancelAfter(limit);
        }

        try
        {
            using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeoutCts.Token).ConfigureAwait(false);
            string text = await response.Content.ReadAsStringAsync(timeoutCts.Token).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            JsonNode? body = TryParse(text);
            if (response.IsSuccessStatusCode)
            {
                return body ?? throw new ProviderCallException($"{modelId}: {provider.Name} answered {status} with a body that is not JSON: {Redact(Excerpt(text), apiKey)}", status, retryable: true);
            }

            throw Rejected(response, body, text, provider, modelId, apiKey);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && timeoutCts.IsCancellationRequested)
        {
            throw new ProviderCallException($"{modelId}: {provider.Name} did not answer within {timeout?.TotalSeconds:0.###} s", statusCode: null, retryable: true, ex);
        }
        catch (HttpRequestException ex)
        {
            throw new ProviderCallException($"{modelId}: {provider.Name} could not be reached: {Redact(ex.Message, apiKey)}", statusCode: null, retryable: true, ex);
        }
        catch (IOException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ProviderCallException($"{modelId}: {provider.Name} connection failed: {Redact(ex.Message, apiKey)}", statusCode: null, retryable: true, ex);
        }
    }

    private async Task<ChatCompletion> StreamOnceAsync(
        Func<HttpRequestMessage> createRequest,
        LlmProvider provider,
        string modelId,
        string? apiKey,
        TimeSpan? timeout,
        Func<string, Task> onText,
        CancellationToken cancellationToken)
    {
        using HttpRequestMessage request = createRequest();
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout is { } limit)
        {
            timeoutCts.CancelAfter(limit);
        }

        ChatStreamDecoder decoder = provider.CreateChatStreamDecoder();
        try
        {
            try
            {
                using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeoutCts.Token).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    string text = await response.Content.ReadAsStringAsync(timeoutCts.Token).ConfigureAwait(false);
                    throw Rejected(response, TryParse(text), text, provider, modelId, apiKey);
                }

                Stream body = await response.Content.ReadAsStreamAsync(timeoutCts.Token).ConfigureAwait(false);
                await foreach (string piece in decoder.ReadAsync(body, timeoutCts.Token).ConfigureAwait(false))
                {
                    await onText(piece).ConfigureAwait(false);
                }

                return decoder.Complete();
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && timeoutCts.IsCancellationRequested)
            {
                throw new ProviderCallException($"{modelId}: {provider.Name} did not finish answering within {timeout?.TotalSeconds:0.###} s", statusCode: null, retryable: true, ex);
            }
            catch (HttpRequestException ex)
            {
                throw new ProviderCallException($"{modelId}: {provider.Name} connection failed: {Redact(ex.Message, apiKey)}", statusCode: null, retryable: true, ex);
            }
            catch (IOException ex) when (!cancellationToken.IsCancellationRequested)
            {
                throw new ProviderCallException($"{modelId}: {provider.Name} connection failed: {Redact(ex.Message, apiKey)}", statusCode: null, retryable: true, ex);
            }
        }
        catch (ProviderCallException ex) when (decoder.Characters > 0)
        {
            ex.MidStream = true;
            ex.PartialUsage = decoder.Usage;
            throw;
        }
    }

    private ProviderCallException Rejected(HttpResponseMessage response, JsonNode? body, string text, LlmProvider provider, string modelId, string? apiKey)
    {
        int status = (int)response.StatusCode;
        string detail = provider.ReadErrorMessage(body) ?? Excerpt(text);
        bool retryable = status is (int)HttpStatusCode.TooManyRequests or (int)HttpStatusCode.RequestTimeout or >= 500;
        return new ProviderCallException($"{modelId}: {provider.Name} answered {status} {response.ReasonPhrase}: {Redact(detail, apiKey)}", status, retryable)
        {
            RetryAfter = RetryAfterOf(response),
        };
    }

    private TimeSpan? RetryAfterOf(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - time.GetUtcNow() is { } wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero,
        _ => null,
    };

    private static JsonNode? TryParse(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Excerpt(string text) =>
        text.Length <= ExcerptLength ? text : text[..ExcerptLength] + "…";

    /// <summary>Blanks the key out of provider text, which sometimes quotes the credential it rejected.</summary>
    internal static string Redact(string text, string? apiKey) =>
        string.IsNullOrEmpty(apiKey) || apiKey.Length < 4 ? text : text.Replace(apiKey, "***", StringComparison.Ordinal);
}
