using System.ComponentModel;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Spindle.Protocol;

// Activity streams (docs/api.md, Streams): the bodies of the publish routes and their answers. The frames a
// subscriber reads are described in docs/api.md.

[Description("One chunk of an activity's stream.")]
public sealed record StreamChunkRequest
{
    [Description("At most 65,536 characters.")]
    public required string Text { get; init; }

    [Description("The chunk's position, from 0 (default 0).")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Index { get; init; }
}

[Description("Ends an activity's stream with its result.")]
public sealed record StreamCompleteRequest
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonNode? Result { get; init; }
}

[Description("Ends an activity's stream with an error.")]
public sealed record StreamErrorRequest
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonNode? Error { get; init; }
}

public sealed record StreamChunkResponse
{
    [Description("How many subscribers this server has for the stream.")]
    public required int Subscribers { get; init; }
}

public sealed record StreamEndResponse
{
    public required bool Acknowledged { get; init; }

    [Description("How many subscribers this server has for the stream.")]
    public required int Subscribers { get; init; }
}

public sealed record StreamSubscriberCount
{
    [Description("Subscribers on this server.")]
    public required int Count { get; init; }
}
