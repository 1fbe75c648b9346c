using System.Text;
using System.Text.RegularExpressions;

namespace Spindle.Cli.Tests;

/// <summary>What one in-process CLI invocation printed and returned.</summary>
public sealed record CliResult(int ExitCode, string Out, string Err)
{
    public string All => Out + Err;

    /// <summary>The id from the <c>started workflow ID (...)</c> line of <c>spindle run</c>.</summary>
    public string WorkflowId
    {
        get
        {
            var match = Regex.Match(Out, @"started workflow (\S+) ");
            Assert.True(match.Success, $"no workflow id in output:\n{Out}\n{Err}");
            return match.Groups[1].Value;
        }
    }

    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Out}\n--- stderr ---\n{Err}";
}

/// <summary>Runs the real entry point (<see cref="CliApp.RunAsync"/>) with captured writers.</summary>
public static class Cli
{
    public static async Task<CliResult> RunAsync(params string[] args)
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var stdout = new ConcurrentWriter();
        var stderr = new ConcurrentWriter();
        var exitCode = await CliApp.RunAsync(args, stdout, stderr, cancel.Token);
        return new CliResult(exitCode, stdout.Text, stderr.Text);
    }

    /// <summary>Writes a workflow file into a temp directory and returns its path.</summary>
    public static string WriteFile(string content, string extension = ".yaml")
    {
        var path = Path.Combine(Path.GetTempPath(), "spindle-cli-tests", Guid.NewGuid().ToString("N") + extension);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    /// <summary>A definition name no other test uses.</summary>
    public static string UniqueName(string prefix) => $"{prefix}_{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>A three-step echo chain; <c>summary</c> is its only terminal activity.</summary>
    public static string EchoChain(string name, string routingKey = "std") => $$$"""
        name: {{{name}}}
        activities:
          - key: greet
            worker: {{{routingKey}}}
            activity_name: echo
            parameters: {message: "Hello, {{INPUT.name}}!"}
          - key: shout
            worker: {{{routingKey}}}
            activity_name: echo
            parameters: {message: "{{greet.echo.message | upper}}"}
            depends_on: [greet]
          - key: summary
            worker: {{{routingKey}}}
            activity_name: echo
            parameters: {loud: "{{shout.echo.message}}"}
            depends_on: [shout]
        """;

    /// <summary>Fails at once, without any worker: the first parameter template reads an undefined input.</summary>
    public static string FailingFlow(string name) => $$$"""
        name: {{{name}}}
        activities:
          - key: first
            activity_name: echo
            parameters: {message: "{{INPUT.missing.deeper}}"}
          - key: second
            activity_name: echo
            depends_on: [first]
        """;

    /// <summary>Stays pending: no worker polls its routing key.</summary>
    public static string StuckFlow(string name) => $"""
        name: {name}
        activities:
          - key: wait_here
            worker: nobody-polls-this
            activity_name: echo
        """;
}

/// <summary>A StringWriter that the command under test and the test can use from different threads.</summary>
public sealed class ConcurrentWriter : TextWriter
{
    private readonly StringBuilder _text = new();
    private readonly Lock _lock = new();

    public override Encoding Encoding => Encoding.UTF8;

    public string Text
    {
        get
        {
            lock (_lock)
            {
                return _text.ToString();
            }
        }
    }

    public override void Write(char value)
    {
        lock (_lock)
        {
            _text.Append(value);
        }
    }

    public override void Write(string? value)
    {
        lock (_lock)
        {
            _text.Append(value);
        }
    }

    public override void Write(char[] buffer, int index, int count)
    {
        lock (_lock)
        {
            _text.Append(buffer, index, count);
        }
    }

    /// <summary>Waits until the text contains <paramref name="expected"/>.</summary>
    public async Task WaitForAsync(string expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Text.Contains(expected, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"'{expected}' not printed within {timeout}; got:\n{Text}");
            await Task.Delay(20);
        }
    }
}
