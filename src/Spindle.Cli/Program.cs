using System.Text;
using Spindle.Cli;

if (!Console.IsOutputRedirected)
{
    // The progress symbols (▶ ✓ ✗ ↷) need UTF-8 on consoles that default to a legacy code page.
    Console.OutputEncoding = Encoding.UTF8;
}

return await CliApp.RunAsync(args, Console.Out, Console.Error);
