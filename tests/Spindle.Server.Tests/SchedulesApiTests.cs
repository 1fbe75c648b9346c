using System.Text;
using System.Text.Json.Nodes;
using Spindle.TestSupport;

namespace Spindle.Server.Tests;

/// <summary>The schedules routes over real HTTP, and a schedule firing through the server's scheduler.</summary>
[Collection(ServerCollection.Name)]
public sealed class SchedulesApiTests(ServerFixture server)
{
    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    private async Task<string> DeployReportAsync()
    {
        var name = Unique("report").Replace('-', '_');
        await server.DeployAsync($"name: {name}\nactivities:\n  - {{key: a, activity_name: echo, worker: nobody}}\n");
        return name;
    }

    private async Task<JsonObject> PatchAsync(string path, JsonObject body, int expected)
    {
        using var response = await server.Http.PatchAsync(path, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var answer = await ServerFixture.ReadAsync(response);
        Assert.True((int)response.StatusCode == expected, answer.ToJsonString());
        return answer;
    }

    private static readonly string[] ScheduleFields =
    [
        "id", "name", "definition_name", "definition_version", "input", "cron", "interval_seconds", "timezone", "overlap_policy", "enabled",
        "jitter_seconds", "start_at", "end_at", "remaining_runs", "catchup_window_seconds", "next_run_at", "last_run_at", "last_workflow_id",
        "created_by", "created_at", "updated_at", "note", "run_count", "skipped_count", "buffered_at", "declared_by", "upcoming",
    ];

    [Fact]
    public async Task ScheduleAnswers_AnyRoute_WriteEveryFieldInOrderWithNullsAndRecentRunsOnlyOnGet()
    {
        var definition = await DeployReportAsync();
        var (status, created) = await server.PostAsync("/api/v1/schedules", new JsonObject
        {
            ["name"] = Unique("every-minute"),
            ["definition_name"] = definition,
            ["interval_seconds"] = 60,
        });
        Assert.True(status == 201, created.ToJsonString());
        Assert.Equal(ScheduleFields, created.Select(p => p.Key));
        Assert.Null(created["cron"]);
        Assert.Null(created["definition_version"]);
        Assert.Equal(60, created["interval_seconds"]!.GetValue<long>());
        Assert.Equal(0, created["run_count"]!.GetValue<int>());
        var id = created["id"]!.GetValue<string>();

        var (_, one) = await server.GetAsync($"/api/v1/schedules/{id}");
        Assert.Equal([.. ScheduleFields, "recent_runs"], one.Select(p => p.Key));
        var (_, list) = await server.GetAsync("/api/v1/schedules");
        Assert.Equal(["schedules", "count"], list.Select(p => p.Key));
        var item = list["schedules"]!.AsArray().Single(s => s!["id"]!.GetValue<string>() == id)!.AsObject();
        Assert.Equal(ScheduleFields, item.Select(p => p.Key));
        var (_, paused) = await server.PostAsync($"/api/v1/schedules/{id}/pause", new JsonObject { ["note"] = "holiday" });
        Assert.Equal(ScheduleFields, paused.Select(p => p.Key));
        Assert.Equal("holiday", paused["note"]!.GetValue<string>());
    }

    [Fact]
    public async Task CreateSchedule_ValidCron_AnswersTheReferenceFieldsAndUpcomingTimes()
    {
        var definition = await DeployReportAsync();
        var name = Unique("daily");
        var (status, body) = await server.PostAsync("/api/v1/schedules", new JsonObject
        {
            ["name"] = name,
            ["definition_name"] = definition,
            ["input"] = new JsonObject { ["region"] = "eu" },
            ["cron"] = "0 9 * * 1-5",
            ["timezone"] = "Europe/Berlin",
        });
        Assert.True(status == 201, body.ToJsonString());
        foreach (var field in new[] { "id", "name", "definition_name", "definition_version", "input", "cron", "timezone", "interval_seconds",
                     "overlap_policy", "enabled", "next_run_at", "last_run_at", "last_workflow_id", "created_by", "created_at", "updated_at" })
        {
            Assert.True(body.ContainsKey(field), field);
        }
        Assert.Equal("skip", body["overlap_policy"]!.GetValue<string>());
        Assert.True(body["enabled"]!.GetValue<bool>());
        Assert.Equal(5, body["upcoming"]!.AsArray().Count);
        var (_, info) = await server.GetAsync("/api/v1/info");
        Assert.Contains(info["features"]!.AsArray(), f => f!.GetValue<string>() == "schedules");
        // 09:00 in Berlin is 07:00 or 08:00 UTC depending on daylight saving.
        Assert.Matches("T0[78]:00:00", body["next_run_at"]!.GetValue<string>());

        var id = body["id"]!.GetValue<string>();
        var (getStatus, one) = await server.GetAsync($"/api/v1/schedules/{id}");
        Assert.Equal(200, getStatus);
        Assert.Equal(name, one["name"]!.GetValue<string>());
        Assert.Empty(one["recent_runs"]!.AsArray());
        var (_, list) = await server.GetAsync("/api/v1/schedules");
        Assert.Contains(list["schedules"]!.AsArray(), s => s!["id"]!.GetValue<string>() == id);
        Assert.Equal(list["schedules"]!.AsArray().Count, list["count"]!.GetValue<int>());

        var (duplicate, conflict) = await server.PostAsync("/api/v1/schedules", new JsonObject
        {
            ["name"] = name,
            ["definition_name"] = definition,
            ["interval_seconds"] = 60,
        });
        Assert.Equal(409, duplicate);
        Assert.Equal("CONFLICT", conflict["error"]!["code"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("cron", "61 * * * *")]
    [InlineData("timezone", "Mars/Olympus")]
    [InlineData("definition_name", "no_such_definition")]
    [InlineData("cron", null)]
    public async Task CreateSchedule_BadField_Answers422NamingIt(string field, string? value)
    {
        var definition = await DeployReportAsync();
        var body = new JsonObject { ["name"] = Unique("bad"), ["definition_name"] = definition, ["cron"] = "0 9 * * *" };
        body[field] = value;
        var (status, answer) = await server.PostAsync("/api/v1/schedules", body);
        Assert.Equal(422, status);
        Assert.True(answer["error"]!["details"]!["field_errors"]!.AsObject().ContainsKey(field), answer.ToJsonString());
    }

    [Fact]
    public async Task PatchSchedule_IntervalReplacesCron_AndDeleteRemovesIt()
    {
        var definition = await DeployReportAsync();
        var (_, created) = await server.PostAsync("/api/v1/schedules",
            new JsonObject { ["name"] = Unique("patch"), ["definition_name"] = definition, ["cron"] = "0 9 * * *" });
        var id = created["id"]!.GetValue<string>();
        var patched = await PatchAsync($"/api/v1/schedules/{id}", new JsonObject { ["interval_seconds"] = 3600, ["overlap_policy"] = "buffer_one" }, 200);
        Assert.Null(patched["cron"]);
        Assert.Equal(3600, patched["interval_seconds"]!.GetValue<int>());
        Assert.Equal("buffer_one", patched["overlap_policy"]!.GetValue<string>());
        await PatchAsync($"/api/v1/schedules/{id}", new JsonObject { ["timezone"] = "Nowhere/Special" }, 422);

        var (paused, pausedBody) = await server.PostAsync($"/api/v1/schedules/{id}/pause", new JsonObject { ["note"] = "holiday" });
        Assert.Equal(200, paused);
        Assert.False(pausedBody["enabled"]!.GetValue<bool>());
        Assert.Equal("holiday", pausedBody["note"]!.GetValue<string>());
        Assert.Null(pausedBody["next_run_at"]);

        using var delete = await server.Http.DeleteAsync($"/api/v1/schedules/{id}");
        Assert.Equal(204, (int)delete.StatusCode);
        Assert.Equal(404, (await server.GetAsync($"/api/v1/schedules/{id}")).Status);
    }

    [Fact]
    public async Task Scheduler_OneSecondInterval_StartsARunThatCarriesTheSchedule()
    {
        var definition = await DeployReportAsync();
        var (_, created) = await server.PostAsync("/api/v1/schedules",
            new JsonObject { ["name"] = Unique("tick"), ["definition_name"] = definition, ["interval_seconds"] = 1 });
        var id = created["id"]!.GetValue<string>();
        JsonArray runs = [];
        // The scheduler was woken by the create; the first occurrence is one second later.
        for (var i = 0; i < 100 && runs.Count == 0; i++)
        {
            await Task.Delay(100);
            runs = (await server.GetAsync($"/api/v1/workflows?schedule_id={id}")).Body["workflows"]!.AsArray();
        }
        var run = Assert.IsType<JsonObject>(runs[^1]);
        Assert.Equal(id, run["schedule_id"]!.GetValue<string>());
        var (_, workflow) = await server.GetAsync($"/api/v1/workflows/{run["id"]}");
        Assert.Equal(id, workflow["schedule_id"]!.GetValue<string>());
        Assert.Equal(created["next_run_at"]!.GetValue<string>(), workflow["scheduled_at"]!.GetValue<string>());
        await server.PostAsync($"/api/v1/schedules/{id}/pause", null);

        var (_, detail) = await server.GetAsync($"/api/v1/schedules/{id}");
        Assert.Contains(detail["recent_runs"]!.AsArray(), r => r!["outcome"]!.GetValue<string>() == "submitted");

        var (triggered, trigger) = await server.PostAsync($"/api/v1/schedules/{id}/trigger", new JsonObject { ["ignore_overlap"] = true });
        Assert.True(triggered == 201, trigger.ToJsonString());
        Assert.Equal("submitted", trigger["outcome"]!.GetValue<string>());
    }

    [Fact]
    public async Task DeployDefinition_WithSchedules_CreatesThemAndDisablesRemovedOnes()
    {
        var definition = Unique("declared").Replace('-', '_');
        var yaml = $$"""
            name: {{definition}}
            schedules:
              - {name: {{definition}}-hourly, interval_seconds: 3600}
              - {name: {{definition}}-daily, cron: "30 6 * * *", timezone: America/New_York, input: {full: true} }
            activities:
              - {key: a, activity_name: echo, worker: nobody}
            """;
        var first = await server.DeployAsync(yaml);
        Assert.Equal(2, first["schedules"]!["created"]!.AsArray().Count);

        var second = await server.DeployAsync(yaml.Replace($"  - {{name: {definition}-hourly, interval_seconds: 3600}}\n", "", StringComparison.Ordinal));
        Assert.Equal($"{definition}-hourly", second["schedules"]!["disabled"]![0]!.GetValue<string>());
        var (_, list) = await server.GetAsync("/api/v1/schedules");
        var hourly = list["schedules"]!.AsArray().Single(s => s!["name"]!.GetValue<string>() == $"{definition}-hourly")!;
        Assert.False(hourly["enabled"]!.GetValue<bool>());
        Assert.Equal(definition, hourly["declared_by"]!.GetValue<string>());

        using var response = await server.Http.PostAsync("/api/v1/workflow_definitions",
            new StringContent(yaml.Replace("30 6 * * *", "not a cron", StringComparison.Ordinal), Encoding.UTF8, "application/yaml"));
        var bad = await ServerFixture.ReadAsync(response);
        Assert.Equal(422, (int)response.StatusCode);
        Assert.True(bad["error"]!["details"]!["field_errors"]!.AsObject().ContainsKey("schedules[1].cron"), bad.ToJsonString());
    }

    [Fact]
    public async Task DeployExample_DailyReport_DeclaresAHeartbeatThatFiresWithinAMinute()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Spindle.sln")))
        {
            root = Path.GetDirectoryName(root)!;
        }
        var deployed = await server.DeployAsync(File.ReadAllText(Path.Combine(root, "examples", "30-daily-report.yaml")));
        var (_, list) = await server.GetAsync("/api/v1/schedules");
        var declared = list["schedules"]!.AsArray().Where(s => s!["declared_by"]?.GetValue<string>() == "daily_report").ToList();
        Assert.Equal(2, declared.Count);
        var heartbeat = declared.Single(s => s!["name"]!.GetValue<string>() == "daily-report-heartbeat")!;
        var next = DateTimeOffset.Parse(heartbeat["next_run_at"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(next - DateTimeOffset.UtcNow < TimeSpan.FromMinutes(1), $"next run {next:O}; deploy answered {deployed.ToJsonString()}");
        foreach (var s in declared)
        {
            await server.PostAsync($"/api/v1/schedules/{s!["id"]}/pause", null); // the shared server stays quiet
        }
    }
}
