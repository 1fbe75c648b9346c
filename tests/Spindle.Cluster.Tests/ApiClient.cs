using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Spindle.Cluster.Tests;

/// <summary>The few REST calls the cluster tests make, against one server.</summary>
public sealed class ApiClient(string baseUrl) : IDisposable
{
    public HttpClient Http { get; } = new() { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(60) };

    public string BaseUrl { get; } = baseUrl;

    public async Task DeployAsync(string yaml)
    {
        using var response = await Http.PostAsync("/api/v1/workflow_definitions", new StringContent(yaml, Encoding.UTF8, "application/yaml"));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    public async Task<string> SubmitAsync(string name, JsonObject? input = null)
    {
        using var response = await Http.PostAsJsonAsync("/api/v1/workflows",
            new JsonObject { ["definition_name"] = name, ["input"] = input ?? new JsonObject() });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == 201, body);
        return JsonNode.Parse(body)!["workflow_id"]!.GetValue<string>();
    }

    public async Task<JsonArray> PollAsync(string workerId, int max, int waitSeconds, string routingKey = "std")
    {
        using var response = await Http.PostAsJsonAsync("/api/v1/workers/poll", new JsonObject
        {
            ["worker"] = routingKey,
            ["worker_id"] = workerId,
            ["max_activities"] = max,
            ["wait_seconds"] = waitSeconds,
        });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonNode.Parse(body)!["activities"]!.AsArray();
    }

    public async Task<(int Status, JsonObject Body)> PostAsync(string path, JsonObject body)
    {
        using var response = await Http.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonNode.Parse(text) as JsonObject ?? new JsonObject());
    }

    public async Task<JsonObject> GetWorkflowAsync(string id, int waitSeconds = 0)
    {
        var text = await Http.GetStringAsync($"/api/v1/workflows/{id}" + (waitSeconds > 0 ? $"?wait_seconds={waitSeconds}" : ""));
        return JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>How many workflows of a definition have a status.</summary>
    public async Task<int> CountAsync(string definitionName, string status)
    {
        var text = await Http.GetStringAsync($"/api/v1/workflows?definition_name={definitionName}&status={status}&limit=1");
        return JsonNode.Parse(text)!["total"]!.GetValue<int>();
    }

    public void Dispose() => Http.Dispose();
}
