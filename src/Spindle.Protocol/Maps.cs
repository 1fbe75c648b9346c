using System.ComponentModel;
using System.Text.Json.Nodes;

namespace Spindle.Protocol;

// The items of a map activity (docs/api.md#map-items): each is an activity execution of its own, keyed "key[index]".

[Description("A page of a map's items, in item order.")]
public sealed record MapItemList
{
    public required string WorkflowId { get; init; }

    public required string ActivityKey { get; init; }

    [Description("How many items the map has (its latest expansion).")]
    public required int Total { get; init; }

    public required int Offset { get; init; }

    public required int Limit { get; init; }

    public required IReadOnlyList<MapItemRecord> Items { get; init; }
}

public sealed record MapItemRecord
{
    [Description("0-based position in the for_each list (ITEM_INDEX).")]
    public required int Index { get; init; }

    [Description("The item's own key, \"<map key>[<index>]\", as in events, cost lines and what workers receive.")]
    public required string ActivityKey { get; init; }

    [Description("The list element (ITEM).")]
    public required JsonNode? Item { get; init; }

    public required string Status { get; init; }

    [Description("[{name, type, value}], or null before the item completes.")]
    public required IReadOnlyList<ActivityOutputItem>? Outputs { get; init; }

    public required ActivityErrorDetail? ErrorDetail { get; init; }

    public required int Attempt { get; init; }

    public required string CostUsd { get; init; }

    public required string? StartedAt { get; init; }

    public required string? CompletedAt { get; init; }
}
