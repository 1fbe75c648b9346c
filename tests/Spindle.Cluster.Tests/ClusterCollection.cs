using Spindle.TestSupport;

// Every test here runs servers, workers and a database on the same two cores: one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Spindle.Cluster.Tests;

/// <summary>One throwaway PostgreSQL cluster for the assembly; each test gets its own database (and may restart the cluster).</summary>
[CollectionDefinition(PostgresFixture.CollectionName)]
public sealed class ClusterCollection : ICollectionFixture<PostgresFixture>;
