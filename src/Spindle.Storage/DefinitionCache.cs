using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Core.Definitions;

namespace Spindle.Storage;

/// <summary>Definitions are immutable per version, so each one is parsed from storage once per process.</summary>
public sealed class DefinitionCache
{
    private readonly ConcurrentDictionary<(string Name, string Version), WorkflowDefinition> _byVersion = new();

    public WorkflowDefinition GetOrAdd(string name, string version, Func<string> loadJson) =>
        _byVersion.GetOrAdd((name, version), key => DefinitionParser.FromNormalized(JsonLimits.ParseStored(loadJson())!.AsObject()));

    /// <summary>For backends that load the JSON asynchronously on a miss.</summary>
    public bool TryGet(string name, string version, [NotNullWhen(true)] out WorkflowDefinition? definition) =>
        _byVersion.TryGetValue((name, version), out definition);

    public void Add(string name, string version, WorkflowDefinition definition) => _byVersion.TryAdd((name, version), definition);
}
