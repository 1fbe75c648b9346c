using System.Globalization;

namespace Spindle.Core.Common;

/// <summary>Engine time is Unix microseconds: sortable integers in storage, RFC 3339 with microseconds on the wire.</summary>
public static class Timestamps
{
    public static long Now() => ToMicros(DateTimeOffset.UtcNow);

    public static long ToMicros(DateTimeOffset value) => (value.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;

    public static DateTimeOffset FromMicros(long micros) => DateTimeOffset.UnixEpoch.AddTicks(micros * 10);

    public static string Format(long micros) =>
        FromMicros(micros).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    public static string? Format(long? micros) => micros is { } m ? Format(m) : null;

    public static long FromSeconds(double seconds) => (long)Math.Round(seconds * 1_000_000);
}
