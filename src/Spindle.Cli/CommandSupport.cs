using System.CommandLine;

namespace Spindle.Cli;

/// <summary>What a command's action gets: the parse result and the writers of this invocation.</summary>
public sealed record CommandIo(ParseResult Parse, TextWriter Out, TextWriter Err);

internal static class CommandSupport
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int UsageError = 2;
    public const int Interrupted = 130;

    /// <summary>
    /// Sets the command's action and turns the CLI's expected failures (server error envelopes, an unreachable
    /// server, bad values) into one readable message and an exit code, never a stack trace.
    /// </summary>
    public static void SetCliAction(this Command command, Func<CommandIo, CancellationToken, Task<int>> action, bool suggestEmbedded = false)
    {
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var io = new CommandIo(parseResult, parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error);
            try
            {
                return await action(io, cancellationToken);
            }
            catch (ApiCallException ex)
            {
                await WriteApiErrorAsync(io.Err, ex, prefix: null);
                return Failed;
            }
            catch (ServerUnreachableException ex)
            {
                await io.Err.WriteLineAsync("error: " + ex.Describe(suggestEmbedded));
                return Failed;
            }
            catch (UsageException ex)
            {
                await io.Err.WriteLineAsync("error: " + ex.Message);
                return UsageError;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await io.Err.WriteLineAsync("interrupted");
                return Interrupted;
            }
            catch (Exception ex)
            {
                await io.Err.WriteLineAsync($"error: unexpected {ex.GetType().Name}: {ex.Message}");
                return Failed;
            }
        });
    }

    /// <summary>The envelope's message, then each field error as <c>  field: message</c>.</summary>
    public static async Task WriteApiErrorAsync(TextWriter err, ApiCallException ex, string? prefix)
    {
        await err.WriteLineAsync($"error: {prefix}{ex.Message}");
        foreach (var field in ex.FieldErrors)
        {
            await err.WriteLineAsync($"  {field.Field}: {field.Message}");
        }
    }

    /// <summary>Reads a text file named on the command line, turning I/O problems into a usage error.</summary>
    public static async Task<string> ReadFileAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            return await File.ReadAllTextAsync(path, cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read {path}: {ex.Message}");
        }
    }

    public static string? Env(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value.Trim() : null;
}

/// <summary><c>--api-url</c> and <c>--json</c>, shared by every command that talks to a running server.</summary>
internal sealed class ClientOptions
{
    public const string DefaultApiUrl = "http://127.0.0.1:8080";

    public Option<string> ApiUrl { get; } = new("--api-url")
    {
        Description = "Base URL of the Spindle server (env SPINDLE_API_URL)",
        HelpName = "URL",
        DefaultValueFactory = _ => CommandSupport.Env("SPINDLE_API_URL") ?? DefaultApiUrl,
    };

    public Option<bool> Json { get; } = new("--json") { Description = "Print the server's JSON instead of text" };

    public Option<string> DataDir { get; } = new("--data-dir")
    {
        Description = "Data directory of a server on this machine, whose admin credential the CLI uses when " +
                      "SPINDLE_CLIENT_ID/SPINDLE_CLIENT_SECRET are not set (env SPINDLE_DATA_DIR)",
        HelpName = "DIR",
        DefaultValueFactory = _ => CommandSupport.Env("SPINDLE_DATA_DIR") ?? ".spindle",
    };

    public static ClientOptions AddTo(Command command)
    {
        var options = new ClientOptions();
        command.Options.Add(options.ApiUrl);
        command.Options.Add(options.Json);
        command.Options.Add(options.DataDir);
        return options;
    }

    public bool WantsJson(ParseResult parseResult) => parseResult.GetValue(Json);

    public SpindleClient CreateClient(ParseResult parseResult) =>
        CreateClient(parseResult.GetValue(ApiUrl) ?? DefaultApiUrl, parseResult.GetValue(DataDir));

    /// <summary>
    /// Credentials, first found wins: SPINDLE_CLIENT_ID / SPINDLE_CLIENT_SECRET (as workers use them), then the
    /// local admin credential a server on this machine wrote to its data directory. Without either, no token is
    /// sent (a server in insecure dev mode).
    /// </summary>
    public static SpindleClient CreateClient(string apiUrl, string? dataDir = null)
    {
        if (!Uri.TryCreate(apiUrl, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            throw new UsageException($"--api-url '{apiUrl}' is not an http(s) URL such as {DefaultApiUrl}");
        }
        var clientId = CommandSupport.Env("SPINDLE_CLIENT_ID");
        var secret = CommandSupport.Env("SPINDLE_CLIENT_SECRET");
        var credentials = clientId is not null && secret is not null
            ? new ClientCredentials(clientId, secret)
            : LocalAdminCredential.TryRead(dataDir ?? CommandSupport.Env("SPINDLE_DATA_DIR") ?? ".spindle");
        return new SpindleClient(url, credentials);
    }
}
