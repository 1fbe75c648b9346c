using System.Diagnostics;
using Spindle.TestSupport;
using Xunit.Abstractions;

namespace Spindle.Cluster.Tests;

/// <summary>
/// Faults on a real deployment: <c>spindle serve</c> and <c>spindle worker</c> processes on one PostgreSQL. Killed
/// processes are SIGKILLed (no drain, no goodbye); the database is restarted under running servers. Every workflow
/// must still complete, each activity recorded exactly once.
/// </summary>
[Collection(PostgresFixture.CollectionName)]
public sealed class FaultTests(PostgresFixture postgres, ITestOutputHelper output)
{
    [Fact]
    public async Task Cluster_ServerAndWorkerKilledMidRun_ThousandWorkflowsCompleteExactlyOnce()
    {
        const int workflows = 1000;
        await using var cluster = await ProcessCluster.CreateAsync(postgres, output);
        var (a, b, watch) = await SubmitBeforeAnyWorkerRunsAsync(cluster, workflows);
        var workers = new List<SpindleProcess>();
        for (var i = 0; i < 4; i++)
        {
            workers.Add(await cluster.StartWorkerAsync($"worker-{i}", i % 2 == 0 ? a : b, concurrency: 8));
        }
        await cluster.WaitCompletedAsync(workflows / 5, TimeSpan.FromSeconds(120));

        // Server A (with its in-process std worker) and a worker polling server B die mid-run.
        a.Process.Kill();
        workers[1].Kill();
        var atKill = await cluster.CountWorkflowsAsync();
        cluster.Log($"killed server-a and worker-1 at {watch.Elapsed.TotalSeconds:0.0} s with {atKill.Completed} completed, {atKill.Unfinished} unfinished");
        Assert.True(atKill.Unfinished > 0, "the kill must land while workflows are in flight");
        await Task.Delay(1000);
        await a.RestartAsync();
        await workers[1].StartAsync();
        cluster.Log($"restarted both at {watch.Elapsed.TotalSeconds:0.0} s");

        await cluster.WaitCompletedAsync(workflows, TimeSpan.FromSeconds(180));
        watch.Stop();
        var facts = await cluster.CheckExactlyOnceAsync(workflows);
        cluster.Log($"{workflows} workflows ({facts.Activities} activities) completed in {watch.Elapsed.TotalSeconds:0.0} s; " +
                    $"{facts.Leases} leases, {facts.LeaseExpiries} expired leases re-offered, {facts.WorkerReportedFailures} failures reported by workers");
        Assert.True(facts.LeaseExpiries > 0, "the kills should have left leases to expire");
    }

    [Fact]
    public async Task Cluster_PostgresRestartedMidRun_ServersAndWorkersReconnectAndFinish()
    {
        const int workflows = 300;
        await using var cluster = await ProcessCluster.CreateAsync(postgres, output);
        var (a, b, watch) = await SubmitBeforeAnyWorkerRunsAsync(cluster, workflows);
        await cluster.StartWorkerAsync("worker-0", a, concurrency: 8);
        await cluster.StartWorkerAsync("worker-1", b, concurrency: 8);
        await cluster.WaitCompletedAsync(workflows / 5, TimeSpan.FromSeconds(120));

        var before = await cluster.CountWorkflowsAsync();
        cluster.Log($"restarting PostgreSQL at {watch.Elapsed.TotalSeconds:0.0} s with {before.Completed} completed, {before.Unfinished} unfinished");
        Assert.True(before.Unfinished > 0, "the restart must land while workflows are in flight");
        await postgres.RestartAsync(TimeSpan.FromSeconds(2));
        cluster.Log($"PostgreSQL is back at {watch.Elapsed.TotalSeconds:0.0} s");

        await cluster.WaitCompletedAsync(workflows, TimeSpan.FromSeconds(180));
        watch.Stop();
        Assert.False(a.Process.HasExited, "server-a exited instead of reconnecting");
        Assert.False(b.Process.HasExited, "server-b exited instead of reconnecting");
        var facts = await cluster.CheckExactlyOnceAsync(workflows);
        cluster.Log($"{workflows} workflows ({facts.Activities} activities) completed in {watch.Elapsed.TotalSeconds:0.0} s across the restart; " +
                    $"{facts.LeaseExpiries} expired leases re-offered");
    }

    /// <summary>
    /// Queues every workflow through server B (no worker) before anything can run them, then starts server A with
    /// its in-process worker. The fault then lands with most workflows still queued however fast this machine
    /// submits or runs them: when submitting was as slow as running, a loaded CI machine once finished all 1,000
    /// before the kill.
    /// </summary>
    private static async Task<(ServerProcess A, ServerProcess B, Stopwatch Watch)> SubmitBeforeAnyWorkerRunsAsync(
        ProcessCluster cluster, int workflows)
    {
        var b = await cluster.StartServerAsync("server-b", noWorker: true);
        await b.Api.DeployAsync(ProcessCluster.ChainDefinition);
        await b.Api.DeployAsync(ProcessCluster.FanDefinition);
        var watch = Stopwatch.StartNew();
        await ProcessCluster.SubmitMixAsync([b], workflows);
        cluster.Log($"submitted {workflows} workflows in {watch.Elapsed.TotalSeconds:0.0} s");
        var a = await cluster.StartServerAsync("server-a", noWorker: false);
        return (a, b, watch);
    }
}
