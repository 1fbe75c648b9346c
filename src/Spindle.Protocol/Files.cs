using System.ComponentModel;

namespace Spindle.Protocol;

// Activity files (docs/api.md, docs/worker-protocol.md) and the result cache (docs/api.md).

[Description("A file stored for an activity.")]
public sealed record UploadedFile
{
    public required string WorkflowId { get; init; }

    public required string ActivityKey { get; init; }

    public required string Filename { get; init; }

    public required long Size { get; init; }

    public required string ContentType { get; init; }

    public required string CreatedAt { get; init; }

    [Description("postgres://{workflow_id}/{activity_key}/{filename}, whatever the storage (for compatibility).")]
    public required string Reference { get; init; }
}

/// <summary>One file of an activity in its output listing.</summary>
public sealed record ActivityFile
{
    public required string Filename { get; init; }

    public required long Size { get; init; }

    public required string ContentType { get; init; }

    public required string DownloadUrl { get; init; }
}

public sealed record CacheInvalidateRequest
{
    [Description("A glob such as \"std.llm_prompt:*\" or \"*\".")]
    public required string Pattern { get; init; }
}

public sealed record CacheDeleteResponse
{
    public required bool Success { get; init; }

    [Description("Entries deleted.")]
    public required int Count { get; init; }
}
