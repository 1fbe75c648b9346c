using Spindle.Core.Common;
using Spindle.Core.Orchestration;
using Spindle.Server.Auth;
using Spindle.Storage;
using Spindle.Storage.Sqlite;

namespace Spindle.Server.Tests;

/// <summary>
/// The token endpoint's guessing limit, on <see cref="AuthService"/> with a real SQLite client store: failures lock
/// the (client id, address) pair and an address guessing at many ids, never a client id for everyone; and an
/// unknown id costs the same hash as a known one.
/// </summary>
public sealed class TokenLockoutTests : IAsyncLifetime, IDisposable
{
    private const string Guesser = "203.0.113.7";
    private const string Innocent = "198.51.100.20";
    private readonly string _dir = Directory.CreateTempSubdirectory("spindle-lockout-").FullName;
    private readonly CountingVerifier _verifier = new();
    private SqliteClientStore _clients = null!;
    private AuthService _auth = null!;
    private FailedAttemptLimiter _limiter = null!;
    private SigningKey _key = null!;

    public async Task InitializeAsync()
    {
        var path = Path.Combine(_dir, "spindle.db");
        await using (var store = new SqliteWorkflowStore(path, new EngineDefaults()))
        {
            await store.MigrateAsync(CancellationToken.None); // creates the clients table
        }
        _clients = new SqliteClientStore(path);
        _key = SigningKey.LoadOrCreate(Path.Combine(_dir, "signing-key.pem"));
        _limiter = new FailedAttemptLimiter();
        _auth = new AuthService(new AccessTokens(_key), _clients, _limiter, _verifier);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose()
    {
        _key.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task IssueAsync_IdGuessedFromOneAddress_CorrectSecretFromCleanAddressSucceedsAndPairStaysLocked()
    {
        var (id, secret) = await CreateClientAsync();
        for (var i = 0; i < _limiter.MaxFailures; i++)
        {
            Assert.Equal(TokenIssueStatus.InvalidClient, (await IssueAsync(id, "guess-" + i, Guesser)).Status);
        }
        Assert.Equal(TokenIssueStatus.RateLimited, (await IssueAsync(id, "guess-more", Guesser)).Status);

        var elsewhere = await IssueAsync(id, secret, Innocent);
        Assert.Equal(TokenIssueStatus.Issued, elsewhere.Status);
        Assert.NotNull(elsewhere.AccessToken);

        var locked = await IssueAsync(id, secret, Guesser);
        Assert.Equal(TokenIssueStatus.RateLimited, locked.Status);
        Assert.True(locked.RetryAfter > TimeSpan.Zero);
    }

    [Fact]
    public async Task IssueAsync_OneClientLockedOnAnAddress_AnotherClientFromThatAddressSucceeds()
    {
        var (mistyped, _) = await CreateClientAsync();
        var (neighbour, neighbourSecret) = await CreateClientAsync();
        for (var i = 0; i < _limiter.MaxFailures + 3; i++)
        {
            await IssueAsync(mistyped, "old-secret", Guesser);
        }
        Assert.Equal(TokenIssueStatus.Issued, (await IssueAsync(neighbour, neighbourSecret, Guesser)).Status);
    }

    [Fact]
    public async Task IssueAsync_AddressGuessingManyIds_IsLimitedWhileTheSameClientFromACleanAddressSucceeds()
    {
        var (id, secret) = await CreateClientAsync();
        var guesses = 0;
        for (var n = 0; guesses < _limiter.MaxAddressFailures; n++)
        {
            Assert.Equal(TokenIssueStatus.InvalidClient, (await IssueAsync("cl_guess_" + n, "x", Guesser)).Status);
            guesses++;
        }
        Assert.Equal(TokenIssueStatus.RateLimited, (await IssueAsync(id, secret, Guesser)).Status);
        Assert.Equal(TokenIssueStatus.RateLimited, (await IssueAsync("cl_guess_new", "x", Guesser)).Status);
        Assert.Equal(TokenIssueStatus.Issued, (await IssueAsync(id, secret, Innocent)).Status);
    }

    [Fact]
    public async Task IssueAsync_UnknownOrRevokedId_VerifiesAgainstADummyHashOfTheSameCost()
    {
        var (known, _) = await CreateClientAsync();
        var (revoked, revokedSecret) = await CreateClientAsync();
        await _clients.RevokeClientAsync(revoked, Timestamps.Now(), CancellationToken.None);

        Assert.Equal(TokenIssueStatus.InvalidClient, (await IssueAsync(known, "wrong", Innocent)).Status);
        var realHash = Assert.Single(_verifier.Hashes);
        Assert.Equal(TokenIssueStatus.InvalidClient, (await IssueAsync("cl_nobody", "wrong", Innocent)).Status);
        Assert.Equal(TokenIssueStatus.InvalidClient, (await IssueAsync(revoked, revokedSecret, Innocent)).Status);

        Assert.Equal(3, _verifier.Hashes.Count);
        Assert.All(_verifier.Hashes.Skip(1), dummy =>
        {
            Assert.Equal(SecretHasher.DummyHash, dummy);
            // Same algorithm and iteration count as a stored hash, so the refusal costs the same work.
            Assert.Equal(realHash.Split('$')[..2], dummy.Split('$')[..2]);
        });
    }

    private Task<TokenIssueResult> IssueAsync(string id, string secret, string address) =>
        _auth.IssueAsync(id, secret, null, address, CancellationToken.None);

    private async Task<(string Id, string Secret)> CreateClientAsync()
    {
        var id = "cl_" + Guid.NewGuid().ToString("N")[..12];
        var secret = SecretHasher.NewSecret();
        Assert.True(await _clients.CreateClientAsync(
            new OAuthClient(id, id, SecretHasher.Hash(secret), [Scopes.Worker], Timestamps.Now(), null), CancellationToken.None));
        return (id, secret);
    }

    /// <summary>The real PBKDF2 check, recording which stored hash each call verified against.</summary>
    private sealed class CountingVerifier : ISecretVerifier
    {
        public List<string> Hashes { get; } = [];

        public bool Verify(string secret, string storedHash)
        {
            lock (Hashes)
            {
                Hashes.Add(storedHash);
            }
            return SecretHasher.Verify(secret, storedHash);
        }
    }
}
