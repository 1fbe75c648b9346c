using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Spindle.Protocol;

namespace Spindle.Worker;

// One claimed activity from start to report: the handler under its limits, heartbeats while it runs, and the report
// of its result (with claim-next, the report also brings the next activities). The poll loop and draining are in
// SpindleWorker.cs.
public sealed partial class SpindleWorker
{
    private async Task ExecuteAsync(RunningActivity run)
    {
        ClaimedActivity claim = run.Claim;
        run.LeaseExpiresAt = _time.GetUtcNow() + TimeSpan.FromSeconds(ResolveLeaseSeconds(claim));
        long startedAt = _time.GetTimestamp();
        try
        {
            _logger.ActivityStarted(claim.ActivityName, claim.WorkflowId, claim.ActivityKey, claim.Attempt, claim.ActivityId);
            Outcome outcome;
            try
            {
                outcome = await RunHandlerAsync(run).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                outcome = Outcome.Fail(new ActivityError { Code = ErrorCodes.ExecutionError, Message = Describe(ex), Retryable = true });
            }

            if (run.Context is { Streamed: > 0 })
            {
                await EndStreamAsync(claim.ActivityId, outcome.Result?.Output, outcome.Error?.Message ?? (outcome.Result is null ? "stopped" : null)).ConfigureAwait(false);
            }

            await ReportAsync(run, outcome, _time.GetElapsedTime(startedAt)).ConfigureAwait(false);
        }
        finally
        {
            _running.TryRemove(run.RunId, out _);
            run.Dispose();
            if (run.OwnsSlot && !run.SlotHandedOn)
            {
                _slots.Release();
            }
        }
    }

    private async Task<Outcome> RunHandlerAsync(RunningActivity run)
    {
        ClaimedActivity claim = run.Claim;
        if (run.Problem is not null)
        {
            return Outcome.Fail(new ActivityError { Code = ErrorCodes.InvalidParameters, Message = $"Cannot read the claimed activity: {run.Problem}", Retryable = false });
        }

        if (!_registry.TryGet(claim.ActivityName, out ActivityHandler? handler))
        {
            return Outcome.Fail(new ActivityError
            {
                Code = ErrorCodes.ExecutionError,
                Message = $"No handler registered for activity '{claim.ActivityName}' on worker '{_options.RoutingKey}'",
                Retryable = true,
            });
        }

        ActivityContext context;
        try
        {
            context = ActivityContext.FromClaim(claim);
            context.Publisher = (text, index, ct) => _api.PublishStreamAsync(claim.ActivityId, "token", new JsonObject { ["text"] = text, ["index"] = index }, ct);
            run.Context = context;
        }
        catch (ActivityFailureException ex)
        {
            return Outcome.Fail(ex.ToError());
        }

        if (DispatchTrace.Enabled)
        {
            DispatchTrace.Record("start", claim.ActivityId);
        }

        TimeSpan timeout = ResolveExecutionTimeout(claim, _options.DefaultActivityTimeout);
        using var heartbeatCts = new CancellationTokenSource();
        using ITimer timer = _time.CreateTimer(static state => ((RunningActivity)state!).RequestStop(StopReason.Timeout), run, timeout, Timeout.InfiniteTimeSpan);
        Task heartbeats = HeartbeatLoopAsync(run, heartbeatCts.Token);
        Task<ActivityResult> handlerTask = Task.Run(() => handler(context, run.Execution.Token));
        run.Handler = handlerTask;
        try
        {
            await Task.WhenAny(handlerTask, run.Stopped).ConfigureAwait(false);
            if (handlerTask.IsCompletedSuccessfully && !(run.Stopped.IsCompleted && run.Stopped.Result == StopReason.LeaseLost))
            {
                ActivityResult? result = handlerTask.Result;
                return Outcome.Complete(result ?? new ActivityResult([]));
            }

            if (run.Stopped.IsCompleted)
            {
                StopReason reason = await run.Stopped.ConfigureAwait(false);
                run.Execution.Cancel();
                if (!handlerTask.IsCompleted)
                {
                    // Observe a late failure of a handler that ignores cancellation.
                    _ = handlerTask.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }

                return reason switch
                {
                    StopReason.Timeout => Outcome.Fail(new ActivityError { Code = ErrorCodes.Timeout, Message = $"Activity exceeded timeout of {timeout.TotalSeconds:0.###} s", Retryable = true }),
                    StopReason.Cancelled => Outcome.Fail(new ActivityError { Code = ErrorCodes.Cancelled, Message = "Activity cancelled: the workflow was cancelled or passed its deadline", Retryable = false }),
                    StopReason.Shutdown => Outcome.Fail(new ActivityError { Code = ErrorCodes.WorkerShutdown, Message = $"Worker {_options.WorkerId} shut down before the activity finished", Retryable = true }),
                    _ => Outcome.Drop,
                };
            }

            try
            {
                await handlerTask.ConfigureAwait(false);
                return Outcome.Complete(new ActivityResult([]));
            }
            catch (ActivityFailureException ex)
            {
                return Outcome.Fail(ex.ToError(), ex.CostUsd, ex.Usage);
            }
            catch (Exception ex)
            {
                _logger.HandlerError(ex, claim.WorkflowId, claim.ActivityKey, claim.Attempt, claim.ActivityId);
                return Outcome.Fail(new ActivityError { Code = ErrorCodes.ExecutionError, Message = Describe(ex), Retryable = true });
            }
        }
        finally
        {
            // Cancel, not CancelAsync: the heartbeat loop's wait ends here, inline, instead of through a thread-pool
            // work item per activity (it only checks the token and returns).
            heartbeatCts.Cancel();
            await heartbeats.ConfigureAwait(false);
        }
    }

    private async Task HeartbeatLoopAsync(RunningActivity run, CancellationToken cancellationToken)
    {
        ClaimedActivity claim = run.Claim;
        int leaseSeconds = ResolveLeaseSeconds(claim);
        TimeSpan interval = Min(_options.HeartbeatInterval, TimeSpan.FromSeconds(HeartbeatSecondsForLease(leaseSeconds)));
        while (true)
        {
            try
            {
                // Most activities finish before their first heartbeat: end the wait without throwing (an exception
                // per activity cost more CPU than the echo activity itself).
                await Task.Delay(interval, _time, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (cancellationToken.IsCancellationRequested)
                {
                    return;
                }

                HeartbeatResponse response = await _api.HeartbeatAsync(claim.ActivityId, cancellationToken).ConfigureAwait(false);
                run.LeaseExpiresAt = _time.GetUtcNow() + TimeSpan.FromSeconds(leaseSeconds);
                if (response.NextHeartbeatSeconds is > 0 and var next)
                {
                    interval = Min(_options.HeartbeatInterval, TimeSpan.FromSeconds(next));
                }

                _logger.HeartbeatSent(claim.WorkflowId, claim.ActivityKey, claim.Attempt, claim.ActivityId, interval.TotalSeconds);
                if (response.CancelRequested)
                {
                    _logger.CancelRequested(claim.WorkflowId, claim.ActivityKey, claim.Attempt, claim.ActivityId);
                    run.RequestStop(StopReason.Cancelled);
                    return;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (LeaseLostException)
            {
                run.RequestStop(StopReason.LeaseLost);
                return;
            }
            catch (SpindleApiException ex) when (ex.StatusCode == HttpStatusCode.NotFound)
            {
                // The server no longer knows the activity: nobody will accept its result.
                run.RequestStop(StopReason.LeaseLost);
                return;
            }
            catch (Exception ex)
            {
                _logger.HeartbeatFailed(ex, claim.WorkflowId, claim.ActivityKey, claim.Attempt, claim.ActivityId);
            }
        }
    }

    private async Task ReportAsync(RunningActivity run, Outcome outcome, TimeSpan elapsed)
    {
        ClaimedActivity claim = run.Claim;
        try
        {
            switch (outcome.Kind)
            {
                case OutcomeKind.Complete:
                    try
                    {
                        await CompleteAndClaimNextAsync(run, outcome.Result!).ConfigureAwait(false);
                    }
                    catch (OutputTooLargeException ex)
                    {
                        // Sending the same result again cannot succeed: the activity fails, clearly, at once.
                        outcome = Outcome.Fail(new ActivityError { Code = ErrorCodes.OutputTooLarge, Message = ex.Message, Retryable = false },
                            outcome.Result!.CostUsd, outcome.Result.Usage);
                        goto case OutcomeKind.Fail;
                    }
                    catch (SpindleApiException ex) when (ex.StatusCode == HttpStatusCode.UnprocessableEntity)
                    {
                        // The server refused the result itself (e.g. nested deeper than it accepts): the same again
                        // would be refused too, so the activity fails with the server's reason instead of timing out.
                        outcome = Outcome.Fail(new ActivityError { Code = ErrorCodes.OutputInvalid, Message = ex.Message, Retryable = false },
                            outcome.Result!.CostUsd, outcome.Result.Usage);
                        goto case OutcomeKind.Fail;
                    }

                    _logger.ActivityCompleted(claim.WorkflowId, claim.ActivityKey, claim.Attempt, claim.ActivityId, elapsed.TotalMilliseconds);
                    break;
                case OutcomeKind.Fail:
                    ActivityError error = outcome.Error!;
                    FailResponse response = await _reports.FailAsync(claim.ActivityId, error, outcome.CostUsd, outcome.Usage, run.LeaseExpiresAt).ConfigureAwait(false);
                    _logger.ActivityFailed(claim.WorkflowId, claim.ActivityKey, claim.Attempt, claim.ActivityId, error.Code, error.Retryable, response.WillRetry, error.Message);
                    break;
                default:
                    _logger.LeaseLost(claim.WorkflowId, claim.ActivityKey, claim.Attempt, claim.ActivityId);
                    break;
            }
        }
        catch (LeaseLostException)
        {
            _logger.LeaseLost(claim.WorkflowId, claim.ActivityKey, claim.Attempt, claim.ActivityId);
        }
        catch (Exception ex)
        {
            _logger.ReportFailed(ex, claim.WorkflowId, claim.ActivityKey, claim.Attempt, claim.ActivityId);
        }
    }

    /// <summary>
    /// Reports a result; with claim-next, asks for the next activities and starts what comes back at once, so a chain
    /// goes on without a poll. They fill this run's own slot, free slots taken up front for the activities that depend on
    /// it, and the slots the waiting long-poll lends (<see cref="SlotLedger.BeginClaimNext"/>); slots not filled go back.
    /// </summary>
    private async Task CompleteAndClaimNextAsync(RunningActivity run, ActivityResult result)
    {
        bool ask = _claimNext && !_draining && run.OwnsSlot;
        var claim = ask ? _slots.BeginClaimNext(_options.PollBatchSize, run.Claim.Dependents) : null;
        List<JsonNode?>? next = null;
        int owned = 0;
        try
        {
            CompleteResponse response = await _reports.CompleteAsync(run.Claim.ActivityId, result, claim?.Own ?? 0, claim?.FromPoll ?? 0, claim?.PollId, run.LeaseExpiresAt).ConfigureAwait(false);
            next = ask && response.Activities is { Count: > 0 } activities ? activities : null;
            if (DispatchTrace.Enabled && next is not null)
            {
                TraceReceived(next, "complete");
            }
        }
        finally
        {
            if (claim is not null)
            {
                owned = _slots.EndClaimNext(claim, next?.Count ?? 0);
            }
        }

        if (next is not null)
        {
            // The completed run's slot goes to the first activity, the other slots the ledger counted to the rest.
            run.SlotHandedOn = true;
            int handed = 0;
            foreach (JsonNode? node in next)
            {
                Start(node, ownsSlot: handed++ < owned);
            }
        }
    }
}
