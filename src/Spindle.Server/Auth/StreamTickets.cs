using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Spindle.Server.Auth;

/// <summary>
/// Short-lived, single-use stream tickets: a browser asks for one with its token (header) and opens an
/// <c>EventSource</c> or WebSocket with <c>?ticket=</c>, so the long-lived token never appears in a URL (and so in
/// proxy logs or browser history). A ticket stands for its issuer's identity with the <c>workflows</c> scope only, is
/// valid for <see cref="Lifetime"/>, is redeemed by the first connection that presents it, and only on the stream
/// routes. Tickets live in this server's memory: a ticket is redeemed on the server that issued it.
/// </summary>
public sealed class StreamTickets(TimeProvider? time = null)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(60);

    /// <summary>Unredeemed tickets kept at once; beyond it new ones are refused until old ones expire.</summary>
    public const int Capacity = 100_000;

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<string, Issued> _tickets = new(StringComparer.Ordinal);
    private long _issued;

    /// <returns>The ticket and when it expires, or null when too many are outstanding.</returns>
    public (string Ticket, DateTimeOffset ExpiresAt)? Issue(TokenPrincipal issuer)
    {
        var now = _time.GetUtcNow();
        // Tickets never redeemed are dropped now and then (every 1,024 issued), and always before refusing one.
        if (Interlocked.Increment(ref _issued) % 1024 == 0 || _tickets.Count >= Capacity)
        {
            Sweep(now);
        }
        if (_tickets.Count >= Capacity)
        {
            return null;
        }
        var ticket = "st_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var expiresAt = now + Lifetime;
        // Only a hash is kept: a memory dump does not hand out live tickets.
        _tickets[Hash(ticket)] = new Issued(new TokenPrincipal(issuer.ClientId, [Scopes.Workflows], now.ToUnixTimeSeconds(), expiresAt.ToUnixTimeSeconds()), expiresAt);
        return (ticket, expiresAt);
    }

    /// <summary>The ticket's principal, once: a second use, an unknown or an expired ticket gets null.</summary>
    public TokenPrincipal? Redeem(string ticket)
    {
        if (ticket.Length is 0 or > 100 || !_tickets.TryRemove(Hash(ticket), out var issued))
        {
            return null;
        }
        return issued.ExpiresAt > _time.GetUtcNow() ? issued.Principal : null;
    }

    private void Sweep(DateTimeOffset now)
    {
        foreach (var (key, issued) in _tickets)
        {
            if (issued.ExpiresAt <= now)
            {
                _tickets.TryRemove(key, out _);
            }
        }
    }

    private static string Hash(string ticket) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(ticket)));

    private sealed record Issued(TokenPrincipal Principal, DateTimeOffset ExpiresAt);
}

/// <summary>Endpoint metadata: the route (a stream) also accepts a stream ticket as <c>?ticket=</c>.</summary>
public sealed class StreamTicketAllowed
{
    public static readonly StreamTicketAllowed Instance = new();
}
