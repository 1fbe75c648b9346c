using Spindle.Core.Definitions;

namespace Spindle.Core.Orchestration;

/// <summary>The wait after a failed attempt (docs/workflow-format.md).</summary>
public static class RetryBackoff
{
    /// <param name="failedAttempt">1 for the first failed attempt of the current allowance.</param>
    public static double DelaySeconds(RetryPolicy policy, int failedAttempt)
    {
        if (policy.Strategy == "fixed")
        {
            return policy.BaseSeconds;
        }
        var n = Math.Max(1, failedAttempt);
        var delay = policy.BaseSeconds * Math.Pow(policy.Factor, n - 1);
        return Math.Min(double.IsFinite(delay) ? delay : policy.MaxSeconds, policy.MaxSeconds);
    }
}
