using System.CommandLine;
using System.Diagnostics;
using static Spindle.Cli.ConsoleRenderer;

namespace Spindle.Cli.Commands;

/// <summary>
/// <c>spindle ui</c>: prints (and opens, when a desktop session is there) a one-time sign-in link to the server's
/// web UI, made with this machine's admin credential, as Jupyter prints its token link.
/// </summary>
internal static class UiCommand
{
    public static CommandSpec Create()
    {
        var noBrowser = new Option<bool>("--no-browser") { Description = "Only print the link; do not try to open a browser" };
        var command = new Command("ui", "Print a one-time sign-in link to the web UI (and open it in a browser when there is one).");
        command.Options.Add(noBrowser);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            using var spindle = client.CreateClient(io.Parse);
            var baseUrl = spindle.BaseUrl.AbsoluteUri.TrimEnd('/');
            string url;
            string note;
            try
            {
                var link = await spindle.CreateSignInLinkAsync(cancellationToken);
                url = baseUrl + link.Path;
                note = $"one use, within {link.ExpiresIn} s";
            }
            catch (ApiCallException e) when (e.StatusCode == 400)
            {
                url = baseUrl + "/ui/"; // an --insecure-dev server: no sign-in at all
                note = "no sign-in needed: the server runs with --insecure-dev";
            }
            if (client.WantsJson(io.Parse))
            {
                await io.Out.WriteLineAsync(PrettyJson(new System.Text.Json.Nodes.JsonObject { ["url"] = url }));
            }
            else
            {
                await io.Out.WriteLineAsync($"Open the web UI ({note}):");
                await io.Out.WriteLineAsync("    " + url);
            }
            if (!io.Parse.GetValue(noBrowser))
            {
                TryOpenBrowser(url);
            }
            return CommandSupport.Ok;
        });
        const string details =
            "Uses the credential the CLI finds (SPINDLE_CLIENT_ID/SPINDLE_CLIENT_SECRET, else the local admin credential " +
            "in --data-dir), which must have the admin scope. The code is in the link's fragment, which browsers never " +
            "send to a server; the UI trades it once for a token kept in the tab's session storage. A browser is opened " +
            "only in a desktop session (DISPLAY or WAYLAND_DISPLAY set, xdg-open present).";
        return new CommandSpec(command, details, """
                         spindle ui
                         spindle ui --api-url http://127.0.0.1:9000 --no-browser
                         """);
    }

    private static void TryOpenBrowser(string url)
    {
        if (Environment.GetEnvironmentVariable("DISPLAY") is not { Length: > 0 } && Environment.GetEnvironmentVariable("WAYLAND_DISPLAY") is not { Length: > 0 })
        {
            return;
        }
        try
        {
            using var opener = Process.Start(new ProcessStartInfo("xdg-open", [url]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true });
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No xdg-open: the printed link is enough.
        }
    }
}
