using Spindle.TestSupport;

namespace Spindle.Server.Tests;

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}

/// <summary>A server that requires tokens (the default outside dev mode).</summary>
public sealed class SecureServerFixture : ServerFixture
{
    protected override bool InsecureDev => false;
}

[CollectionDefinition(Name)]
public sealed class SecureServerCollection : ICollectionFixture<SecureServerFixture>
{
    public const string Name = "secure-server";
}

/// <summary>A server as <c>spindle serve</c> runs it: with the std worker polling over loopback HTTP.</summary>
public sealed class StdWorkerServerFixture : ServerFixture
{
    protected override bool WithStdWorker => true;
}

[CollectionDefinition(Name)]
public sealed class StdWorkerServerCollection : ICollectionFixture<StdWorkerServerFixture>
{
    public const string Name = "server-with-std-worker";
}

/// <summary>A server with template secrets configured (as SPINDLE_SECRET_* would).</summary>
public sealed class SecretsServerFixture : ServerFixture
{
    public const string DbUrl = "postgres://app:Hunter2-DbPassword@db.internal/app";

    protected override IReadOnlyDictionary<string, string>? Secrets => new Dictionary<string, string> { ["db_url"] = DbUrl };
}

[CollectionDefinition(Name)]
public sealed class SecretsServerCollection : ICollectionFixture<SecretsServerFixture>
{
    public const string Name = "server-with-secrets";
}
