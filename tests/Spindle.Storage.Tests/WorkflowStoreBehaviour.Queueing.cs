using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Spindle.Core.Orchestration;
using static Spindle.Storage.Tests.StoreTestHelpers;

namespace Spindle.Storage.Tests;

// Queueing on both stores: per-key concurrency, rate limits and priority, enforced by the claim statement.
public abstract partial class WorkflowStoreBehaviour
{
    private readonly FakeTimeProvider _queueClock = new(DateTimeOffset.UtcNow);

    /// <summary>A second store on the same database whose clock the test moves.</summary>
    private async Task<IWorkflowStore> ClockedStoreAsync()
    {
        var store = await CreateStoreAsync(new EngineDefaults
        {
            ActivityTimeoutSeconds = 60,
            WorkflowTimeoutSeconds = 0,
            MaxRetries = 3,
            Clock = _queueClock,
        });
        await store.MigrateAsync(CancellationToken.None);
        return store;
    }

    private static string LimitedFanOut(int width, string queueing) =>
        "name: limited\nactivities:\n" +
        $"  - {{key: start, activity_name: echo, dependency_of: [{string.Join(", ", Enumerable.Range(0, width).Select(i => $"p{i}"))}]}}\n" +
        string.Concat(Enumerable.Range(0, width).Select(i => $"  - {{key: p{i}, activity_name: echo, {queueing}}}\n"));

    /// <summary>Claims and completes the <c>start</c> of each workflow (the only activities ready), readying the branches.</summary>
    private static async Task StartAsync(IWorkflowStore store, params string[] workflowIds)
    {
        var starts = await ClaimAsync(store, "starter", 100);
        Assert.Equal(workflowIds.Order(), starts.Select(c => c.WorkflowId).Order());
        Assert.All(starts, c => Assert.Equal("start", c.ActivityKey));
        foreach (var start in starts)
        {
            await CompleteAsync(store, start, workerId: "starter");
        }
    }

    private static async Task<Dictionary<string, int>> RunningByCustomerAsync(IWorkflowStore store, params string[] workflowIds)
    {
        var byCustomer = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var id in workflowIds)
        {
            var wf = (await store.GetWorkflowAsync(id, CancellationToken.None))!;
            var customer = wf.Input["customer"]!.GetValue<string>();
            byCustomer[customer] = byCustomer.GetValueOrDefault(customer)
                + wf.Activities.Values.Count(a => a.Key != "start" && a.Status == ActivityStatus.Running);
        }
        return byCustomer;
    }

    [Fact]
    public async Task GetDelayed_PendingWithAndWithoutLimits_ReportsTheEarliestReadyTimePerRoutingKey()
    {
        await using var store = await ClockedStoreAsync();
        var now = Spindle.Core.Common.Timestamps.ToMicros(_queueClock.GetUtcNow());
        Assert.Empty(await store.GetDelayedAsync(CancellationToken.None));

        await DeployAndSubmitAsync(store, "name: later\nactivities:\n  - {key: a, activity_name: echo, settings: {delay: 10m}}\n");
        Assert.Equal([("std", now + 600_000_000)], await store.GetDelayedAsync(CancellationToken.None));

        // A limited activity is pending too (the other claim index): the earlier of the two counts.
        await DeployAndSubmitAsync(store,
            "name: sooner\nactivities:\n  - {key: b, activity_name: echo, concurrency: {key: one, limit: 1}, settings: {delay: 5m}}\n");
        Assert.Equal([("std", now + 300_000_000)], await store.GetDelayedAsync(CancellationToken.None));

        // Claimed work is no longer pending.
        _queueClock.Advance(TimeSpan.FromMinutes(6));
        Assert.Single(await ClaimAsync(store, "w1"));
        Assert.Equal([("std", now + 600_000_000)], await store.GetDelayedAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Claim_ManyReadyOfOneConcurrencyKeyAndSeveralClaimers_NeverLeasesMoreThanTheLimit()
    {
        await using var store = await ClockedStoreAsync();
        const string yaml = "concurrency: {key: \"{{INPUT.customer}}\", limit: 2}";
        var acme = await DeployAndSubmitAsync(store, LimitedFanOut(10, yaml), new JsonObject { ["customer"] = "acme" });
        var beta = await DeployAndSubmitAsync(store, LimitedFanOut(10, yaml), new JsonObject { ["customer"] = "beta" });
        var acme2 = await DeployAndSubmitAsync(store, LimitedFanOut(10, yaml), new JsonObject { ["customer"] = "acme" });
        await StartAsync(store, acme, beta, acme2);

        // Four claimers at once, asking for far more than the limits allow.
        var rounds = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => ClaimAsync(store, "w" + i, 10)));
        var leased = rounds.SelectMany(r => r).ToList();
        Assert.Equal(4, leased.Count); // two of acme's twenty, two of beta's ten
        Assert.Equal(new Dictionary<string, int> { ["acme"] = 2, ["beta"] = 2 }, await RunningByCustomerAsync(store, acme, beta, acme2));
        Assert.Empty(await ClaimAsync(store, "w9", 10));

        // One acme activity ends: exactly one more acme one may start.
        var claimer = Enumerable.Range(0, 4).First(i => rounds[i].Any(a => a.WorkflowId == acme || a.WorkflowId == acme2));
        await CompleteAsync(store, rounds[claimer].First(a => a.WorkflowId == acme || a.WorkflowId == acme2), workerId: "w" + claimer);
        var next = await ClaimAsync(store, "w9", 10);
        Assert.Single(next);
        Assert.Equal(new Dictionary<string, int> { ["acme"] = 2, ["beta"] = 2 }, await RunningByCustomerAsync(store, acme, beta, acme2));

        // Leases run out: the expired rows go back to the queue and are not counted twice when claimed again.
        _queueClock.Advance(TimeSpan.FromSeconds(61));
        await store.RunTimersAsync(CancellationToken.None);
        var again = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => ClaimAsync(store, "x" + i, 10)));
        Assert.Equal(4, again.Sum(r => r.Count));
        Assert.Equal(new Dictionary<string, int> { ["acme"] = 2, ["beta"] = 2 }, await RunningByCustomerAsync(store, acme, beta, acme2));
    }

    [Fact]
    public async Task Claim_Priorities_HighestFirstThenOldestAndTheSubmitPriorityAppliesToTheRest()
    {
        await using var store = await ClockedStoreAsync();
        var definition = Parse("""
            name: prio
            activities:
              - {key: low, activity_name: echo}
              - {key: high, activity_name: echo, priority: 7}
              - {key: mid, activity_name: echo, priority: 3}
            """);
        await store.DeployAsync(definition, CancellationToken.None);
        await store.SubmitAsync(new SubmitCommand("prio", null, [], null), CancellationToken.None);
        _queueClock.Advance(TimeSpan.FromSeconds(1));
        var urgent = await store.SubmitAsync(new SubmitCommand("prio", null, [], null) { Priority = 5 }, CancellationToken.None);

        var order = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            var one = Assert.Single(await ClaimAsync(store, "w1", 1));
            order.Add((one.WorkflowId == urgent.Workflow!.Id ? "urgent." : "plain.") + one.ActivityKey);
        }
        // urgent.low takes the submit's 5; an activity's own priority wins over the submit's; ties go oldest first.
        Assert.Equal(["plain.high", "urgent.high", "urgent.low", "plain.mid", "urgent.mid", "plain.low"], order);
    }

    [Fact]
    public async Task Claim_LowPriorityActivityThatWaitedLongEnough_AgesPastNewerHigherOnes()
    {
        await using var store = await ClockedStoreAsync();
        await store.DeployAsync(Parse("name: age\nactivities:\n  - {key: a, activity_name: echo}\n"), CancellationToken.None);
        var old = await store.SubmitAsync(new SubmitCommand("age", null, [], null), CancellationToken.None);
        _queueClock.Advance(TimeSpan.FromSeconds(25)); // 2.5 priority points of ageing (1 per 10 s)
        var two = await store.SubmitAsync(new SubmitCommand("age", null, [], null) { Priority = 2 }, CancellationToken.None);
        var three = await store.SubmitAsync(new SubmitCommand("age", null, [], null) { Priority = 3 }, CancellationToken.None);

        var order = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            order.Add(Assert.Single(await ClaimAsync(store, "w1", 1)).WorkflowId);
        }
        Assert.Equal([three.Workflow!.Id, old.Workflow!.Id, two.Workflow!.Id], order);
    }

    [Fact]
    public async Task Claim_RateLimit_TakesTheBurstThenOneTokenPerInterval()
    {
        await using var store = await ClockedStoreAsync();
        var id = await DeployAndSubmitAsync(store, LimitedFanOut(8, "rate_limit: {key: api, per_second: 2, burst: 3}"));
        await StartAsync(store, id);

        Assert.Equal(3, (await ClaimAsync(store, "w1", 10)).Count); // the full bucket
        Assert.Empty(await ClaimAsync(store, "w2", 10));
        _queueClock.Advance(TimeSpan.FromMilliseconds(499));
        Assert.Empty(await ClaimAsync(store, "w2", 10)); // not yet a whole token
        _queueClock.Advance(TimeSpan.FromMilliseconds(2));
        Assert.Single(await ClaimAsync(store, "w2", 10));
        _queueClock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(2, (await ClaimAsync(store, "w3", 10)).Count);
        _queueClock.Advance(TimeSpan.FromMinutes(10)); // the bucket fills up to its burst, not beyond
        Assert.Equal(2, (await ClaimAsync(store, "w4", 10)).Count); // the last two of eight
    }

    [Fact]
    public async Task Claim_LimitedActivitiesReady_PlainOnesOfTheRoutingKeyAreStillClaimedInOrder()
    {
        await using var store = await ClockedStoreAsync();
        var limited = await DeployAndSubmitAsync(store, LimitedFanOut(4, "concurrency: {key: one, limit: 1}, priority: 1"));
        var plain = await DeployAndSubmitAsync(store, FanOutYaml("plain", 3, join: false));
        await StartAsync(store, limited, plain);

        var claimed = await ClaimAsync(store, "w1", 10);
        Assert.Equal(4, claimed.Count); // one limited (the oldest first), then the three plain branches
        Assert.Single(claimed, c => c.WorkflowId == limited);
        Assert.Equal(limited, claimed[0].WorkflowId);
    }
}
