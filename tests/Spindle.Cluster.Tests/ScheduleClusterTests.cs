using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Spindle.TestSupport;

namespace Spindle.Cluster.Tests;

/// <summary>
/// Two servers on one PostgreSQL database share one schedule: every occurrence is claimed by one of them
/// (<c>SKIP LOCKED</c>) and submitted once, with its own key, in the transaction that advances the schedule.
/// </summary>
[Collection(PostgresFixture.CollectionName)]
public sealed class ScheduleClusterTests(PostgresFixture postgres) : IAsyncLifetime
{
    private const string Report = """
        name: report
        activities:
          - {key: only, activity_name: echo, worker: nobody}
        """;

    private InProcessServer _a = null!;
    private InProcessServer _b = null!;

    public async Task InitializeAsync()
    {
        var database = await postgres.CreateDatabaseAsync();
        _a = await InProcessServer.StartAsync(database);
        _b = await InProcessServer.StartAsync(database);
        await _a.Api.DeployAsync(Report);
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    [Fact]
    public async Task Schedule_TwoServersOneSecondIntervalFor60Seconds_SubmitsEachOccurrenceOnce()
    {
        // allow: the runs never finish (no worker serves them), and each occurrence must still start. The catch-up
        // window keeps a pass delayed past the next second on a busy machine from dropping that occurrence.
        var (status, created) = await _b.Api.PostAsync("/api/v1/schedules", new JsonObject
        {
            ["name"] = "every-second",
            ["definition_name"] = "report",
            ["interval_seconds"] = 1,
            ["overlap_policy"] = "allow",
            ["catchup_window_seconds"] = 30,
        });
        Assert.True(status == 201, created.ToJsonString());
        var id = created["id"]!.GetValue<string>();
        var createdAt = DateTimeOffset.Parse(created["created_at"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture);

        // Occurrences are at creation + 1 s … creation + 60 s.
        var end = createdAt.AddSeconds(60.5);
        if (end > DateTimeOffset.UtcNow)
        {
            await Task.Delay(end - DateTimeOffset.UtcNow);
        }
        using var pause = await _a.Api.Http.PostAsJsonAsync($"/api/v1/schedules/{id}/pause", new JsonObject { ["note"] = "test over" });
        Assert.True(pause.IsSuccessStatusCode);
        await Task.Delay(500); // a firing that claimed the row before the pause commits

        var list = await _a.Api.Http.GetFromJsonAsync<JsonObject>($"/api/v1/workflows?schedule_id={id}&limit=1000");
        var runs = list!["workflows"]!.AsArray();
        Assert.InRange(runs.Count, 59, 61);
        var occurrences = runs.Select(r => r!["scheduled_at"]!.GetValue<string>()).ToList();
        Assert.Equal(occurrences.Count, occurrences.Distinct().Count()); // one workflow per occurrence: distinct keys
        Assert.All(runs, r => Assert.Equal(id, r!["schedule_id"]!.GetValue<string>()));
    }
}
