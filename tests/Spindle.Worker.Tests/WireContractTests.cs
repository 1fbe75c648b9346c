using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Protocol;

namespace Spindle.Worker.Tests;

/// <summary>The details of the shared wire records that the worker SDK and the server both rely on.</summary>
public sealed class WireContractTests
{
    [Fact]
    public void SpindleJsonContext_MaxDepth_EqualsTheStoresReadDepth()
    {
        Assert.Equal(JsonLimits.ReadMaxDepth, SpindleJsonContext.Default.Options.MaxDepth);
    }

    [Fact]
    public void Serialize_PollRequestWithoutOptionalFields_LeavesThemOut()
    {
        var json = JsonSerializer.Serialize(new PollRequest { RoutingKey = "std", WorkerId = "w1" }, SpindleJsonContext.Default.PollRequest);

        Assert.Equal("""{"worker":"std","worker_id":"w1","max_activities":1}""", json);
    }

    [Fact]
    public void Serialize_FailRequestNotRetryable_WritesRetryableFalse()
    {
        var request = new FailRequest { WorkerId = "w1", Error = new ActivityError { Code = "BAD", Message = "no" } };

        var json = JsonSerializer.Serialize(request, SpindleJsonContext.Default.FailRequest);

        Assert.Equal("""{"worker_id":"w1","error":{"code":"BAD","message":"no","retryable":false}}""", json);
    }

    [Fact]
    public void Serialize_CompleteRequestCost_WritesMoneyAsAString()
    {
        var request = new CompleteRequest { WorkerId = "w1", Output = new JsonObject { ["n"] = 1.50m }, CostUsd = 0.0021m };

        var json = JsonSerializer.Serialize(request, SpindleJsonContext.Default.CompleteRequest);

        Assert.Equal("""{"worker_id":"w1","output":{"n":1.50},"cost_usd":"0.0021"}""", json);
    }

    [Fact]
    public void Serialize_WorkflowActivityWithNulls_WritesTheNulls()
    {
        var activity = new WorkflowActivity
        {
            ActivityKey = "a",
            Status = "pending",
            Outputs = null,
            Error = null,
            ErrorDetail = null,
            StartedAt = null,
            ClaimedAt = null,
            CompletedAt = null,
            Attempt = 1,
            Iteration = 0,
        };

        var json = JsonSerializer.Serialize(activity, SpindleJsonContext.Default.WorkflowActivity);

        Assert.Equal("""{"activity_key":"a","status":"pending","outputs":null,"error":null,"error_detail":null,"started_at":null,"claimed_at":null,"completed_at":null,"attempt":1,"iteration":0}""", json);
    }

    [Fact]
    public void Serialize_UserJsonInARecord_KeepsItsExactText()
    {
        var value = JsonNode.Parse("""{"big":12345678901234567890.000,"s":"é<>","nested":[1e3,null]}""");
        var item = new ActivityOutputItem { Name = "result", Type = "value", Value = value };

        var json = JsonSerializer.Serialize(item, SpindleJsonContext.Default.ActivityOutputItem);

        Assert.Equal("""{"name":"result","type":"value","value":""" + value!.ToJsonString() + "}", json);
        Assert.Contains("12345678901234567890.000", json, StringComparison.Ordinal);
        Assert.Contains("1e3", json, StringComparison.Ordinal);
    }
}
