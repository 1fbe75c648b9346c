using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Spindle.Protocol;

/// <summary>
/// Source-generated serializer metadata for every wire record: snake_case names, nulls written unless a property
/// says it is left out when null (<c>[JsonIgnore(Condition = WhenWritingNull)]</c>), numbers read from strings too
/// (servers and workers of other versions).
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    NumberHandling = JsonNumberHandling.AllowReadingFromString,
    RespectNullableAnnotations = true,
    // A document at the server's depth limit sits a few levels down in a poll answer or a completion; equal to
    // Spindle.Core's JsonLimits.ReadMaxDepth (a test checks).
    MaxDepth = 256)]
[JsonSerializable(typeof(PollRequest))]
[JsonSerializable(typeof(PollResponse))]
[JsonSerializable(typeof(ClaimedActivity))]
[JsonSerializable(typeof(HeartbeatRequest))]
[JsonSerializable(typeof(HeartbeatResponse))]
[JsonSerializable(typeof(CompleteRequest))]
[JsonSerializable(typeof(CompleteResponse))]
[JsonSerializable(typeof(FailRequest))]
[JsonSerializable(typeof(FailResponse))]
[JsonSerializable(typeof(ReportRequest))]
[JsonSerializable(typeof(ReportItem))]
[JsonSerializable(typeof(ReportResponse))]
[JsonSerializable(typeof(TokenRequest))]
[JsonSerializable(typeof(TokenResponse))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(ReadinessResponse))]
[JsonSerializable(typeof(ServerInfo))]
[JsonSerializable(typeof(ErrorEnvelope))]
[JsonSerializable(typeof(SubmitWorkflowRequest))]
[JsonSerializable(typeof(SubmitWorkflowResponse))]
[JsonSerializable(typeof(WorkflowDetail))]
[JsonSerializable(typeof(WorkflowChild))]
[JsonSerializable(typeof(WorkflowList))]
[JsonSerializable(typeof(WorkflowOutputResponse))]
[JsonSerializable(typeof(ActivityOutputResponse))]
[JsonSerializable(typeof(MapItemList))]
[JsonSerializable(typeof(SignalRequest))]
[JsonSerializable(typeof(SignalResponse))]
[JsonSerializable(typeof(CancelWorkflowResponse))]
[JsonSerializable(typeof(RetryWorkflowResponse))]
[JsonSerializable(typeof(WorkflowEventList))]
[JsonSerializable(typeof(DeployDefinitionResponse))]
[JsonSerializable(typeof(DefinitionList))]
[JsonSerializable(typeof(DefinitionDetail))]
[JsonSerializable(typeof(UploadedFile))]
[JsonSerializable(typeof(CacheInvalidateRequest))]
[JsonSerializable(typeof(CacheDeleteResponse))]
[JsonSerializable(typeof(WorkflowCost))]
[JsonSerializable(typeof(List<CostHistoryLine>))]
[JsonSerializable(typeof(CostAnalytics))]
[JsonSerializable(typeof(CostSpend))]
[JsonSerializable(typeof(QueueList))]
[JsonSerializable(typeof(List<LlmProvider>))]
[JsonSerializable(typeof(ModelSearchRequest))]
[JsonSerializable(typeof(ModelSearchResponse))]
[JsonSerializable(typeof(Schedule))]
[JsonSerializable(typeof(ScheduleList))]
[JsonSerializable(typeof(ScheduleRunRecord))]
[JsonSerializable(typeof(TriggerScheduleResponse))]
[JsonSerializable(typeof(BackfillScheduleResponse))]
[JsonSerializable(typeof(CreateScheduleRequest))]
[JsonSerializable(typeof(UpdateScheduleRequest))]
[JsonSerializable(typeof(PauseScheduleRequest))]
[JsonSerializable(typeof(TriggerScheduleRequest))]
[JsonSerializable(typeof(BackfillScheduleRequest))]
[JsonSerializable(typeof(Client))]
[JsonSerializable(typeof(ClientList))]
[JsonSerializable(typeof(CreateClientRequest))]
[JsonSerializable(typeof(CreateClientResponse))]
[JsonSerializable(typeof(RevokeClientResponse))]
[JsonSerializable(typeof(SignInLinkResponse))]
[JsonSerializable(typeof(SignInRequest))]
[JsonSerializable(typeof(StreamChunkRequest))]
[JsonSerializable(typeof(StreamCompleteRequest))]
[JsonSerializable(typeof(StreamErrorRequest))]
[JsonSerializable(typeof(StreamChunkResponse))]
[JsonSerializable(typeof(StreamEndResponse))]
[JsonSerializable(typeof(StreamSubscriberCount))]
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(JsonNode))]
public sealed partial class SpindleJsonContext : JsonSerializerContext;
