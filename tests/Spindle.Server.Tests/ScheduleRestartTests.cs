using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace Spindle.Server.Tests;

/// <summary>
/// A server stopped while a 1 s schedule is due and started again on the same SQLite file: every occurrence in
/// between is submitted exactly once (the catch-up window runs the missed ones), none twice.
/// </summary>
public sealed class ScheduleRestartTests : IDisposable
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("spindle-restart-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dataDir, recursive: true);
    }

    private async Task<(WebApplication App, HttpClient Http)> StartAsync()
    {
        var app = SpindleServer.Build(new ServerOptions { Port = 0, DataDir = _dataDir, InsecureDev = true, NoWorker = true },
            logging => logging.SetMinimumLevel(LogLevel.Warning));
        var url = await SpindleServer.StartAsync(app, CancellationToken.None);
        return (app, new HttpClient { BaseAddress = new Uri(url) });
    }

    private static async Task StopAsync(WebApplication app, HttpClient http)
    {
        http.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
    }

    [Fact]
    public async Task Restart_WhileAnOccurrenceIsDue_SubmitsEachOccurrenceOnce()
    {
        var (app, http) = await StartAsync();
        using (var deploy = await http.PostAsync("/api/v1/workflow_definitions", new StringContent(
                   "name: report\nactivities:\n  - {key: a, activity_name: echo, worker: nobody}\n", System.Text.Encoding.UTF8, "application/yaml")))
        {
            Assert.True(deploy.IsSuccessStatusCode);
        }
        using var create = await http.PostAsJsonAsync("/api/v1/schedules", new JsonObject
        {
            ["name"] = "every-second",
            ["definition_name"] = "report",
            ["interval_seconds"] = 1,
            ["overlap_policy"] = "allow",
            ["catchup_window_seconds"] = 60,
        });
        var id = (await create.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
        await Task.Delay(2500);
        await StopAsync(app, http);
        await Task.Delay(2000); // occurrences come due while no server runs

        (app, http) = await StartAsync();
        await Task.Delay(1500);
        using (await http.PostAsJsonAsync($"/api/v1/schedules/{id}/pause", new JsonObject()))
        {
        }
        var list = await http.GetFromJsonAsync<JsonObject>($"/api/v1/workflows?schedule_id={id}&limit=1000");
        await StopAsync(app, http);

        var occurrences = list!["workflows"]!.AsArray()
            .Select(w => DateTimeOffset.Parse(w!["scheduled_at"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture))
            .OrderBy(t => t).ToList();
        Assert.InRange(occurrences.Count, 4, 8);
        Assert.Equal(occurrences.Count, occurrences.Distinct().Count());
        // No gap: the occurrences missed while the server was down ran after the restart.
        Assert.Equal(occurrences.Count - 1, (occurrences[^1] - occurrences[0]).TotalSeconds, 3);
    }
}
