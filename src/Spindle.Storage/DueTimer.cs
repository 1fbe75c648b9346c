namespace Spindle.Storage;

/// <summary>The kinds of time-driven decisions a timer pass makes.</summary>
public enum DueTimer
{
    /// <summary>A running activity whose lease ran out.</summary>
    ExpiredLease,

    /// <summary>A waiting activity whose signal did not come in time.</summary>
    SignalTimeout,

    /// <summary>A running workflow past its deadline.</summary>
    Deadline,
}
