namespace Spindle.Worker.Std.Ai;

/// <summary>A model to call: its id as written (<c>provider/name</c>), the provider's wire format and the provider-side name.</summary>
internal sealed record ModelTarget(string Id, LlmProvider Provider, string Name);
