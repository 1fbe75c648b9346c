namespace Spindle.Worker;

/// <summary>
/// Capped exponential backoff with jitter: attempt <c>n</c> (from 0) waits
/// <c>min(Max, Initial × Factor^n)</c> scaled by a random factor in <c>[1 − Jitter, 1]</c>.
/// Pure: <see cref="ComputeDelay"/> takes the random sample as an argument.
/// </summary>
public sealed class Backoff
{
    /// <summary>Backoff for a failing poll loop (server down, 5xx, auth errors).</summary>
    public static Backoff Poll { get; } = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(30));

    /// <summary>Backoff between retries of a complete/fail call.</summary>
    public static Backoff Report { get; } = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));

    public Backoff(TimeSpan initial, TimeSpan max, double factor = 2.0, double jitter = 0.5)
    {
        if (initial < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(initial), "Must not be negative.");
        }

        if (max < initial)
        {
            throw new ArgumentOutOfRangeException(nameof(max), "Must be at least the initial delay.");
        }

        if (!(factor >= 1.0) || double.IsInfinity(factor))
        {
            throw new ArgumentOutOfRangeException(nameof(factor), "Must be a finite number >= 1.");
        }

        if (!(jitter is >= 0.0 and <= 1.0))
        {
            throw new ArgumentOutOfRangeException(nameof(jitter), "Must be within [0, 1].");
        }

        Initial = initial;
        Max = max;
        Factor = factor;
        Jitter = jitter;
    }

    public TimeSpan Initial { get; }

    public TimeSpan Max { get; }

    public double Factor { get; }

    public double Jitter { get; }

    /// <summary>The delay before retry <paramref name="attempt"/> (0 = first retry) without jitter.</summary>
    public TimeSpan CappedDelay(int attempt)
    {
        if (attempt < 0)
        {
            attempt = 0;
        }

        double ms = Initial.TotalMilliseconds * Math.Pow(Factor, Math.Min(attempt, 64));
        return double.IsFinite(ms) && ms < Max.TotalMilliseconds ? TimeSpan.FromMilliseconds(ms) : Max;
    }

    /// <summary>The delay for <paramref name="attempt"/> with jitter; <paramref name="sample"/> is uniform in [0, 1].</summary>
    public TimeSpan ComputeDelay(int attempt, double sample)
    {
        sample = double.IsNaN(sample) ? 0 : Math.Clamp(sample, 0.0, 1.0);
        double capped = CappedDelay(attempt).TotalMilliseconds;
        return TimeSpan.FromMilliseconds(capped * (1.0 - Jitter + (Jitter * sample)));
    }

    /// <summary>The delay for <paramref name="attempt"/> with a random jitter.</summary>
    public TimeSpan NextDelay(int attempt) => ComputeDelay(attempt, Random.Shared.NextDouble());
}
