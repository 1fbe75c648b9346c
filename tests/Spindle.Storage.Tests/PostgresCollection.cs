using Spindle.TestSupport;

namespace Spindle.Storage.Tests;

/// <summary>One throwaway PostgreSQL cluster for every PostgreSQL test class of this assembly; each test gets its own database.</summary>
[CollectionDefinition(PostgresFixture.CollectionName)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>;
