using System.ComponentModel;
using System.Text.Json.Serialization;

namespace Spindle.Protocol;

// OAuth clients and web UI sign-in links (docs/api.md, Auth and clients). Only an admin manages clients; a client's
// secret is shown once, in the answer that creates it.

[Description("An OAuth client (without its secret).")]
public sealed record Client
{
    public required string ClientId { get; init; }

    public required string Name { get; init; }

    [Description("worker, workflows and/or admin.")]
    public required IReadOnlyList<string> Scopes { get; init; }

    public required string CreatedAt { get; init; }

    public required string? RevokedAt { get; init; }

    [Description("False once revoked.")]
    public required bool Active { get; init; }
}

[Description("A new client: its fields and its secret, shown this once (only a salted hash is stored).")]
public sealed record CreateClientResponse
{
    public required string ClientId { get; init; }

    public required string Name { get; init; }

    public required IReadOnlyList<string> Scopes { get; init; }

    public required string CreatedAt { get; init; }

    public required string? RevokedAt { get; init; }

    public required bool Active { get; init; }

    public required string ClientSecret { get; init; }
}

public sealed record CreateClientRequest
{
    [Description("1-255 characters.")]
    public required string Name { get; init; }

    [Description("Of worker, workflows, admin (a space- or comma-separated string is read too); default worker and workflows.")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Scopes { get; init; }
}

public sealed record ClientList
{
    public required IReadOnlyList<Client> Clients { get; init; }

    public required int Count { get; init; }
}

public sealed record RevokeClientResponse
{
    public required string ClientId { get; init; }

    public required bool Revoked { get; init; }
}

[Description("A one-time web UI sign-in code, valid once, for five minutes.")]
public sealed record SignInLinkResponse
{
    public required string Code { get; init; }

    [Description("Seconds.")]
    public required long ExpiresIn { get; init; }

    [Description("/ui/#code=...: the code is in the fragment, which browsers never send to a server.")]
    public required string Path { get; init; }
}

public sealed record SignInRequest
{
    public required string Code { get; init; }
}
