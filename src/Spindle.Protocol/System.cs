using System.ComponentModel;
using System.Text.Json.Serialization;

namespace Spindle.Protocol;

// Health, server information and access tokens (docs/api.md-5). Clients read these from servers of any version,
// so the fields a client reads are nullable.

public sealed record HealthResponse
{
    public required string Status { get; init; }

    public required bool InsecureDev { get; init; }
}

public sealed record ReadinessResponse
{
    [Description("ready or not_ready (with 503).")]
    public required string Status { get; init; }

    public required IReadOnlyDictionary<string, ReadinessCheck> Checks { get; init; }
}

public sealed record ReadinessCheck
{
    public required string Status { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Message { get; init; }
}

/// <summary><c>GET /api/v1/info</c>.</summary>
public sealed record ServerInfo
{
    public string? Name { get; init; }

    public string? Version { get; init; }

    public string? BuildTimestamp { get; init; }

    public string? BuildGitHash { get; init; }

    public string? ApiVersion { get; init; }

    public IReadOnlyList<string>? Features { get; init; }

    public bool? InsecureDev { get; init; }

    /// <summary>The server's request limits (absent on older servers).</summary>
    public ServerLimits? Limits { get; init; }
}

/// <summary>The <c>limits</c> of <c>GET /api/v1/info</c>: clients check a body against these before sending it.</summary>
public sealed record ServerLimits
{
    /// <summary>The largest request body the server reads; a larger one gets 413 <c>PAYLOAD_TOO_LARGE</c>.</summary>
    public long? MaxBodyBytes { get; init; }

    /// <summary>How deep a JSON document (an output, an input...) may nest; a deeper one gets 422.</summary>
    public int? MaxJsonDepth { get; init; }
}

public sealed record TokenRequest
{
    public string GrantType { get; set; } = "client_credentials";

    public required string ClientId { get; init; }

    public required string ClientSecret { get; init; }
}

public sealed record TokenResponse
{
    public string AccessToken { get; set; } = "";

    public string? TokenType { get; init; }

    public long? ExpiresIn { get; init; }

    [Description("The granted scopes, space-separated.")]
    public string? Scope { get; init; }
}
