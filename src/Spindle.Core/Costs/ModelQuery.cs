namespace Spindle.Core.Costs;

/// <summary>
/// One criterion of <c>POST /api/v1/llm/models/search</c>: a missing <see cref="Provider"/> or <see cref="Model"/>
/// matches anything. <see cref="Model"/> matches a model's name or full id, ignoring case.
/// </summary>
public sealed record ModelQuery(string? Provider = null, string? Model = null);
