namespace Spindle.Core.Definitions;

/// <summary>
/// Outcome of <see cref="DefinitionParser.Parse"/>. <see cref="FieldErrors"/> maps a field key of docs/workflow-format.md
/// (e.g. <c>name</c>, <c>activities[2].settings.timeout_seconds</c>, <c>activity.fetch.depends_on</c>) to its messages;
/// <see cref="Definition"/> is null whenever there is an error. <see cref="Warnings"/> never block a deploy.
/// </summary>
public sealed record DefinitionParseResult(
    WorkflowDefinition? Definition,
    IReadOnlyDictionary<string, IReadOnlyList<string>> FieldErrors,
    IReadOnlyList<string> Warnings)
{
    public bool IsValid => Definition is not null && FieldErrors.Count == 0;
}
