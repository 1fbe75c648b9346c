using System.Text.Json.Nodes;

namespace Spindle.Worker.Std;

/// <summary><c>echo</c>: completes with <c>{"echo": &lt;parameters&gt;}</c>.</summary>
public static class EchoActivity
{
    public static Task<ActivityResult> ExecuteAsync(ActivityContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(new ActivityResult(new JsonObject { ["echo"] = context.Parameters.DeepClone() }));
    }
}
