using System.Text.Json;
using System.Text.Json.Nodes;
using Spindle.Core.Common;
using Spindle.Protocol;
using Spindle.Server.Api;
using Spindle.Storage;

namespace Spindle.Server.Auth;

/// <summary>Client management for operators (admin scope): the secret is shown once, at creation.</summary>
public static class ClientsApi
{
    public static RouteGroupBuilder MapClientsApi(this RouteGroupBuilder api)
    {
        var clients = api.MapGroup("/clients").RequireScope(Scopes.Admin);
        clients.MapPost("", CreateClient).WithTags("Clients").WithSummary("Create an OAuth client (admin); the secret is shown once")
            .JsonBody<CreateClientRequest>().Answers<CreateClientResponse>(201, 422);
        clients.MapGet("", ListClients).WithTags("Clients").WithSummary("List OAuth clients (admin)").Answers<ClientList>();
        clients.MapDelete("/{clientId}", RevokeClient).WithTags("Clients").WithSummary("Revoke an OAuth client (admin)")
            .Answers<RevokeClientResponse>(200, 404);
        return api;
    }

    public static async Task<IResult> CreateClient(HttpRequest request, AuthService auth, CancellationToken cancellationToken)
    {
        var (body, error) = await RequestBody.ReadObjectAsync(request, allowEmpty: false, cancellationToken);
        if (error is not null)
        {
            return error;
        }
        var fields = new Fields(body!);
        var name = fields.String("name", required: true, maxLength: 255);
        var scopes = Scopes.Default.ToList();
        if (body!["scopes"] is { } scopeNode && scopeNode.GetValueKind() != JsonValueKind.Null)
        {
            var given = scopeNode switch
            {
                JsonArray array when array.All(s => s?.GetValueKind() == JsonValueKind.String) => array.Select(s => s!.GetValue<string>()).ToList(),
                JsonValue value when value.GetValueKind() == JsonValueKind.String => value.GetValue<string>().Split([' ', ','], StringSplitOptions.RemoveEmptyEntries).ToList(),
                _ => null,
            };
            if (given is null || given.Count == 0 || given.Any(s => !Scopes.IsKnown(s)))
            {
                fields.Error("scopes", "scopes must be a non-empty list of worker, workflows, admin");
            }
            else
            {
                scopes = given.Distinct().ToList();
            }
        }
        if (fields.HasErrors)
        {
            return ApiErrors.Validation(fields.Errors);
        }
        var secret = SecretHasher.NewSecret();
        var client = new OAuthClient("cl_" + Guid.NewGuid().ToString("N")[..20], name!, SecretHasher.Hash(secret), scopes, Timestamps.Now(), null);
        await auth.Clients.CreateClientAsync(client, cancellationToken);
        return Json.Result(new CreateClientResponse
        {
            ClientId = client.ClientId,
            Name = client.Name,
            Scopes = client.Scopes,
            CreatedAt = Timestamps.Format(client.CreatedAt),
            RevokedAt = Timestamps.Format(client.RevokedAt),
            Active = client.IsActive,
            ClientSecret = secret,
        }, SpindleJsonContext.Default.CreateClientResponse, 201);
    }

    public static async Task<IResult> ListClients(AuthService auth, CancellationToken cancellationToken)
    {
        var clients = await auth.Clients.ListClientsAsync(cancellationToken);
        return Json.Result(new ClientList { Clients = clients.Select(Describe).ToList(), Count = clients.Count },
            SpindleJsonContext.Default.ClientList);
    }

    public static async Task<IResult> RevokeClient(string clientId, AuthService auth, CancellationToken cancellationToken) =>
        await auth.RevokeAsync(clientId, cancellationToken)
            ? Json.Result(new RevokeClientResponse { ClientId = clientId, Revoked = true }, SpindleJsonContext.Default.RevokeClientResponse)
            : ApiErrors.NotFound($"Client {clientId} not found");

    private static Client Describe(OAuthClient c) => new()
    {
        ClientId = c.ClientId,
        Name = c.Name,
        Scopes = c.Scopes,
        CreatedAt = Timestamps.Format(c.CreatedAt),
        RevokedAt = Timestamps.Format(c.RevokedAt),
        Active = c.IsActive,
    };
}
