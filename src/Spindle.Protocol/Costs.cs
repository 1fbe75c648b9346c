using System.ComponentModel;
using System.Text.Json.Serialization;

namespace Spindle.Protocol;

// Costs (docs/api.md) and the model catalog (docs/api.md, LLM catalog and result cache). Money is a decimal string; catalog prices are decimal strings
// as written in the catalog.

public sealed record WorkflowCost
{
    public required string WorkflowId { get; init; }

    public required string WorkflowName { get; init; }

    public required string TotalCostUsd { get; init; }

    public required string? BudgetLimitUsd { get; init; }

    public required string? BudgetRemainingUsd { get; init; }

    [Description("Cost lines recorded for the workflow.")]
    public required int TotalActivities { get; init; }
}

[Description("One cost line: one attempt of an activity (or a budget abort marker).")]
public sealed record CostHistoryLine
{
    public required string ActivityKey { get; init; }

    public required int Attempt { get; init; }

    public required int Iteration { get; init; }

    public required string CostUsd { get; init; }

    public required long PromptTokens { get; init; }

    public required long OutputTokens { get; init; }

    public required long TotalTokens { get; init; }

    public required long CachedTokens { get; init; }

    public required string? Provider { get; init; }

    public required string? Model { get; init; }

    public required string? BudgetLimitUsd { get; init; }

    public required bool BudgetExceeded { get; init; }

    public required string? BudgetEvent { get; init; }

    public required string? EstimatedCostUsd { get; init; }

    public required string CreatedAt { get; init; }
}

public sealed record CostAnalytics
{
    public required int TotalWorkflows { get; init; }

    public required string TotalCostUsd { get; init; }

    public required string AvgCostPerActivity { get; init; }

    public required string AvgCostPerWorkflow { get; init; }

    public required string StartDate { get; init; }

    public required string EndDate { get; init; }

    public required int TotalActivities { get; init; }

    public required long TotalTokens { get; init; }

    public required long CachedTokens { get; init; }

    [Description("Cached over prompt tokens, 6 places; null without prompt tokens.")]
    public required double? CacheHitRate { get; init; }

    public required int BudgetAborts { get; init; }

    public required int BudgetDowngrades { get; init; }

    public required string? GroupBy { get; init; }

    [Description("With group_by only.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<CostGroup>? Groups { get; init; }

    public required IReadOnlyList<WorkflowCostTotal> TopWorkflows { get; init; }

    public required IReadOnlyList<DefinitionCostTotal> TopDefinitions { get; init; }

    [Description("The latest budget events (at most 50), newest first.")]
    public required IReadOnlyList<BudgetEventLine> BudgetEvents { get; init; }
}

public sealed record CostGroup
{
    public required string Key { get; init; }

    public required string TotalCostUsd { get; init; }

    public required int Activities { get; init; }

    public required int Workflows { get; init; }

    public required long TotalTokens { get; init; }
}

public sealed record WorkflowCostTotal
{
    public required string WorkflowId { get; init; }

    public required string DefinitionName { get; init; }

    public required string Status { get; init; }

    public required string CreatedAt { get; init; }

    public required string TotalCostUsd { get; init; }

    public required int Activities { get; init; }

    public required string? BudgetLimitUsd { get; init; }
}

public sealed record DefinitionCostTotal
{
    public required string DefinitionName { get; init; }

    public required int Workflows { get; init; }

    public required string TotalCostUsd { get; init; }

    public required string AvgCostPerWorkflow { get; init; }
}

public sealed record BudgetEventLine
{
    public required string WorkflowId { get; init; }

    public required string DefinitionName { get; init; }

    public required string ActivityKey { get; init; }

    public required string Event { get; init; }

    public required string? EstimatedCostUsd { get; init; }

    public required string? BudgetLimitUsd { get; init; }

    public required string CreatedAt { get; init; }
}

public sealed record LlmProvider
{
    public required string Name { get; init; }

    public required string DisplayName { get; init; }

    public required string? ApiEndpoint { get; init; }

    public required bool SupportsCompletion { get; init; }

    public required bool SupportsEmbeddings { get; init; }

    public required bool SupportsStreaming { get; init; }

    public required bool RequiresApiKey { get; init; }
}

public sealed record ModelSearchRequest
{
    [Description("Criteria {provider?, model?}; a model matches any of them.")]
    public required IReadOnlyList<ModelCriterion> Models { get; init; }
}

public sealed record ModelCriterion
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Provider { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Model { get; init; }
}

public sealed record ModelSearchResponse
{
    public required IReadOnlyList<LlmModel> Models { get; init; }
}

public sealed record LlmModel
{
    [Description("<provider>/<name>, as written in workflow definitions.")]
    public required string Id { get; init; }

    public required string Provider { get; init; }

    public required string Name { get; init; }

    public required string DisplayName { get; init; }

    public required string? InputPricePerMillion { get; init; }

    public required string? OutputPricePerMillion { get; init; }

    public required string? CachedInputPricePerMillion { get; init; }

    public required string? CacheWritePricePerMillion { get; init; }

    public required string? CacheStoragePricePerMillionTokenHours { get; init; }

    public required bool SupportsCompletion { get; init; }

    public required bool SupportsEmbeddings { get; init; }

    public required int? ContextWindow { get; init; }

    public required int? MaxOutputTokens { get; init; }
}
