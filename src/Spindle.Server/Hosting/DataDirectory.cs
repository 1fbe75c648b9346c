using Spindle.Server.Auth;
using Spindle.Storage.Sqlite;

namespace Spindle.Server.Hosting;

/// <summary>
/// The data directory holds the database, the token signing key and the local admin credential, so it is private:
/// created 0700, and every file the server keeps in it 0600. A directory a user made wider is reported at start (the
/// user may have reasons); files the server itself created are tightened back, and reported too.
/// </summary>
public static partial class DataDirectory
{
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>What <see cref="Prepare"/> found: the directory's mode when wider than 0700, and the files it tightened.</summary>
    public sealed record Report(string Path, UnixFileMode? WiderDirectoryMode, IReadOnlyList<string> Tightened);

    /// <summary>Creates <paramref name="dir"/> 0700 when missing; tightens the server's own files in it to 0600.</summary>
    public static Report Prepare(ServerOptions options)
    {
        var dir = options.DataDir;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(dir);
            return new Report(dir, null, []);
        }
        if (!Directory.Exists(dir))
        {
            CreatePrivate(dir);
        }
        var mode = File.GetUnixFileMode(dir);
        var tightened = new List<string>();
        var own = new List<string>(PrivateDatabaseFile.FilesOf(options.DatabasePath))
        {
            options.EffectiveSigningKeyPath,
            Path.Combine(dir, AuthBootstrap.AdminCredentialFile),
        };
        foreach (var path in own)
        {
            if (PrivateDatabaseFile.TightenIfWider(path))
            {
                tightened.Add(path);
            }
        }
        return new Report(dir, (mode & GroupOrOther) != 0 ? mode : null, tightened);
    }

    /// <summary>Creates a directory (and missing parents) readable by the owner only.</summary>
    public static void CreatePrivate(string dir)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(dir);
            return;
        }
        Directory.CreateDirectory(dir, OwnerOnly);
    }

    public static void Log(Report report, ILogger logger)
    {
        if (report.WiderDirectoryMode is { } mode)
        {
            LogWiderDirectory(logger, report.Path, Octal(mode));
        }
        foreach (var path in report.Tightened)
        {
            LogTightened(logger, path);
        }
    }

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode & 0x1FF, 8).PadLeft(4, '0');

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Data directory {Path} is mode {Mode}: other users can list it; it holds the database and the signing key, so make it private (chmod 700 {Path})")]
    private static partial void LogWiderDirectory(ILogger logger, string path, string mode);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Path} was readable or writable by other users; its mode is now 0600")]
    private static partial void LogTightened(ILogger logger, string path);
}
