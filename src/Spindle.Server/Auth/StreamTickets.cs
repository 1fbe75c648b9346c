using Spindle.Storage;

namespace Spindle.Server.Auth;

/// <summary>
/// Short-lived, single-use stream tickets: a browser asks for one with its token (header) and opens an
/// <c>EventSource</c> or WebSocket with <c>?ticket=</c>, so the long-lived token never appears in a URL (and so in
/// proxy logs or browser history). A ticket stands for its issuer's identity with the <c>workflows</c> scope only, is
/// valid for <see cref="Lifetime"/>, is redeemed by the first connection that presents it, and only on the stream
/// routes. Tickets live in the engine's database (<see cref="IOneTimeCodeStore"/>), so a ticket one server issued opens
/// a stream on any server of the cluster.
/// </summary>
public sealed class StreamTickets(IOneTimeCodeStore codes, TimeProvider? time = null)
{
    public const string Kind = "stream-ticket";

    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(60);

    /// <summary>Unredeemed tickets one client may hold at once; beyond it new ones are refused until old ones expire.</summary>
    public const int LimitPerClient = 1000;

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <returns>The ticket and when it expires, or null when the issuer holds too many unredeemed ones.</returns>
    public async Task<(string Ticket, DateTimeOffset ExpiresAt)?> IssueAsync(TokenPrincipal issuer, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var ticket = "st_" + OneTimeCodeText.New();
        var expiresAt = now + Lifetime;
        var code = new OneTimeCode(Kind, issuer.ClientId, [Scopes.Workflows], now.ToUnixTimeMilliseconds(), expiresAt.ToUnixTimeMilliseconds());
        return await codes.AddAsync(OneTimeCodeText.Hash(ticket), code, now.ToUnixTimeMilliseconds(), LimitPerClient, cancellationToken)
            ? (ticket, expiresAt)
            : null;
    }

    /// <summary>The ticket's principal, once: a second use, an unknown or an expired ticket gets null.</summary>
    public async Task<TokenPrincipal?> RedeemAsync(string ticket, CancellationToken cancellationToken)
    {
        if (ticket.Length is 0 or > 100)
        {
            return null;
        }
        var code = await codes.TakeAsync(OneTimeCodeText.Hash(ticket), Kind, _time.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken);
        return code?.ToPrincipal();
    }
}

/// <summary>Endpoint metadata: the route (a stream) also accepts a stream ticket as <c>?ticket=</c>.</summary>
public sealed class StreamTicketAllowed
{
    public static readonly StreamTicketAllowed Instance = new();
}
