using System.Text.Json.Nodes;

namespace Spindle.Worker.Tests.Support;

internal static class TestContexts
{
    public static ActivityContext For(string activityName, JsonObject parameters) => new()
    {
        ActivityId = "act-1",
        WorkflowId = "wf-1",
        ActivityKey = "key",
        ActivityName = activityName,
        RoutingKey = "std",
        Parameters = parameters,
    };

    public static JsonObject Parse(string json) => JsonNode.Parse(json)!.AsObject();
}
