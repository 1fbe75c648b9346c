using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Reflection;
using System.Text;
using Spindle.Cli.Commands;

namespace Spindle.Cli;

/// <summary>The <c>spindle</c> command line: builds the command tree and runs one invocation.</summary>
public static class CliApp
{
    /// <summary>The CLI's version: the assembly's informational version, with the commit hash shortened.</summary>
    public static string Version { get; } = ReadVersion();

    /// <summary>Parses <paramref name="args"/> and runs the command, writing to the given writers; returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        var root = BuildRootCommand();
        var configuration = new InvocationConfiguration
        {
            Output = stdout,
            Error = stderr,
            // serve and worker handle Ctrl+C / SIGTERM themselves (host shutdown, worker drain), which needs more
            // than the library's fixed grace period; other commands simply end with the process.
            ProcessTerminationTimeout = null,
            EnableDefaultExceptionHandler = false,
        };
        return await root.Parse(args).InvokeAsync(configuration, cancellationToken);
    }

    public static RootCommand BuildRootCommand()
    {
        var root = new RootCommand("Spindle: a durable workflow engine. Run a server, deploy YAML workflows, run them and inspect them.");
        const string rootDetails =
            "Client commands talk to a server over its HTTP API (--api-url, default $SPINDLE_API_URL or " +
            ClientOptions.DefaultApiUrl + "); `run --embedded` needs no server at all. Run `spindle COMMAND --help` for details.";
        var specs = new List<CommandSpec>
        {
            new(root, rootDetails, """
                                   spindle run examples/01-hello-chain.yaml --embedded --input '{"name": "Ada"}'
                                   spindle serve
                                   spindle list --status failed
                                   """),
            ServeCommand.Create(),
            WorkerCommand.Create(),
            DeployCommand.Create(),
            RunCommand.Create(),
            StatusCommand.Create(),
            ListCommand.Create(),
            EventsCommand.Create(),
            CancelCommand.Create(),
            RetryCommand.Create(),
            UiCommand.Create(),
            SignalCommand.Create(),
        };
        specs.AddRange(SchedulesCommand.Create());
        specs.AddRange(ClientsCommand.Create());
        specs.AddRange(CostCommand.Create());
        foreach (var spec in specs.Where(s => s.Command != root && !s.Command.Parents.Any()))
        {
            root.Subcommands.Add(spec.Command);
        }
        var help = specs.ToDictionary(s => s.Command);

        foreach (var option in root.Options)
        {
            if (option is HelpOption helpOption && helpOption.Action is HelpAction defaultHelp)
            {
                helpOption.Action = new HelpWithDetailsAction(defaultHelp, help);
            }
            else if (option is VersionOption version)
            {
                // The library's default reads the entry assembly, which is the test host when tests call RunAsync.
                version.Action = new PrintVersionAction();
            }
        }
        return root;
    }

    private static string ReadVersion()
    {
        var informational = typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        var plus = informational.IndexOf('+', StringComparison.Ordinal);
        return plus >= 0 && informational.Length - plus > 8 ? informational[..(plus + 8)] : informational;
    }

    /// <summary>The default help followed by the command's "Details:" and "Examples:" sections.</summary>
    private sealed class HelpWithDetailsAction(HelpAction inner, IReadOnlyDictionary<Command, CommandSpec> specs) : SynchronousCommandLineAction
    {
        private const int Width = 100;

        public override int Invoke(ParseResult parseResult)
        {
            var result = inner.Invoke(parseResult);
            if (!specs.TryGetValue(parseResult.CommandResult.Command, out var spec))
            {
                return result;
            }
            var output = parseResult.InvocationConfiguration.Output;
            if (spec.Details is not null)
            {
                output.WriteLine("Details:");
                foreach (var line in Wrap(spec.Details, Width - 2))
                {
                    output.WriteLine("  " + line);
                }
                output.WriteLine();
            }
            output.WriteLine("Examples:");
            foreach (var line in spec.Examples.Split('\n'))
            {
                output.WriteLine("  " + line.TrimEnd('\r'));
            }
            output.WriteLine();
            return result;
        }

        private static IEnumerable<string> Wrap(string text, int width)
        {
            var line = new StringBuilder();
            foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (line.Length > 0 && line.Length + 1 + word.Length > width)
                {
                    yield return line.ToString();
                    line.Clear();
                }
                line.Append(line.Length > 0 ? " " : "").Append(word);
            }
            if (line.Length > 0)
            {
                yield return line.ToString();
            }
        }
    }

    private sealed class PrintVersionAction : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine($"spindle {Version}");
            return 0;
        }
    }
}

/// <summary>A command with the help text shown after its options: details and usage examples.</summary>
public sealed record CommandSpec(Command Command, string? Details, string Examples);
