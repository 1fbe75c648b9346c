using System.Runtime.InteropServices;

namespace Spindle.Server.Hosting;

/// <summary>
/// <c>spindle serve</c> marks its process non-dumpable on Linux (<c>prctl(PR_SET_DUMPABLE, 0)</c>): the kernel then
/// lets no other process of the same user read its <c>/proc/&lt;pid&gt;/environ</c> (the <c>SPINDLE_SECRET_*</c>
/// values, a database URL with its password) or its memory, nor attach a debugger; only root can. Defence in depth for
/// whatever else runs as the server's user. The cost: no core files and no <c>dotnet-dump</c> of the server, hence
/// <c>--dumpable</c>.
/// </summary>
public static partial class ProcessProtection
{
    private const int PrSetDumpable = 4;

    [DllImport("libc", EntryPoint = "prctl", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    /// <summary>Marks this process non-dumpable (Linux only) and logs the outcome once.</summary>
    public static void MakeNonDumpable(ILogger logger)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        if (Prctl(PrSetDumpable, 0, 0, 0, 0) == 0)
        {
            LogNonDumpable(logger);
        }
        else
        {
            LogFailed(logger, Marshal.GetLastPInvokeError());
        }
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Process marked non-dumpable: other processes of this user cannot read its environment or memory (--dumpable to allow memory dumps)")]
    private static partial void LogNonDumpable(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not mark the process non-dumpable (errno {Errno}): processes of this user can read its environment")]
    private static partial void LogFailed(ILogger logger, int errno);
}
