namespace Spindle.Worker.Tests;

public sealed class BackoffTests
{
    private static readonly Backoff Subject = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2), factor: 2.0, jitter: 0.5);

    [Theory]
    [InlineData(0, 100)]
    [InlineData(1, 200)]
    [InlineData(2, 400)]
    [InlineData(4, 1600)]
    [InlineData(5, 2000)]
    [InlineData(60, 2000)]
    [InlineData(int.MaxValue, 2000)]
    public void CappedDelay_Attempt_GrowsExponentiallyUpToMax(int attempt, int expectedMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), Subject.CappedDelay(attempt));

    [Fact]
    public void CappedDelay_NegativeAttempt_TreatedAsFirst() =>
        Assert.Equal(TimeSpan.FromMilliseconds(100), Subject.CappedDelay(-3));

    [Theory]
    [InlineData(0.0, 200)]
    [InlineData(0.5, 300)]
    [InlineData(1.0, 400)]
    public void ComputeDelay_Sample_ScalesWithinJitterBand(double sample, int expectedMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), Subject.ComputeDelay(2, sample));

    [Theory]
    [InlineData(-1.0, 200)]
    [InlineData(7.0, 400)]
    [InlineData(double.NaN, 200)]
    public void ComputeDelay_SampleOutOfRange_IsClamped(double sample, int expectedMs) =>
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), Subject.ComputeDelay(2, sample));

    [Fact]
    public void ComputeDelay_AtCap_NeverExceedsMax()
    {
        for (double sample = 0; sample <= 1.0; sample += 0.1)
        {
            Assert.InRange(Subject.ComputeDelay(30, sample), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2));
        }
    }

    [Fact]
    public void ComputeDelay_NoJitter_IsDeterministic()
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(1), jitter: 0);
        Assert.Equal(TimeSpan.FromMilliseconds(200), backoff.ComputeDelay(2, 0.123));
    }

    [Fact]
    public void NextDelay_ManyCalls_StayInsideJitterBand()
    {
        for (int i = 0; i < 200; i++)
        {
            Assert.InRange(Subject.NextDelay(1), TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200));
        }
    }

    [Fact]
    public void Constructor_InvalidArguments_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(TimeSpan.FromSeconds(-1), TimeSpan.FromSeconds(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), factor: 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), jitter: 1.5));
    }
}
