using System.CommandLine;
using Spindle.Protocol;
using static Spindle.Cli.ConsoleRenderer;

namespace Spindle.Cli.Commands;

/// <summary><c>spindle clients create|list|revoke</c>: OAuth clients for workers and applications (admin scope).</summary>
internal static class ClientsCommand
{
    private static readonly string[] KnownScopes = ["worker", "workflows", "admin"];

    /// <summary>The <c>clients</c> command first, then its subcommands (each has its own help).</summary>
    public static IReadOnlyList<CommandSpec> Create()
    {
        var parent = new Command("clients", "Create, list and revoke the OAuth clients that workers and applications use.");
        var create = Create_();
        var list = List();
        var revoke = Revoke();
        parent.Subcommands.Add(create.Command);
        parent.Subcommands.Add(list.Command);
        parent.Subcommands.Add(revoke.Command);
        const string details =
            "Needs an admin token: on the server's machine the CLI uses the local admin credential from --data-dir " +
            "by itself; elsewhere set SPINDLE_CLIENT_ID and SPINDLE_CLIENT_SECRET of an admin client.";
        return
        [
            new CommandSpec(parent, details, """
                                             spindle clients create ingest-workers --scopes worker
                                             spindle clients list
                                             spindle clients revoke cl_0123456789abcdef0123
                                             """),
            create, list, revoke,
        ];
    }

    private static CommandSpec Create_()
    {
        var name = new Argument<string>("NAME") { Description = "What the client is for, e.g. the worker pool's name" };
        var scopes = new Option<string[]>("--scopes")
        {
            Description = "Scopes: worker, workflows, admin (space- or comma-separated, or repeated; default: workflows worker)",
            HelpName = "SCOPES",
            AllowMultipleArgumentsPerToken = true,
        };
        var command = new Command("create", "Create a client and print its id and secret (the secret is shown only once).");
        command.Arguments.Add(name);
        command.Options.Add(scopes);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            var requested = (io.Parse.GetValue(scopes) ?? [])
                .SelectMany(s => s.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries)).Distinct().ToList();
            if (requested.FirstOrDefault(s => !KnownScopes.Contains(s)) is { } unknown)
            {
                throw new UsageException($"unknown scope '{unknown}': use worker, workflows or admin");
            }
            using var spindle = client.CreateClient(io.Parse);
            var created = await spindle.CreateOAuthClientAsync(io.Parse.GetValue(name)!, requested.Count > 0 ? requested : ["workflows", "worker"], cancellationToken);
            if (client.WantsJson(io.Parse))
            {
                await io.Out.WriteLineAsync(PrettyJson(created, SpindleJsonContext.Default.CreateClientResponse));
                return CommandSupport.Ok;
            }
            await io.Out.WriteLineAsync($"client_id:     {created.ClientId}");
            await io.Out.WriteLineAsync($"client_secret: {created.ClientSecret}");
            await io.Out.WriteLineAsync($"scopes:        {string.Join(' ', created.Scopes)}");
            await io.Out.WriteLineAsync("Store the secret now: it is not shown again. Workers read SPINDLE_CLIENT_ID and SPINDLE_CLIENT_SECRET.");
            return CommandSupport.Ok;
        });
        return new CommandSpec(command, null, """
                                              spindle clients create ingest-workers --scopes worker
                                              spindle clients create dashboard --scopes workflows
                                              """);
    }

    private static CommandSpec List()
    {
        var command = new Command("list", "List clients with their scopes and whether they are active.");
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            using var spindle = client.CreateClient(io.Parse);
            var answer = await spindle.ListOAuthClientsAsync(cancellationToken);
            if (client.WantsJson(io.Parse))
            {
                await io.Out.WriteLineAsync(PrettyJson(answer, SpindleJsonContext.Default.ClientList));
                return CommandSupport.Ok;
            }
            var rows = answer.Clients.Select(c => new[]
            {
                c.ClientId, c.Name, string.Join(' ', c.Scopes), c.Active ? "active" : "revoked", Time(c.CreatedAt),
            }).ToList();
            await io.Out.WriteLineAsync(Table(["CLIENT ID", "NAME", "SCOPES", "STATE", "CREATED"], rows));
            return CommandSupport.Ok;
        });
        return new CommandSpec(command, null, "spindle clients list");
    }

    private static CommandSpec Revoke()
    {
        var id = new Argument<string>("CLIENT_ID") { Description = "The client to revoke" };
        var command = new Command("revoke", "Revoke a client: its secret stops working and its existing tokens are refused.");
        command.Arguments.Add(id);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            using var spindle = client.CreateClient(io.Parse);
            var answer = await spindle.RevokeOAuthClientAsync(io.Parse.GetValue(id)!, cancellationToken);
            await io.Out.WriteLineAsync(client.WantsJson(io.Parse)
                ? PrettyJson(answer, SpindleJsonContext.Default.RevokeClientResponse)
                : $"revoked {answer.ClientId}");
            return CommandSupport.Ok;
        });
        return new CommandSpec(command, null, "spindle clients revoke cl_0123456789abcdef0123");
    }
}
