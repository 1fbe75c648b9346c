using Spindle.Core.Costs;
using Spindle.Core.Templates;

namespace Spindle.Core.Orchestration;

/// <summary>Server-wide defaults and the environment templates may read (secrets).</summary>
public sealed class EngineDefaults
{
    public int ActivityTimeoutSeconds { get; init; } = 60;
    /// <summary>
    /// Deadline for workflows without <c>settings.timeout</c> (docs/workflow-format.md, Retries, leases and the deadline); 0, the default, means none: approval gates and
    /// long delays must not die on a limit their author never asked for.
    /// </summary>
    public int WorkflowTimeoutSeconds { get; init; }

    /// <summary>Engine time (submission, leases, delays, deadlines); tests pass a fake one to cross hours in no time.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;
    public int MaxRetries { get; init; } = 3;

    /// <summary>Budget of one activity's templates (or one edge's conditions): they run inside the store's write
    /// transaction, so an unbounded template would hold up every other workflow.</summary>
    public TemplateLimits TemplateLimits { get; init; } = TemplateLimits.Default;

    /// <summary>Prices for the budget check before enqueue and retry (docs/workflow-format.md, Budgets); the shipped catalog unless the server loads an override.</summary>
    public ModelCatalog ModelCatalog { get; init; } = ModelCatalog.Shipped;

    /// <summary><c>SECRET</c> in templates: SPINDLE_SECRET_NAME / KRUXIAFLOW_SECRET_NAME, keyed by lower-case NAME.
    /// Read only when an activity is handed to a worker (<see cref="SecretParameters"/>); never stored.</summary>
    public IReadOnlyDictionary<string, string> Secrets { get; init; } = new Dictionary<string, string>();

    public static IReadOnlyDictionary<string, string> SecretsFromEnvironment()
    {
        var secrets = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            var name = (string)entry.Key;
            foreach (var prefix in new[] { "KRUXIAFLOW_SECRET_", "SPINDLE_SECRET_" })
            {
                if (name.StartsWith(prefix, StringComparison.Ordinal) && name.Length > prefix.Length)
                {
                    secrets[name[prefix.Length..].ToLowerInvariant()] = (string?)entry.Value ?? "";
                }
            }
        }
        return secrets;
    }
}
