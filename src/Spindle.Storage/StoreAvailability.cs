using System.Net.Sockets;
using Npgsql;

namespace Spindle.Storage;

/// <summary>
/// Tells a database that is briefly unreachable (restarting, failing over, out of connections) from a bug, so the
/// API can answer 503 and clients retry instead of reporting an internal error.
/// </summary>
public static class StoreAvailability
{
    public static bool IsUnavailable(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case NpgsqlException { IsTransient: true }:
                case PostgresException { SqlState: PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow }:
                case NpgsqlException when e.InnerException is SocketException or IOException or TimeoutException:
                    return true;
            }
        }
        return false;
    }
}
