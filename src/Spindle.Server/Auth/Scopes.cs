namespace Spindle.Server.Auth;

/// <summary>Token scopes (docs/api.md): what a client may do.</summary>
public static class Scopes
{
    /// <summary>Poll, heartbeat, complete, fail, files.</summary>
    public const string Worker = "worker";

    /// <summary>Definitions, submit, read, cancel, retry, signal, costs, schedules.</summary>
    public const string Workflows = "workflows";

    /// <summary>Everything, including client management.</summary>
    public const string Admin = "admin";

    public static readonly IReadOnlyList<string> All = [Worker, Workflows, Admin];

    /// <summary>Scopes of clients created without explicit ones, so Kruxia Flow deployments keep working.</summary>
    public static readonly IReadOnlyList<string> Default = [Workflows, Worker];

    public static bool IsKnown(string scope) => scope is Worker or Workflows or Admin;

    public static bool Grants(IReadOnlyCollection<string> granted, string required) =>
        granted.Contains(Admin) || granted.Contains(required);
}

/// <summary>Endpoint metadata: the scope a route needs (or an alternative one). Routes without it are public.</summary>
public sealed record RequiredScope(string Scope, string? OrScope = null)
{
    public bool IsGrantedBy(IReadOnlyCollection<string> granted) =>
        Scopes.Grants(granted, Scope) || (OrScope is not null && Scopes.Grants(granted, OrScope));
}

public static class RequiredScopeExtensions
{
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, string scope, string? orScope = null) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new RequiredScope(scope, orScope));
}
