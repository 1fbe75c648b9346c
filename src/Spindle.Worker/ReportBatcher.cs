using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Spindle.Protocol;

namespace Spindle.Worker;

/// <summary>
/// Group commit of reports on the client (docs/worker-protocol.md, "Batched reports"): a result is sent at once
/// through its single route when no report is in flight; the results that finish while one is in flight wait for it
/// and then go together in one <c>POST /api/v1/workers/report</c>. No timer: a lone result never waits.
/// </summary>
/// <remarks>
/// Each caller gets what its single route would have given it (the answer, <see cref="LeaseLostException"/>, a
/// <see cref="SpindleApiException"/>), so the worker's handling of answers, claim-next slots included, is the same
/// either way. A report whose batch failed (network, 5xx) or whose own result is a 5xx is repeated alone through its
/// single route, with the usual retries until its lease ends: a repeat is answered as the first call would have been.
/// A server without the route (404) gets single reports from then on.
/// </remarks>
internal sealed class ReportBatcher(SpindleApiClient api, ILogger logger)
{
    /// <summary>The server's limit on reports per request.</summary>
    public const int MaxReports = 100;

    /// <summary>Room left in a batch's body for the envelope around the reports.</summary>
    private const int EnvelopeBytes = 1024;

    private readonly Lock _gate = new();
    private readonly List<Pending> _queue = [];
    private bool _sending;
    private volatile bool _enabled;
    private long _batches;
    private long _batched;

    /// <summary>Batches are sent (the server lists <c>batch-report</c> and the options allow it); off, every report goes alone.</summary>
    public bool Enabled
    {
        get => _enabled;
        set => _enabled = value;
    }

    /// <summary>Batched requests sent (diagnostics and tests).</summary>
    public long BatchesSent => Interlocked.Read(ref _batches);

    /// <summary>Reports sent in batched requests (diagnostics and tests).</summary>
    public long ReportsBatched => Interlocked.Read(ref _batched);

    public Task<CompleteResponse> CompleteAsync(string activityId, ActivityResult result, int claimNext, int claimNextFromPoll, string? pollId,
        DateTimeOffset retryUntil)
    {
        if (!_enabled)
        {
            // Alone, the report is the single route with its retries (as SendAloneAsync): its own task is the answer,
            // without a completion source whose continuation would cost a thread-pool hop per report.
            return api.CompleteAsync(activityId, result, claimNext, claimNextFromPoll, pollId, retryUntil, CancellationToken.None);
        }

        var pending = new Pending<CompleteResponse>(
            activityId,
            until => api.CompleteAsync(activityId, result, claimNext, claimNextFromPoll, pollId, until, CancellationToken.None),
            () => new ReportItem
            {
                ActivityId = activityId,
                Action = "complete",
                Output = result.Output,
                CostUsd = result.CostUsd,
                Usage = result.Usage is { Count: > 0 } usage ? usage : null,
                // As the single route's body (SpindleApiClient.CompleteAsync).
                ClaimNext = claimNext > 0 ? claimNext : null,
                ClaimNextFromPoll = claimNext > 0 && claimNextFromPoll > 0 && pollId is not null ? claimNextFromPoll : null,
                PollId = claimNext > 0 && claimNextFromPoll > 0 ? pollId : null,
                RoutingKey = claimNext > 0 ? api.Options.RoutingKey : null,
                ActivityNames = claimNext > 0 ? api.Options.ActivityNames : null,
            },
            r => new CompleteResponse { Acknowledged = true, Activities = r.Activities, Count = r.Count, Warnings = r.Warnings },
            retryUntil);
        Submit(pending);
        return pending.Task;
    }

    public Task<FailResponse> FailAsync(string activityId, ActivityError error, decimal? costUsd, IReadOnlyList<UsageLine>? usage, DateTimeOffset retryUntil)
    {
        if (!_enabled)
        {
            return api.FailAsync(activityId, error, costUsd, usage, retryUntil, CancellationToken.None);
        }

        var pending = new Pending<FailResponse>(
            activityId,
            until => api.FailAsync(activityId, error, costUsd, usage, until, CancellationToken.None),
            () => new ReportItem
            {
                ActivityId = activityId,
                Action = "fail",
                Error = error,
                CostUsd = costUsd,
                Usage = usage is { Count: > 0 } ? usage : null,
            },
            r => new FailResponse { Acknowledged = true, WillRetry = r.WillRetry == true, Warnings = r.Warnings },
            retryUntil);
        Submit(pending);
        return pending.Task;
    }

    private void Submit(Pending pending)
    {
        if (!_enabled)
        {
            _ = pending.SendAloneAsync();
            return;
        }

        lock (_gate)
        {
            if (_sending)
            {
                _queue.Add(pending);
                return;
            }

            _sending = true;
        }

        _ = PumpAsync([pending]);
    }

    /// <summary>
    /// Sends <paramref name="first"/>, then whatever queued meanwhile, until nothing is left. Never waits for more than
    /// one request: reports that must be repeated are repeated on their own.
    /// </summary>
    private async Task PumpAsync(List<Pending> first)
    {
        List<Pending> round = first;
        while (true)
        {
            try
            {
                await SendAsync(round).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // Not expected (SendAsync settles every report); never leave a caller waiting.
                logger.BatchReportFailed(ex, round.Count);
                foreach (Pending pending in round)
                {
                    pending.Fault(ex);
                }
            }

            lock (_gate)
            {
                if (_queue.Count == 0)
                {
                    _sending = false;
                    return;
                }

                round = TakeRound();
            }
        }
    }

    /// <summary>The next batch: queued reports in order, up to <see cref="MaxReports"/> and the server's body limit.</summary>
    private List<Pending> TakeRound()
    {
        long room = api.MaxBodyBytes - EnvelopeBytes;
        var round = new List<Pending>(Math.Min(_queue.Count, MaxReports));
        int taken = 0;
        foreach (Pending pending in _queue)
        {
            int size = pending.Serialized.Length + 1;
            if (round.Count == MaxReports || (round.Count > 0 && size > room))
            {
                break;
            }

            round.Add(pending);
            room -= size;
            taken++;
        }

        _queue.RemoveRange(0, taken);
        return round;
    }

    private async Task SendAsync(List<Pending> round)
    {
        if (round.Count == 1 || !_enabled)
        {
            foreach (Pending pending in round)
            {
                await pending.SendOnceAsync().ConfigureAwait(false);
            }

            return;
        }

        ReportResponse response;
        try
        {
            response = await api.ReportAsync([.. round.Select(p => p.Serialized)], CancellationToken.None).ConfigureAwait(false);
            if (response.Results.Count != round.Count)
            {
                throw new SpindleApiException(HttpStatusCode.OK, null,
                    $"The batched report answered {response.Results.Count} results for {round.Count} reports.");
            }
        }
        catch (SpindleApiException ex) when (ex.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed)
        {
            _enabled = false;
            logger.BatchReportsUnsupported((int)ex.StatusCode);
            foreach (Pending pending in round)
            {
                _ = pending.SendAloneAsync();
            }

            return;
        }
        catch (Exception ex)
        {
            logger.BatchReportFailed(ex, round.Count);
            foreach (Pending pending in round)
            {
                _ = pending.SendAloneAsync();
            }

            return;
        }

        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _batched, round.Count);
        for (int i = 0; i < round.Count; i++)
        {
            round[i].Answer(response.Results[i]);
        }
    }

    private abstract class Pending
    {
        private byte[]? _serialized;

        protected Pending(string activityId) => ActivityId = activityId;

        public string ActivityId { get; }

        /// <summary>The report as a batch item, serialised when it is first queued.</summary>
        public byte[] Serialized => _serialized ??= JsonSerializer.SerializeToUtf8Bytes(Item(), SpindleJsonContext.Default.ReportItem);

        protected abstract ReportItem Item();

        /// <summary>One call of the single route; a transient failure goes on as <see cref="SendAloneAsync"/>.</summary>
        public abstract Task SendOnceAsync();

        /// <summary>The single route with its retries until the lease ends.</summary>
        public abstract Task SendAloneAsync();

        /// <summary>Settles the report with its result from a batch.</summary>
        public abstract void Answer(ReportResult result);

        public abstract void Fault(Exception exception);

        protected SpindleApiException Error(ReportResult result)
        {
            string message = $"POST /api/v1/workers/report (activity {ActivityId}) failed with {result.Status}"
                + (result.Error?.Message is { } text ? $": {text}" : "");
            if (result.Error?.Details?["field_errors"] is { } fields)
            {
                message += $" {fields.ToJsonString()}";
            }

            return result.Status == (int)HttpStatusCode.Conflict
                ? new LeaseLostException(ActivityId, result.Error?.Code, message)
                : new SpindleApiException((HttpStatusCode)result.Status, result.Error?.Code, message);
        }
    }

    private sealed class Pending<TResponse>(
        string activityId,
        Func<DateTimeOffset?, Task<TResponse>> send,
        Func<ReportItem> item,
        Func<ReportResult, TResponse> fromResult,
        DateTimeOffset retryUntil) : Pending(activityId)
    {
        private readonly TaskCompletionSource<TResponse> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<TResponse> Task => _answer.Task;

        protected override ReportItem Item() => item();

        public override async Task SendOnceAsync()
        {
            try
            {
                _answer.TrySetResult(await send(null).ConfigureAwait(false));
            }
            catch (Exception ex) when (SpindleApiClient.IsTransient(ex))
            {
                _ = SendAloneAsync();
            }
            catch (Exception ex)
            {
                _answer.TrySetException(ex);
            }
        }

        public override async Task SendAloneAsync()
        {
            try
            {
                _answer.TrySetResult(await send(retryUntil).ConfigureAwait(false));
            }
            catch (Exception ex)
            {
                _answer.TrySetException(ex);
            }
        }

        public override void Answer(ReportResult result)
        {
            if (result.Status == (int)HttpStatusCode.OK)
            {
                _answer.TrySetResult(fromResult(result));
            }
            else if (result.Status >= 500 || result.Status == (int)HttpStatusCode.TooManyRequests)
            {
                _ = SendAloneAsync();
            }
            else
            {
                _answer.TrySetException(Error(result));
            }
        }

        public override void Fault(Exception exception) => _answer.TrySetException(exception);
    }
}
