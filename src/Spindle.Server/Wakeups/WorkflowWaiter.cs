using Spindle.Core.Common;
using Spindle.Core.Orchestration;
using Spindle.Storage;

namespace Spindle.Server.Wakeups;

/// <summary>
/// The waiting read (<c>GET /workflows/{id}?wait_seconds=</c>): loads the workflow once it is terminal, the wait is
/// over, or the server drains. A workflow that finishes during the wait costs two reads: its status before waiting,
/// then, woken by the commit that finished it, the load (a wake-up means terminal, so no second status read).
/// </summary>
public static class WorkflowWaiter
{
    /// <summary>
    /// How long a waiter sleeps without a wake-up before it reads the status again: covers a wake-up lost to a race
    /// with another server, or a server that died or had not yet seen this one between its commit and its notify.
    /// </summary>
    private static readonly TimeSpan Recheck = TimeSpan.FromSeconds(1);

    /// <returns>The workflow as loaded at the end of the wait; null when it does not exist.</returns>
    public static async Task<WorkflowState?> LoadWhenTerminalAsync(string id, TimeSpan wait, IWorkflowReader store, WakeupHub hub,
        CancellationToken stopping, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, cancellationToken);
        var deadline = DateTimeOffset.UtcNow + wait;
        // Taken before the first read, so that a finish between the read and the wait is not missed.
        var watch = hub.WatchWorkflow(id);
        try
        {
            var status = await store.GetWorkflowStatusAsync(id, cancellationToken);
            while (status is not null && !WorkflowStatus.IsTerminal(status))
            {
                var remaining = deadline - DateTimeOffset.UtcNow;
                if (remaining <= TimeSpan.Zero)
                {
                    break;
                }
                await watch.Finished.WaitAsync(remaining < Recheck ? remaining : Recheck, linked.Token)
                    .ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                if (linked.IsCancellationRequested)
                {
                    break;
                }
                if (!watch.Finished.IsCompleted)
                {
                    status = await store.GetWorkflowStatusAsync(id, cancellationToken); // the slow re-check
                    continue;
                }
                // Woken by the commit that made it terminal: load it straight away. Only if it is running again by now
                // (retried in between) does the wait go on, on a fresh watch taken before the load was read.
                var finished = watch;
                watch = hub.WatchWorkflow(id);
                finished.Dispose();
                var workflow = await store.GetWorkflowAsync(id, cancellationToken);
                if (workflow is null || WorkflowStatus.IsTerminal(workflow.Status) || deadline <= DateTimeOffset.UtcNow)
                {
                    return workflow;
                }
                status = workflow.Status;
            }
        }
        finally
        {
            watch.Dispose();
        }
        return await store.GetWorkflowAsync(id, cancellationToken);
    }
}
