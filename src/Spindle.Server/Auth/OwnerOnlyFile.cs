namespace Spindle.Server.Auth;

/// <summary>Writes secrets (signing key, local admin credential) readable by the server's user only.</summary>
public static class OwnerOnlyFile
{
    public static void WriteNew(string path, string content)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(content);
    }
}
