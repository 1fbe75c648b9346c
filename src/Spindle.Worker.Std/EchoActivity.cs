using System.Globalization;
using System.Text.Json.Nodes;

namespace Spindle.Worker.Std;

/// <summary>
/// <c>echo</c>: completes with <c>{"echo": &lt;parameters&gt;}</c>. Two optional parameters make it a stand-in for
/// real work in examples and tests: <c>sleep_ms</c> waits before completing, and <c>fail_attempts</c> fails
/// retryably while the attempt number is at most that value (a flaky dependency).
/// </summary>
public static class EchoActivity
{
    public const string FlakyErrorCode = "ECHO_FLAKY";

    public static async Task<ActivityResult> ExecuteAsync(ActivityContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        cancellationToken.ThrowIfCancellationRequested();
        if (StdParameters.OptionalPositiveNumber(context.Parameters, "sleep_ms") is { } sleepMs)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(sleepMs), cancellationToken);
        }
        if (StdParameters.OptionalPositiveNumber(context.Parameters, "fail_attempts") is { } failAttempts && context.Attempt <= failAttempts)
        {
            throw new ActivityFailureException(FlakyErrorCode,
                string.Create(CultureInfo.InvariantCulture, $"echo fails attempt {context.Attempt} of the first {failAttempts} on purpose (fail_attempts)"),
                retryable: true);
        }
        return new ActivityResult(new JsonObject { ["echo"] = context.Parameters.DeepClone() });
    }
}
